"""The inputs of a run: the pictures read once (content, styles, mask, init) and what each scale sees of them.

Split from api.py, which keeps the wiring of a run: reading and resizing pictures change for reasons of their
own (formats, sizes, colour options).
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from style_transfer.core import color, image_io, preprocessing
from style_transfer.core.config import INIT_CHOICES, StyleConfig
from style_transfer.core.vgg_layers import pools_through
from style_transfer.core.errors import ConfigError, ImageError
from style_transfer.optimize import layout


@dataclasses.dataclass
class Pictures:
    """The input pictures as loaded, at their own sizes: float32 [1, H, W, 3] in [0, 1] (mask [1, H, W, 2])."""

    content: np.ndarray
    styles: list[np.ndarray]
    mask: np.ndarray | None = None
    init: np.ndarray | None = None
    names: dict = dataclasses.field(default_factory=dict)  # role -> how to name it in an error


@dataclasses.dataclass
class Scale:
    """What the optimisation sees at one scale: content and styles resized (and colour-transformed), the
    mask's regions ([N, h, w, 1]) and kept pixels ([1, h, w, 1]) at the content's size."""

    content: tf.Tensor
    styles: list[tf.Tensor]
    regions: tf.Tensor | None = None
    keep: tf.Tensor | None = None


def style_sources(style) -> list:
    """`style` as a list of sources: a list or tuple holds several; a str naming no file may be "a.jpg,b.jpg"."""
    if isinstance(style, (list, tuple)):
        return list(style)
    return layout.split_styles(style) if isinstance(style, str) else [style]


def read_pictures(content, style, config: StyleConfig) -> Pictures:
    """Loads the content, the style(s), the mask and an init picture; ImageError or ConfigError if unusable."""
    max_pixels = int(config.max_megapixels * 1e6)
    styles = style_sources(style)
    if not styles or any(isinstance(source, str) and not source for source in styles):
        raise ConfigError("style", f"expected one picture or several as A,B; got {style!r}")
    if config.style_blend_weights and len(config.style_blend_weights) != len(styles):
        raise ConfigError("style_blend_weights", f"{len(config.style_blend_weights)} weights for {len(styles)} "
                          f"style{'s' if len(styles) > 1 else ''}; give one weight per style")
    if config.mask and config.style_blend_weights:
        raise ConfigError("style_blend_weights", "does not apply with a mask, where each region takes one style")

    def load(source, size: int, any_aspect: bool = False):
        return image_io.load_image(source, jpeg_dct=config.jpeg_dct, max_pixels=max_pixels,
                                   max_dim=decode_size(source, size, config, any_aspect))

    # Pictures are decoded for the largest scale: the content at max_dim, a style at its own size (and,
    # as the start of --init style, at the content's shape), an init picture at the content's shape.
    style_size = round(config.max_dim * config.style_scale)
    if config.style_max_dim:
        style_size = min(style_size, config.style_max_dim)
    names = {"content": _name(content, "the content image")}
    starts = [config.init == "style"] + [False] * (len(styles) - 1)
    pictures = Pictures(content=load(content, config.max_dim),
                        styles=[load(source, max(style_size, config.max_dim), any_aspect=True) if start
                                else load(source, style_size) for source, start in zip(styles, starts)],
                        names=names)
    names.update({f"style{index}": _name(source, f"style image {index + 1}") for index, source in enumerate(styles)})
    if config.mask:
        mask_max_dim = decode_size(config.mask, config.max_dim, config)
        pictures.mask = image_io.load_mask(config.mask, max_pixels=max_pixels, max_dim=mask_max_dim)
        # Compared at the files' own sizes: either may have been reduced while decoding.
        (content_width, content_height), (mask_width, mask_height) = (
            image_io.picture_size(content), image_io.picture_size(config.mask))
        # The mask's height at the content's width; a pixel of rounding is allowed, however elongated.
        scaled_height = mask_height * content_width / mask_width
        if abs(scaled_height - content_height) > max(1.0, 0.02 * content_height):
            raise ImageError(f"{config.mask}: the mask is {mask_width}x{mask_height}, the content "
                             f"{content_width}x{content_height}: a mask must have the content picture's aspect ratio")
    if config.init not in INIT_CHOICES:
        if not Path(config.init).exists():
            raise ConfigError("init", f"must be {', '.join(INIT_CHOICES)} or the path of a picture; there is no "
                              f"file {config.init!r}")
        pictures.init = load(config.init, config.max_dim, any_aspect=True)
    return pictures


# The tutorial's plain bilinear resize samples the full-size pixels, so with resize 'tutorial' pictures up to
# this size are decoded whole, as the tutorial decodes them; larger ones are reduced like any other.
TUTORIAL_WHOLE_PIXELS = 16_000_000


def decode_size(source, size: int, config: StyleConfig, any_aspect: bool = False) -> int | None:
    """The longest side to decode a picture file at (image_io.load_image's max_dim) for a resize to longest
    side `size`; with `any_aspect`, for a resize to any shape within size x size (the content's). None: whole."""
    if not isinstance(source, (str, os.PathLike)):
        return None  # already decoded
    width, height = image_io.picture_size(source, max_pixels=int(config.max_megapixels * 1e6))
    if config.resize == "tutorial" and width * height <= TUTORIAL_WHOLE_PIXELS:
        return None
    # Squeezed into the content's shape, the picture's short side may shrink least.
    return math.ceil(size * max(width, height) / min(width, height)) if any_aspect else size


def _name(source, fallback: str) -> str:
    return str(source) if isinstance(source, (str, Path)) else fallback


def scale_inputs(pictures: Pictures, config: StyleConfig, size: int) -> Scale:
    """The inputs at one scale (longest side `size`); ImageError if a picture is too small there."""
    minimum = smallest_side(config)
    style_size = round(size * config.style_scale)
    if config.style_max_dim:
        style_size = min(style_size, config.style_max_dim)
    content = _resized(pictures.content, size, minimum, config, pictures.names["content"], "max_dim")
    styles = [_resized(style, style_size, minimum, config, pictures.names[f"style{index}"], "style size")
              for index, style in enumerate(pictures.styles)]
    if config.preserve_colors == "histogram":
        styles = [tf.constant(color.match_color_statistics(style, content)) for style in styles]
    elif config.preserve_colors == "luminance":
        styles = [tf.constant(color.luminance_image(style, like=content)) for style in styles]
        content = tf.constant(color.luminance_image(content))
    scale = Scale(content=content, styles=styles)
    if pictures.mask is not None:
        scale.regions, scale.keep = preprocessing.mask_regions(pictures.mask, len(styles), tuple(content.shape[1:3]))
    return scale


def _resized(image, size: int, minimum: int, config: StyleConfig, name: str, what: str) -> tf.Tensor:
    resized = preprocessing.resize_to_max_dim(image, size, method=config.resize)
    height, width = resized.shape[1:3]
    if min(height, width) < minimum:
        aspect = max(image.shape[1:3]) / min(image.shape[1:3])
        needed = math.ceil(minimum * aspect)
        if len(config.scale_sizes) > 1:
            hint = f"use fewer scales or a larger max_dim (this picture needs at least {needed} px at every scale)"
        elif what == "max_dim":
            hint = f"use a max_dim of at least {needed} for this picture"
        else:
            hint = f"raise style_scale or style_max_dim so its longest side is at least {needed} px"
        raise ImageError(f"{name}: {width}x{height} at {what} {size} is too small for the layers used, which "
                         f"need at least {minimum} px on the short side; {hint}")
    return resized


def load_inputs(content, style, config: StyleConfig) -> tuple[tf.Tensor, tf.Tensor]:
    """Content and (first) style as float32 [1, H, W, 3] in [0, 1], as the last scale's optimisation sees them.

    `content` and `style` may be paths, PIL images or arrays (see image_io.load_image). Raises ImageError
    if a picture is unreadable, or so small or so elongated after resizing that the deepest VGG19 layer
    used would have no pixels left.
    """
    scale = scale_inputs(read_pictures(content, style, config), config, config.max_dim)
    return scale.content, scale.styles[0]


def smallest_side(config: StyleConfig) -> int:
    """Fewest pixels on an image's short side for the deepest layer in `config` to keep at least one."""
    # Every 2x2 max-pool up to and including the deepest layer halves the side.
    return 2 ** max(pools_through(name) for name in {*config.content_layers, *config.style_layers})
