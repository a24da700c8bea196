import dataclasses
import math

import pytest

from style_transfer.core.errors import ConfigError
from style_transfer.fast.apply_config import APPLY_DEFAULT, ApplyConfig, parse_style_mix


def test_the_flags_of_style_transfer_apply_are_the_configs_fields_with_its_defaults_and_help():
    from style_transfer.cli import apply

    for field in dataclasses.fields(ApplyConfig):
        flag = apply.FLAGS[field.name]
        assert flag.default == getattr(APPLY_DEFAULT, field.name), field.name
        assert flag.help.startswith(field.metadata["help"]), field.name


def test_style_mix_is_parsed_once_from_text_or_a_mapping():
    assert ApplyConfig(style_mix="starry:0.7, scream:0.3,starry:1").style_mix == {"starry": 1.7, "scream": 0.3}
    assert ApplyConfig(style_mix={0: 1, "b": 0}).style_mix == {"0": 1.0, "b": 0.0}
    assert APPLY_DEFAULT.replace(style_mix="a:1").to_flat_dict()["style_mix"] == "a:1"
    assert parse_style_mix(None) is None


@pytest.mark.parametrize("changes, field, message", [
    ({"style_mix": "a:0.5,b"}, "style_mix", "expected NAME:WEIGHT pairs with weights >= 0, e.g. "
                                            "starry:0.7,scream:0.3; got 'b'"),
    ({"style_mix": "a:-1"}, "style_mix", "got 'a:-1'"),
    ({"style_mix": ":1"}, "style_mix", "got ':1'"),
    ({"style_mix": "a:0,b:0"}, "style_mix", "the weights add up to 0"),
    ({"style_mix": ""}, "style_mix", "the weights add up to 0"),
    ({"style_mix": {"a": math.inf}}, "style_mix", "expected weights >= 0"),
    ({"style": "a", "style_mix": "a:1"}, "style", "picks one style and style_mix blends several"),
    ({"strength": 1.5}, "strength", "must be in [0, 1], got 1.5"),
    ({"max_dim": 4}, "max_dim", "must be 0 (keep each picture's size) or at least 5, got 4"),
    ({"batch_size": 0}, "batch_size", "must be at least 1, got 0"),
    ({"max_megapixels": math.inf}, "max_megapixels", "must be a number > 0, got inf"),
    ({"precision": "float16"}, "precision", "must be one of auto, float32, bfloat16"),
    ({"preserve_colors": "histogram"}, "preserve_colors", "must be one of none, luminance"),
])
def test_a_config_that_cannot_be_applied_cannot_exist(changes, field, message):
    with pytest.raises(ConfigError) as raised:
        APPLY_DEFAULT.replace(**changes)
    assert raised.value.field == field and message in raised.value.message


def test_max_pixels_follows_max_megapixels():
    assert ApplyConfig(max_megapixels=2.5).max_pixels == 2_500_000
