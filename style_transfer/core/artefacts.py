"""Statistics of a result's pixels that catch artefacts the objective does not see."""

from __future__ import annotations

import numpy as np

from style_transfer.core import image_io


def flat_pair_fraction(image) -> float:
    """The fraction of horizontally and vertically neighbouring pixel pairs of `image` ([1, H, W, 3] or
    [H, W, 3] float in [0, 1], or uint8) that are exactly equal in all three channels once stored in 8 bits.

    It measures the flat blocks and steps ('staircasing') that L1 total variation leaves as an optimisation
    converges: a painterly result shades from pixel to pixel, so few neighbours are identical, while a
    result made of 2-4 px blocks has a quarter or more of its pairs identical.
    """
    pixels = np.asarray(image)
    pixels = pixels[0] if pixels.ndim == 4 else pixels
    if pixels.dtype != np.uint8:
        pixels = image_io.to_uint8(pixels)  # what saving stores
    across = np.all(pixels[:, 1:] == pixels[:, :-1], axis=-1)
    down = np.all(pixels[1:] == pixels[:-1], axis=-1)
    return float((across.sum() + down.sum()) / (across.size + down.size))
