import dataclasses
import math

import pytest

from style_transfer.core import config as config_lib
from style_transfer.core.config import StyleConfig
from style_transfer.core.errors import ConfigError

TUTORIAL_STYLE_LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]


def test_tutorial_preset_is_the_published_tutorial():
    tutorial = config_lib.preset("tutorial")
    assert tutorial.content_layers == {"block5_conv2": 1.0}
    assert list(tutorial.style_layers) == TUTORIAL_STYLE_LAYERS
    assert set(tutorial.style_layers.values()) == {1.0}
    assert (tutorial.style_weight, tutorial.content_weight, tutorial.tv_weight) == (1e-2, 1e4, 30)
    assert (tutorial.learning_rate, tutorial.beta_1, tutorial.beta_2, tutorial.epsilon) == (0.02, 0.99, 0.999, 0.1)
    assert (tutorial.init, tutorial.max_dim, tutorial.steps) == ("content", 512, 1000)
    assert (tutorial.resize, tutorial.jpeg_dct) == ("tutorial", "fast")
    assert (tutorial.schedule, tutorial.warmup_steps, tutorial.precision) == ("constant", 0, "float32")
    assert tutorial.grid_steps == 0


def test_defaults_keep_the_tutorials_objective_but_smooth_its_total_variation_and_schedule_adam_otherwise():
    default, tutorial = config_lib.preset("default"), config_lib.preset("tutorial")
    differing = {f.name for f in dataclasses.fields(StyleConfig) if getattr(default, f.name) != getattr(tutorial, f.name)}
    assert differing == {"resize", "jpeg_dct", "steps", "learning_rate", "beta_1", "beta_2", "schedule",
                         "warmup_steps", "precision", "tv_smoothing"}
    assert (default.steps, default.beta_1, default.beta_2, default.precision) == (380, 0.9, 0.9, "auto")
    assert (default.schedule, default.cooldown_fraction, default.warmup_steps) == ("cooldown", 0.4, 20)
    assert (default.learning_rate, default.final_learning_rate) == (0.03, 0.0005)
    assert (default.tv_smoothing, tutorial.tv_smoothing, default.grid_steps) == (0.03, 0.0, 0)
    assert default.network == tutorial.network == "vgg19"


@pytest.mark.parametrize("spec, expected", [
    ("block5_conv2", {"block5_conv2": 1.0}),
    ("block1_conv1:1, block2_conv1:0.5", {"block1_conv1": 1.0, "block2_conv1": 0.5}),
    (["block3_conv1", "block4_conv1"], {"block3_conv1": 1.0, "block4_conv1": 1.0}),
    ({"block4_conv2": 2}, {"block4_conv2": 2.0}),
])
def test_layer_specs_normalise_to_name_weight_dicts(spec, expected):
    assert StyleConfig(style_layers=spec).style_layers == expected
    assert config_lib.parse_layer_weights(config_lib.format_layer_weights(expected), "x", "vgg19") == expected


@pytest.mark.parametrize("spec, message", [
    ("block9_conv1", "vgg19 has no layer 'block9_conv1'"),
    ("block1_conv1:abc", "malformed weight 'abc'"),
    ("block1_conv1,,block2_conv1", "empty entry"),
    ("block1_conv1,block1_conv1", "listed twice"),
    ("block1_conv1:-1", "must be a finite number >= 0"),
    ("block1_conv1:0", "must not all be zero"),
    ("block1_conv1:nan", "must be a finite number >= 0"),
    ([], "at least one layer"),
])
def test_bad_layer_specs_name_the_field(spec, message):
    with pytest.raises(ConfigError, match=message) as raised:
        StyleConfig(content_layers=spec)
    assert raised.value.field == "content_layers"


@pytest.mark.parametrize("changes, field", [
    ({"steps": -1}, "steps"), ({"steps": 1.5}, "steps"), ({"max_dim": 8}, "max_dim"),
    ({"max_dim": 0}, "max_dim"), ({"learning_rate": 0}, "learning_rate"), ({"beta_1": 1.0}, "beta_1"),
    ({"epsilon": 0}, "epsilon"), ({"content_weight": -1}, "content_weight"),
    ({"style_weight": math.nan}, "style_weight"), ({"tv_weight": math.inf}, "tv_weight"),
    ({"init": ""}, "init"), ({"init_noise": 1.5}, "init_noise"), ({"scales": "0"}, "scales"), ({"pooling": "min"}, "pooling"), ({"jpeg_dct": "slow"}, "jpeg_dct"), ({"log_every": 0}, "log_every"),
    ({"save_every": -2}, "save_every"), ({"seed": -1}, "seed"), ({"resize": "nearest"}, "resize"),
    ({"weights": ""}, "weights"), ({"colour": 1}, "colour"), ({"schedule": "step"}, "schedule"),
    ({"schedule": "cosine", "final_learning_rate": 0}, "final_learning_rate"),
    ({"schedule": "cosine", "learning_rate": 0.01, "final_learning_rate": 0.02}, "final_learning_rate"),
    ({"cooldown_fraction": 0}, "cooldown_fraction"), ({"cooldown_fraction": 1.5}, "cooldown_fraction"),
    ({"warmup_steps": -1}, "warmup_steps"), ({"size_bucket": -16}, "size_bucket"),
    ({"grid_steps": -1}, "grid_steps"), ({"grid_strength": -1.0}, "grid_strength"),
])
def test_invalid_values_are_refused_naming_the_field(changes, field):
    with pytest.raises(ConfigError) as raised:
        config_lib.DEFAULT.replace(**changes)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


def test_numbers_are_stored_as_floats_and_the_config_is_frozen():
    config = StyleConfig(style_weight=1, tv_weight=0)
    assert isinstance(config.style_weight, float) and isinstance(config.tv_weight, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 3


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown preset 'fast'; known presets: default, tutorial"):
        config_lib.preset("fast")


@pytest.mark.parametrize("weights", ["random", "random:7", "imagenet", "random.h5", "my/random:1.h5"])
def test_weights_accept_the_three_kinds(weights):
    assert StyleConfig(weights=weights).weights == weights


def test_a_random_seed_that_is_not_a_number_is_refused():
    with pytest.raises(ConfigError, match="seed after 'random:' must be a non-negative integer"):
        StyleConfig(weights="random:abc")


def test_layer_weights_are_read_only_so_validation_cannot_be_bypassed():
    config = StyleConfig()
    with pytest.raises(TypeError):
        config.style_layers["block1_conv1"] = -5.0
    assert config_lib.DEFAULT.style_layers["block1_conv1"] == 1.0


def test_numpy_scalars_and_paths_are_accepted_as_plain_values(tmp_path):
    import numpy as np

    config = StyleConfig(steps=np.int64(5), learning_rate=np.float32(0.5), logdir=tmp_path, weights=tmp_path / "w.h5")
    assert (config.steps, config.learning_rate) == (5, 0.5) and type(config.steps) is int
    assert config.logdir == str(tmp_path) and config.weights == str(tmp_path / "w.h5")


def test_flat_dict_holds_only_scalars_and_round_trips_layers():
    flat = config_lib.DEFAULT.to_flat_dict()
    assert set(flat) == {f.name for f in dataclasses.fields(StyleConfig)}
    assert all(isinstance(value, (bool, int, float, str)) for value in flat.values())
    assert StyleConfig(style_layers=flat["style_layers"]).style_layers == config_lib.DEFAULT.style_layers


@pytest.mark.parametrize("scales, max_dim, sizes", [
    ("1", 512, (512,)), (3, 512, (128, 256, 512)), ("2", 100, (50, 100)), ("256, 512", 512, (256, 512)),
    ([300, 1000], 1000, (300, 1000)), ("512", 512, (512,)),
])
def test_scales_are_a_count_or_a_list_ending_at_max_dim(scales, max_dim, sizes):
    config = StyleConfig(scales=scales, max_dim=max_dim, steps=10)
    assert config.scale_sizes == sizes and config.total_steps == 10 * len(sizes)


@pytest.mark.parametrize("scales, message", [
    ("0", "number of scales must be 1 to 8"), ("7", "down to 8 px"), ("256,128", "must increase"),
    ("256,1024", "must equal max_dim \\(512\\), got 1024; set --max_dim 1024"), ("a,b", "comma-separated ints"),
    ("8,512", "at least 16 px"), ("9", "at least 16 px, got 9 \\(a number up to 8 counts scales\\)"),
])
def test_bad_scales_are_refused(scales, message):
    with pytest.raises(ConfigError, match=message) as raised:
        StyleConfig(scales=scales)
    assert raised.value.field == "scales"


def test_blend_weights_parse_from_text_and_are_checked():
    assert StyleConfig(style_blend_weights="3, 7").style_blend_weights == (3.0, 7.0)
    assert StyleConfig(style_blend_weights=[1, 2]).to_flat_dict()["style_blend_weights"] == "1,2"
    for bad in ("1,-1", "0,0", "x"):
        with pytest.raises(ConfigError) as raised:
            StyleConfig(style_blend_weights=bad)
        assert raised.value.field == "style_blend_weights"


def test_lbfgs_refuses_bfloat16_but_auto_means_float32_for_it():
    with pytest.raises(ConfigError, match="precision: bfloat16 gradients are too coarse for L-BFGS-B"):
        StyleConfig(optimizer="lbfgs", precision="bfloat16")
    from style_transfer.optimize import api

    assert api.requested_precision(StyleConfig(optimizer="lbfgs", precision="auto")) == "float32"
    assert api.requested_precision(StyleConfig(optimizer="adam", precision="auto")) == "auto"
