"""`stylize`: the one place that wires loading, features, the objective, the optimiser and monitoring together.

The CLI (run.py) and the notebook are thin shells around it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image

from style_transfer.core import color, files, image_io, preprocessing
from style_transfer.core.config import DEFAULT, INIT_CHOICES, StyleConfig
from style_transfer.core.errors import ConfigError, ImageError, OutputError, ResumeError
from style_transfer.core.features import FeatureExtractor, resolve_precision
from style_transfer.core.vgg_layers import pools_through
from style_transfer.optimize import callbacks as callbacks_lib
from style_transfer.optimize import checkpoints, figures, layout
from style_transfer.optimize.optimization import Callback, StyleOptimizer


@dataclasses.dataclass
class StylizeResult:
    """What `stylize` returns.

    image: float32 [1, H, W, 3] in [0, 1]. losses: each loss term's value at every step (the image before
    that step's update), e.g. `losses["total"][0]` is the starting loss; empty when steps is 0.
    seconds: wall time of the steps run by this call (steps_run of them; steps_done counts resumed ones too).
    run_dir: the TensorBoard run directory, if `config.logdir` was set.
    content_image, style_image: the inputs as the optimisation saw them at the last scale (resized, and
    with `histogram` colour matching, the colour-matched style), [1, h, w, 3]; style_images: every style.
    """

    image: np.ndarray
    losses: dict[str, list[float]]
    config: StyleConfig
    seconds: float
    run_dir: Path | None = None
    content_image: np.ndarray | None = None
    style_image: np.ndarray | None = None
    steps_done: int = 0
    steps_run: int = 0
    optimizer: StyleOptimizer | None = dataclasses.field(default=None, repr=False, compare=False)
    style_images: list[np.ndarray] = dataclasses.field(default_factory=list, repr=False)
    inputs: str = ""  # fingerprint of the pixels the optimisation was given (checkpoints.fingerprint)
    # How the features were computed, 'auto' resolved: {"network", "precision", "convolution"}.
    computed: dict = dataclasses.field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        """Whether the run stopped (on request) before `config.total_steps`."""
        return self.steps_done < self.config.total_steps

    @property
    def resumable(self) -> bool:
        """Whether `save_checkpoint` can save this run (single-scale runs only, for now)."""
        return len(self.config.scale_sizes) == 1

    def save_checkpoint(self, directory, extra=None) -> Path:
        """Writes a checkpoint to resume from with `stylize(..., resume=directory)`; returns the directory.

        `extra`: a JSON-able dict kept in the checkpoint's state (see checkpoints.read_state). Raises
        ResumeError for a multi-scale run (see `resumable`)."""
        if not self.resumable:
            raise ResumeError("a multi-scale run cannot be checkpointed yet; run it again from the start")
        return checkpoints.save(self.optimizer, directory, self.losses, inputs=self.inputs, extra=extra)

    def to_pil(self) -> Image.Image:
        return image_io.to_pil(self.image)

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Writes the image atomically (PNG text chunks record the config); returns the path."""
        return image_io.save_image(self.image, path, overwrite=overwrite, metadata=png_metadata(self.config, self.computed))

    def summary_figure(self, title: str = ""):
        """A matplotlib Figure: content | style(s) | result over the loss terms per step (log scale)."""
        styles = self.style_images or [self.style_image]
        return figures.summary_figure(self.content_image, figures.side_by_side(styles), self.image, self.losses,
                                      title=title or self.describe())

    def save_summary(self, path, *, overwrite: bool = False, title: str = "") -> Path:
        """Writes the summary figure as an image, atomically; returns the path."""
        rendered = figures.figure_to_image(self.summary_figure(title))
        return image_io.save_image(rendered, path, overwrite=overwrite,
                                   metadata=png_metadata(self.config, self.computed))

    def describe(self) -> str:
        """One line on how the result was made: steps, size, time, network, weights, how the convolutions were
        computed, the loss weights."""
        height, width = self.image.shape[1:3]
        resumed = f" ({self.steps_run} after resuming)" if self.steps_run < self.steps_done else ""
        scales = len(self.config.scale_sizes)
        per_scale = f" over {scales} scales" if scales > 1 else ""
        return (f"{self.steps_done} steps{per_scale}{resumed}, {width}x{height}, {self.seconds:.1f} s, "
                f"{self.config.network} weights {self.config.weights}{computation(self.computed)}, "
                f"content {self.config.content_weight:g} / style {self.config.style_weight:g} / "
                f"tv {self.config.tv_weight:g}")


def computation(computed: dict) -> str:
    """", float32 Winograd convolutions" for a result's `computed` record (empty when there is none)."""
    if not computed:
        return ""
    return f", {computed['precision']} {computed['convolution'].capitalize()} convolutions"


def build_extractor(config: StyleConfig) -> FeatureExtractor:
    """The feature extractor of `config`'s network, for its layers, weights, pooling and precision (reusable
    across `stylize` calls)."""
    return FeatureExtractor([*config.style_layers, *config.content_layers], weights=config.weights,
                            pooling=config.pooling, precision=requested_precision(config),
                            convolution=config.convolution, network=config.network)


def requested_precision(config: StyleConfig) -> str:
    """config.precision, except that 'auto' means float32 for L-BFGS (its line search needs exact gradients)
    and with Winograd convolutions (float32 only)."""
    if config.precision == "auto" and (config.optimizer == "lbfgs" or config.convolution == "winograd"):
        return "float32"
    return config.precision


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


def check_extractor(extractor: FeatureExtractor, config: StyleConfig) -> None:
    """ConfigError unless `extractor` computes every layer `config` uses, from the weights it names."""
    if extractor.network != config.network:
        raise ConfigError("network", f"the config asks for {config.network} but the extractor is "
                          f"{extractor.network}")
    missing = [name for name in (*config.content_layers, *config.style_layers) if name not in extractor.layer_names]
    if missing:
        raise ConfigError("extractor", f"does not compute layers {', '.join(missing)}; build it with "
                          "build_extractor(config)")
    if extractor.weights is not None and extractor.weights != config.weights:
        raise ConfigError("weights", f"the config asks for {config.weights!r} but the extractor was built with "
                          f"{extractor.weights!r}")
    if extractor.precision != resolve_precision(requested_precision(config)):
        raise ConfigError("precision", f"the config asks for {config.precision} precision but the extractor "
                          f"computes in {extractor.precision}")
    # The convolution is not checked: Winograd and direct compute the same objective to float rounding (like
    # recompute and size_bucket), so an extractor built either way serves any config.
    if extractor.pooling != config.pooling:
        raise ConfigError("pooling", f"the config asks for {config.pooling} pooling but the extractor was built "
                          f"with {extractor.pooling}")


def stylize(content, style, config: StyleConfig | None = None, *, callbacks: Sequence[Callback] = (),
            extractor: FeatureExtractor | None = None, run_name: str | None = None,
            stop: threading.Event | None = None, resume: str | Path | None = None,
            **overrides) -> StylizeResult:
    """Paints `content` in the manner of `style` (Gatys et al. 2015) and returns a StylizeResult.

    content, style: file paths, PIL images, or arrays ([H, W, 3] uint8 or float in [0, 1], or
        [1, H, W, 3]). Several styles: a list or tuple of them, or a string "a.jpg,b.jpg"; their Gram
        targets are blended (config.style_blend_weights), or with config.mask each takes its own region.
    config: a StyleConfig (default: `DEFAULT`); keyword `overrides` replace its fields, e.g.
        `stylize(a, b, steps=100, max_dim=256)`.
    callbacks: extra optimize.Callback objects (e.g. callbacks.ProgressBar(steps)).
    extractor: a FeatureExtractor from `build_extractor(config)` to reuse the network across calls (checked
        against the config: same network and weights, every layer present).
    run_name: the TensorBoard run directory's name under `config.logdir` (default: time stamp).
    stop: an Event; once set, the run ends after the current step (`result.interrupted` tells), e.g. to
        save a checkpoint with `result.save_checkpoint(directory)`.
    resume: a checkpoint directory to continue from; the config must match the checkpoint's except for
        steps and monitoring settings (ResumeError otherwise).
    Raises ConfigError, ImageError, WeightsError, OutputError or ResumeError (all ValueErrors) for bad
    inputs, and NumericalError if the optimisation diverges (its `image` is the last finite one).
    """
    config = (config or DEFAULT).replace(**overrides) if overrides else (config or DEFAULT)
    sizes = config.scale_sizes
    if resume is not None and len(sizes) > 1:
        raise ConfigError("scales", "a multi-scale run cannot be resumed yet; run it again from the start")
    pictures = read_pictures(content, style, config)
    scales = [scale_inputs(pictures, config, size) for size in sizes]  # every size checked before any work
    if extractor is None:
        extractor = build_extractor(config)
    else:
        check_extractor(extractor, config)
    # Average pooling: match max pooling's activation scale.
    extractor.calibrate(scales[-1].content, config.size_bucket)
    computed = {"network": extractor.network, "precision": extractor.precision,
                "convolution": extractor.convolution}
    logging.info("Features: %s, %s convolutions (%s)", extractor.network, extractor.precision,
                 extractor.convolution)
    history = callbacks_lib.History()
    all_callbacks: list[Callback] = [history, *callbacks]
    run_dir = None
    final = scales[-1]
    inputs = image_io.fingerprint(final.content, *final.styles,
                                     *([final.regions, final.keep] if final.regions is not None else []),
                                     *([pictures.init] if pictures.init is not None else []))
    image, steps_before, resumed_at = None, 0, 0
    for index, scale in enumerate(scales):
        if index == 0:
            init = pictures.init
            if init is not None and config.preserve_colors == "luminance":
                init = color.luminance_image(init)
            init_image = preprocessing.initial_image(config.init, scale.content, scale.styles[0], seed=config.seed,
                                                     init_noise=config.init_noise, init_picture=init)
        else:  # coarse to fine: the previous scale's result, upsampled, is the start
            init_image = preprocessing.resize(image, tuple(scale.content.shape[1:3]), antialias=True)
        # Only the last scale's image is saved as it is (a luminance is recoloured first).
        saved = index == len(scales) - 1 and config.preserve_colors != "luminance"
        optimizer = StyleOptimizer(extractor, scale.content, scale.styles, init_image, config,
                                   regions=scale.regions, keep=scale.keep, saved=saved)
        if index == 0:
            if resume is not None:
                history.losses = checkpoints.restore(optimizer, resume, inputs=inputs)
                resumed_at = optimizer.steps_done
            if config.logdir:  # only once a resume has succeeded, so a failed one leaves no empty run
                run_dir = new_run_dir(config.logdir, run_name)
                all_callbacks.append(callbacks_lib.TensorBoard(run_dir, config.total_steps,
                                                               log_every=config.log_every,
                                                               save_every=config.save_every,
                                                               computed=computed))
            for callback in all_callbacks:
                callback.on_start(optimizer.image, config)
        image = optimizer.run(config.steps, all_callbacks, stop=stop, step_offset=steps_before, notify=False)
        steps_before += optimizer.steps_done
        last_size = sizes[index]
        if stop is not None and stop.is_set():
            break
    for callback in all_callbacks:
        callback.on_end(optimizer.image)
    result_image = image.numpy()
    content_image = final.content.numpy()
    if config.preserve_colors == "luminance":  # the stylised luminance with the content's chrominance
        def colour_content(size):
            return preprocessing.resize_to_max_dim(pictures.content, size, method=config.resize).numpy()

        content_image = colour_content(config.max_dim)
        chrominance = content_image if last_size == config.max_dim else colour_content(last_size)
        result_image = color.with_chrominance(result_image, chrominance)
    return StylizeResult(image=result_image, losses=history.losses, config=config, seconds=history.seconds,
                         run_dir=run_dir, content_image=content_image, style_image=final.styles[0].numpy(),
                         steps_done=steps_before, steps_run=steps_before - resumed_at, optimizer=optimizer,
                         style_images=[style.numpy() for style in final.styles], inputs=inputs,
                         computed=computed)


def new_run_dir(logdir: str | Path, name: str | None = None) -> Path:
    """A directory under `logdir` that no earlier run used: `name` (default: a time stamp), then _2, _3...,
    numbered as taken output files are."""
    name = name or datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for numbered_name in files.numbered(name):
        candidate = Path(logdir) / numbered_name
        try:
            candidate.mkdir(parents=True)  # fails if it exists, so two runs never share a directory
            return candidate
        except FileExistsError:
            continue
        except OSError as error:
            raise OutputError(f"log directory {logdir}: cannot create {candidate} ({error.strerror or error})") from None


def png_metadata(config: StyleConfig, computed: dict | None = None) -> dict[str, str]:
    """Text chunks for a saved PNG: the software, the full config and (`computed`) how the features were
    computed with 'auto' resolved, so a result records how it was made."""
    from style_transfer import __version__

    metadata = {"Software": f"style_transfer {__version__}",
                "style_transfer:config": json.dumps(config.to_flat_dict())}
    if computed:
        metadata["style_transfer:computed"] = json.dumps(computed)
    return metadata
