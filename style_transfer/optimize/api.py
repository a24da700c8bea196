"""`stylize`: the one place that wires loading, features, the objective, the optimiser and monitoring together.

The CLI (run.py) and the notebook are thin shells around it.
"""

from __future__ import annotations

import datetime
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from style_transfer.core import color, files, image_io, preprocessing
from style_transfer.core.config import DEFAULT, StyleConfig
from style_transfer.core.errors import ConfigError, OutputError
from style_transfer.core.features import FeatureExtractor, resolve_precision
from style_transfer.optimize import callbacks as callbacks_lib
from style_transfer.optimize import checkpoints
from style_transfer.optimize.optimization import Callback, StyleOptimizer
# Re-exported: the inputs and the result lived here before api.stylize was split along its jobs.
from style_transfer.optimize.inputs import (TUTORIAL_WHOLE_PIXELS, Pictures, Scale, decode_size,  # noqa: F401
                                            load_inputs, read_pictures, scale_inputs, smallest_side,
                                            style_sources)
from style_transfer.optimize.result import StylizeResult, computation, png_metadata  # noqa: F401


# Below this longest side 'auto' convolution means direct: Winograd's set-up, XLA compiling its transforms
# (about 9 s), is not repaid within a run, and on the smallest pictures its steps are slower as well.
WINOGRAD_MIN_SIDE = 128


def build_extractor(config: StyleConfig) -> FeatureExtractor:
    """The feature extractor of `config`'s network, for its layers, weights, pooling and precision (reusable
    across `stylize` calls)."""
    return FeatureExtractor([*config.style_layers, *config.content_layers], weights=config.weights,
                            pooling=config.pooling, precision=requested_precision(config),
                            convolution=requested_convolution(config), network=config.network)


def requested_convolution(config: StyleConfig) -> str:
    """config.convolution, except that 'auto' means direct for pictures smaller than WINOGRAD_MIN_SIDE
    (elsewhere 'auto' is left for the extractor to resolve on this machine)."""
    if config.convolution == "auto" and config.max_dim < WINOGRAD_MIN_SIDE:
        return "direct"
    return config.convolution


def requested_precision(config: StyleConfig) -> str:
    """config.precision, except that 'auto' means float32 for L-BFGS (its line search needs exact gradients)
    and with Winograd convolutions (float32 only)."""
    if config.precision == "auto" and (config.optimizer == "lbfgs" or config.convolution == "winograd"):
        return "float32"
    return config.precision


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
            init_image: np.ndarray | tf.Tensor | None = None,
            temporal: tuple[np.ndarray | tf.Tensor, np.ndarray | tf.Tensor] | None = None,
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
    init_image: the image to start from instead of `config.init`'s, float32 [1, h, w, 3] in [0, 1], resized
        to the (first scale's) content size if it differs; for a video frame, the previous result warped
        onto it (video.stylize_video).
    temporal: for a video frame after the first, (warped_previous [1, H, W, 3] in [0, 1], reliable
        [1, H, W, 1] in [0, 1]) at the content's size: a temporal term weighted `config.temporal_weight`
        holds the image to the previous result where the flow is reliable (Ruder et al. 2016). Single-scale
        runs only (ConfigError).
    Raises ConfigError, ImageError, WeightsError, OutputError or ResumeError (all ValueErrors) for bad
    inputs, and NumericalError if the optimisation diverges (its `image` is the last finite one).
    """
    config = (config or DEFAULT).replace(**overrides) if overrides else (config or DEFAULT)
    sizes = config.scale_sizes
    if resume is not None and len(sizes) > 1:
        raise ConfigError("scales", "a multi-scale run cannot be resumed yet; run it again from the start")
    if temporal is not None and len(sizes) > 1:
        raise ConfigError("scales", "video frames are stylised at one scale; use --scales 1")
    if temporal is not None and config.preserve_colors == "luminance":
        raise ConfigError("preserve_colors", "'luminance' does not apply to video frames with a temporal loss; "
                          "use 'histogram' or 'none'")
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
                                     *([pictures.init] if pictures.init is not None else []),
                                     *([init_image] if init_image is not None else []),
                                     *(temporal if temporal is not None else []))
    image, steps_before, resumed_at = None, 0, 0
    for index, scale in enumerate(scales):
        if index == 0:
            start = starting_image(config, pictures, scale, init_image)
        else:  # coarse to fine: the previous scale's result, upsampled, is the start
            start = preprocessing.resize(image, tuple(scale.content.shape[1:3]), antialias=True)
        # Only the last scale's image is saved as it is (a luminance is recoloured first).
        saved = index == len(scales) - 1 and config.preserve_colors != "luminance"
        optimizer = StyleOptimizer(extractor, scale.content, scale.styles, start, config,
                                   regions=scale.regions, keep=scale.keep, saved=saved,
                                   temporal=temporal if index == len(scales) - 1 else None)
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


def starting_image(config: StyleConfig, pictures, scale, init_image=None) -> tf.Tensor:
    """The first scale's starting image: `init_image` resized to the scale's content if given, else
    `config.init`'s (the content, noise, the style or a picture)."""
    if init_image is not None:
        init_image = tf.convert_to_tensor(init_image, tf.float32)
        if init_image.shape.rank != 4 or init_image.shape[0] != 1 or init_image.shape[3] != 3:
            raise ValueError(f"init_image must be [1, H, W, 3], got {tuple(init_image.shape)}")
        if config.preserve_colors == "luminance":
            init_image = tf.constant(color.luminance_image(init_image.numpy()))
        if init_image.shape[1:3] == scale.content.shape[1:3]:
            return init_image
        return preprocessing.resize(init_image, tuple(scale.content.shape[1:3]), antialias=True)
    init = pictures.init
    if init is not None and config.preserve_colors == "luminance":
        init = color.luminance_image(init)
    return preprocessing.initial_image(config.init, scale.content, scale.styles[0], seed=config.seed,
                                       init_noise=config.init_noise, init_picture=init)


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
