"""From loaded pictures to the tensors the optimisation starts from: resizing and the initial image.

All images here are float32 RGB in [0, 1], shape [1, H, W, 3].
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def target_size(height: int, width: int, max_dim: int, *, tutorial: bool = False) -> tuple[int, int]:
    """(height, width) with the longest side scaled to `max_dim` and the aspect ratio kept (>= 1 pixel).

    `tutorial=True` computes it as the tutorial does, float32 scale then truncation, which reproduces its
    sizes exactly but can leave the longest side at max_dim - 1 (979 * (1000 / 979) = 999.99994 -> 999).
    Otherwise the longest side is exactly `max_dim` and the other is rounded.
    """
    if tutorial:
        shape = np.array([height, width], np.float32)
        new_height, new_width = (shape * (np.float32(max_dim) / shape.max())).astype(np.int32)
    else:
        scale = max_dim / max(height, width)
        new_height = max_dim if height >= width else round(height * scale)
        new_width = max_dim if width > height else round(width * scale)
    return max(int(new_height), 1), max(int(new_width), 1)


def resize(image, size: tuple[int, int], *, antialias: bool) -> tf.Tensor:
    """Bilinear resize of a [1, H, W, 3] image to `size` = (height, width)."""
    resized = tf.image.resize(tf.convert_to_tensor(image, tf.float32), size, method="bilinear",
                              antialias=antialias)
    # Antialiased (triangle-kernel) resampling can overshoot [0, 1] by rounding; the tutorial's plain
    # bilinear cannot, so clipping leaves the tutorial preset's pixels untouched.
    return tf.clip_by_value(resized, 0.0, 1.0) if antialias else resized


def resize_to_max_dim(image, max_dim: int, *, method: str = "antialias") -> tf.Tensor:
    """Resizes a [1, H, W, 3] image so its longest side is `max_dim`, up or down (as the tutorial).

    method: "antialias" (antialiased bilinear, exact size) or "tutorial" (plain bilinear, tutorial's size).
    """
    height, width = image.shape[1:3]
    tutorial = method == "tutorial"
    size = target_size(height, width, max_dim, tutorial=tutorial)
    return resize(image, size, antialias=not tutorial)


def initial_image(init: str, content_image: tf.Tensor, style_image: tf.Tensor, *, seed: int) -> tf.Tensor:
    """The image the optimisation starts from, shaped like `content_image`.

    `content`: the content image (the tutorial); `noise`: uniform noise in [0, 1) from `seed` (Gatys et al.
    start from white noise); `style`: the style image resized to the content's size.
    """
    if init == "content":
        return tf.identity(content_image)
    if init == "noise":
        noise = np.random.default_rng(seed).random(content_image.shape, dtype=np.float32)
        return tf.constant(noise)
    if init == "style":
        return resize(style_image, tuple(content_image.shape[1:3]), antialias=True)
    raise ValueError(f"unknown init {init!r}")
