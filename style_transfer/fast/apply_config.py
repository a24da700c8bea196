"""Every default of applying a trained network to pictures, in one frozen dataclass (`ApplyConfig`).

cli/apply.py generates one flag per field, as run.py does for StyleConfig and train_fast.py for TrainConfig;
what names the inputs and outputs of one invocation (--model, --content, --output, --output_dir, --overwrite,
--progress) stays with the command line, as it does for the other two commands.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

from style_transfer.core.config import APPLY_PRESERVE_COLORS_CHOICES, DEFAULT, PRECISION_CHOICES
from style_transfer.core.errors import ConfigError
from style_transfer.core.fields import ConfigMethods, check, config_field, normalize_fields
from style_transfer.fast.fast_layout import MIN_SIDE

_STYLE_HELP = {field.name: field.metadata["help"] for field in dataclasses.fields(DEFAULT)}


@dataclasses.dataclass(frozen=True)
class ApplyConfig(ConfigMethods):
    """How a trained network stylises pictures: which style, how much of it, at what size and arithmetic."""

    # The style.
    style: str | None = config_field(None, "For a network of several styles: the style to paint, by name (or the "
                                     "start of one) or index (from 0); default the first. Results are then named "
                                     "<picture>_<model>_<style>.png.")
    style_mix: dict | None = config_field(None, "For a network of several styles: a blend, as NAME:WEIGHT pairs "
                                          "(names or indices; weights >= 0, scaled to sum to 1), e.g. "
                                          "starry:0.7,scream:0.3. Results are named <picture>_<model>_mix.png.")
    strength: float = config_field(1.0, "How much of the style to apply, from 0 (the photograph unchanged) to 1 "
                                   "(the network's full style); in between, the mix of the photograph and the "
                                   "full result.")
    preserve_colors: str = config_field("none", "'luminance' keeps the photograph's colours: the result's luminance "
                                        "with the photograph's chrominance (YIQ), as style-transfer "
                                        "--preserve_colors luminance combines them.", APPLY_PRESERVE_COLORS_CHOICES)
    # Input pictures.
    max_dim: int = config_field(0, "Resize each picture (antialiased) so its longest side is this many pixels "
                                "before stylising it; 0 keeps each picture's size. The result has the stylised "
                                "size.")
    max_megapixels: float = config_field(DEFAULT.max_megapixels, _STYLE_HELP["max_megapixels"])
    # Videos (docs/video.md).
    temporal_weight: float = config_field(0.9, "For a video: blend each result with the previous one, moved along "
                                          "the optical flow of the input frames, by this much where the flow is "
                                          "reliable (0: each frame on its own, up to 1: strokes never renewed), "
                                          "keeping the strokes' contrast; less flicker.")
    resume: bool = config_field(False, "For a video: continue the unfinished run of this result (kept in "
                                "<result>.mp4.partial/ when it was stopped) from its next frame.")
    # Speed.
    batch_size: int = config_field(1, "How many pictures of the same size go through the network at once. On a "
                                   "CPU one is fastest (a single picture's normalisation runs as one fused "
                                   "operation); on a GPU larger batches help.")
    precision: str = config_field("auto", "Arithmetic of the network: 'bfloat16' is faster on CPUs with "
                                  "AVX512_BF16 or AMX, and slightly less exact; 'auto' picks it on such CPUs when "
                                  "there is no GPU, else float32 (on a GPU, ask for bfloat16 yourself).",
                                  PRECISION_CHOICES)

    def __post_init__(self):
        # Before normalize_fields, which would call an infinite limit "not a finite number".
        if isinstance(self.max_megapixels, (int, float)) and not isinstance(self.max_megapixels, bool):
            check(0 < self.max_megapixels < math.inf, "max_megapixels",
                  f"must be a number > 0, got {self.max_megapixels}")
        normalize_fields(self)
        check(self.batch_size >= 1, "batch_size", f"must be at least 1, got {self.batch_size}")
        check(self.max_dim == 0 or self.max_dim >= MIN_SIDE, "max_dim", f"must be 0 (keep each picture's size) or at "
              f"least {MIN_SIDE}, got {self.max_dim}")
        check(0.0 <= self.strength <= 1.0, "strength", f"must be in [0, 1], got {self.strength:g}")
        check(0.0 <= self.temporal_weight <= 1.0, "temporal_weight", f"must be in [0, 1], got "
              f"{self.temporal_weight:g}")
        check(self.style is None or isinstance(self.style, (str, int)), "style",
              f"must be a name or an index, got {self.style!r}")
        object.__setattr__(self, "style_mix", parse_style_mix(self.style_mix))
        check(self.style is None or self.style_mix is None, "style",
              "picks one style and style_mix blends several: give one of them")

    @property
    def max_pixels(self) -> int:
        """max_megapixels as a number of pixels, as image_io takes it."""
        return int(self.max_megapixels * 1e6)


def parse_style_mix(spec: Any) -> dict[str, float] | None:
    """A blend of styles as {name or index: weight}, from "NAME:WEIGHT,NAME:WEIGHT" or a mapping; the weights
    of a name given twice add up. None stays None. ConfigError (style_mix) for a pair that is not NAME:WEIGHT
    with 0 <= WEIGHT < inf, or weights adding up to 0."""
    if spec is None:
        return None
    if isinstance(spec, str):
        items = []
        for pair in spec.split(",") if spec.strip() else []:
            name, _, weight = pair.strip().rpartition(":")
            try:
                value = float(weight)
            except ValueError:
                value = math.nan
            if not name or not 0 <= value < math.inf:
                raise ConfigError("style_mix", f"expected NAME:WEIGHT pairs with weights >= 0, e.g. "
                                  f"starry:0.7,scream:0.3; got {pair.strip()!r}")
            items.append((name, value))
        spec = items
    elif isinstance(spec, Mapping):
        spec = list(spec.items())
    else:
        raise ConfigError("style_mix", f"expected NAME:WEIGHT pairs or a mapping, got {spec!r}")
    mix: dict[str, float] = {}
    for name, weight in spec:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < math.inf:
            raise ConfigError("style_mix", f"expected weights >= 0, got {weight!r} for {name!r}")
        mix[str(name)] = mix.get(str(name), 0.0) + float(weight)
    if not sum(mix.values()) > 0:
        raise ConfigError("style_mix", "the weights add up to 0; give at least one weight above 0")
    return mix


APPLY_DEFAULT = ApplyConfig()
