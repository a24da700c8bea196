"""From loaded pictures to the tensors the optimisation starts from: resizing and the initial image.

All images here are float32 RGB in [0, 1], shape [1, H, W, 3].
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from style_transfer.core.config import DEFAULT


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


def resize_to_max_dim(image, max_dim: int, *, method: str = DEFAULT.resize) -> tf.Tensor:
    """Resizes a [1, H, W, 3] image so its longest side is `max_dim`, up or down (as the tutorial).

    method: "antialias" (antialiased bilinear, exact size) or "tutorial" (plain bilinear, tutorial's size).
    """
    height, width = image.shape[1:3]
    tutorial = method == "tutorial"
    size = target_size(height, width, max_dim, tutorial=tutorial)
    return resize(image, size, antialias=not tutorial)


def initial_image(init: str, content_image: tf.Tensor, style_image: tf.Tensor, *, seed: int,
                  init_noise: float = DEFAULT.init_noise, init_picture=None) -> tf.Tensor:
    """The image the optimisation starts from, shaped like `content_image`.

    `content`: the content image (the tutorial); `noise`: uniform noise in [0, 1) from `seed` (Gatys et al.
    start from white noise); `style`: the style image resized to the content's size; anything else names a
    picture, given loaded as `init_picture` ([1, H, W, 3] in [0, 1]) and resized likewise. `init_noise`
    blends in that fraction of the same seeded noise: (1 - r) * start + r * noise.
    """
    def noise():
        return tf.constant(np.random.default_rng(seed).random(content_image.shape, dtype=np.float32))

    if init == "content":
        start = tf.identity(content_image)
    elif init == "noise":
        return noise()
    elif init == "style":
        start = resize(style_image, tuple(content_image.shape[1:3]), antialias=True)
    elif init_picture is not None:
        start = resize(init_picture, tuple(content_image.shape[1:3]), antialias=True)
    else:
        raise ValueError(f"init {init!r} names a picture, but none was given")
    if init_noise == 0:
        return start
    return (1.0 - init_noise) * start + init_noise * noise()


def mask_regions(mask, styles: int, size: tuple[int, int]) -> tuple[tf.Tensor, tf.Tensor]:
    """Turns a mask ([1, H, W, 2]: grey level and opacity, from image_io.load_mask) into soft regions.

    With N >= 2 styles, grey levels from black to white select styles 1..N (each pixel the nearest of N
    evenly spaced levels: black and white for two); with one style, white (>= 0.5) is styled and black keeps
    the content. Transparent pixels (opacity < 0.5) keep the content. The one-hot labels are resized to
    `size` (height, width) with antialiasing, so region borders are soft. Returns (regions [N, h, w, 1],
    keep [1, h, w, 1]), which sum to 1 at every pixel.
    """
    grey, opaque = mask[0, ..., 0], mask[0, ..., 1] >= 0.5
    if styles == 1:
        labels = np.where(grey >= 0.5, 0, 1)
    else:
        labels = np.rint(grey * (styles - 1)).astype(np.int64)
    labels = np.where(opaque, labels, styles)  # label N: keep the content
    one_hot = (labels[None, ..., None] == np.arange(styles + 1)[:, None, None, None]).astype(np.float32)
    resized = resize_regions(one_hot, size)
    return resized[:styles], resized[styles:]


def resize_regions(regions, size: tuple[int, int]) -> tf.Tensor:
    """[R, H, W, 1] region masks resized to `size` with antialiasing (area-like averaging), in [0, 1]."""
    resized = tf.clip_by_value(
        tf.image.resize(tf.convert_to_tensor(regions, tf.float32), size, method="bilinear", antialias=True), 0.0, 1.0)
    # Inside a region the filter's weights sum to 1 only up to rounding; snap so kept pixels stay exact.
    return tf.where(resized > 1 - 1e-5, 1.0, tf.where(resized < 1e-5, 0.0, resized))
