"""`stylize`: the one place that wires loading, features, the objective, the optimiser and monitoring together.

The CLI (run.py) and the notebook are thin shells around it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

from style_transfer import callbacks as callbacks_lib
from style_transfer import checkpoints, figures, image_io, preprocessing
from style_transfer.config import DEFAULT, VGG19_LAYERS, StyleConfig
from style_transfer.errors import ConfigError, ImageError, OutputError
from style_transfer.features import FeatureExtractor
from style_transfer.optimize import Callback, StyleOptimizer


@dataclasses.dataclass
class StylizeResult:
    """What `stylize` returns.

    image: float32 [1, H, W, 3] in [0, 1]. losses: each loss term's value at every step (the image before
    that step's update), e.g. losses["total"][0] is the starting loss; empty when steps is 0.
    seconds: wall time of the steps run by this call (steps_run of them; steps_done counts resumed ones too).
    run_dir: the TensorBoard run directory, if `config.logdir` was set.
    content_image, style_image: the inputs as the optimisation saw them (resized), [1, h, w, 3].
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

    @property
    def interrupted(self) -> bool:
        """Whether the run stopped (on request) before `config.steps`."""
        return self.steps_done < self.config.steps

    def save_checkpoint(self, directory, extra=None) -> Path:
        """Writes a checkpoint to resume from with `stylize(..., resume=directory)`; returns the directory.

        `extra`: a JSON-able dict kept in the checkpoint's state (see checkpoints.read_state)."""
        return checkpoints.save(self.optimizer, directory, self.losses,
                                inputs=checkpoints.fingerprint(self.content_image, self.style_image), extra=extra)

    def to_pil(self) -> Image.Image:
        return image_io.to_pil(self.image)

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Writes the image atomically (PNG text chunks record the config); returns the path."""
        return image_io.save_image(self.image, path, overwrite=overwrite, metadata=png_metadata(self.config))

    def summary_figure(self, title: str = ""):
        """A matplotlib Figure: content | style | result over the loss terms per step (log scale)."""
        return figures.summary_figure(self.content_image, self.style_image, self.image, self.losses,
                                      title=title or self.describe())

    def save_summary(self, path, *, overwrite: bool = False, title: str = "") -> Path:
        """Writes the summary figure as an image, atomically; returns the path."""
        rendered = figures.figure_to_image(self.summary_figure(title))
        return image_io.save_image(rendered, path, overwrite=overwrite, metadata=png_metadata(self.config))

    def describe(self) -> str:
        """One line on how the result was made: steps, size, time, weights, preset-relevant settings."""
        height, width = self.image.shape[1:3]
        resumed = f" ({self.steps_run} after resuming)" if self.steps_run < self.steps_done else ""
        return (f"{self.steps_done} steps{resumed}, {width}x{height}, {self.seconds:.1f} s, weights {self.config.weights}, "
                f"content {self.config.content_weight:g} / style {self.config.style_weight:g} / "
                f"tv {self.config.tv_weight:g}")


def build_extractor(config: StyleConfig) -> FeatureExtractor:
    """The VGG19 feature extractor for `config`'s layers and weights (reusable across `stylize` calls)."""
    return FeatureExtractor([*config.style_layers, *config.content_layers], weights=config.weights)


def load_inputs(content, style, config: StyleConfig) -> tuple[tf.Tensor, tf.Tensor]:
    """Content and style as float32 [1, H, W, 3] in [0, 1], each resized to longest side `config.max_dim`.

    `content` and `style` may be paths, PIL images or arrays (see image_io.load_image). Raises ImageError
    if a picture is unreadable, or so small or so elongated after resizing that the deepest VGG19 layer
    used would have no pixels left.
    """
    minimum = smallest_side(config)
    images = []
    for role, source in (("content", content), ("style", style)):
        image = image_io.load_image(source, jpeg_dct=config.jpeg_dct, max_pixels=int(config.max_megapixels * 1e6))
        resized = preprocessing.resize_to_max_dim(image, config.max_dim, method=config.resize)
        height, width = resized.shape[1:3]
        if min(height, width) < minimum:
            name = source if isinstance(source, (str, Path)) else f"the {role} image"
            aspect = max(image.shape[1:3]) / min(image.shape[1:3])
            raise ImageError(
                f"{name}: {width}x{height} at max_dim {config.max_dim} is too small for the layers used, which "
                f"need at least {minimum} px on the short side; use a max_dim of at least "
                f"{math.ceil(minimum * aspect)} for this picture")
        images.append(resized)
    return images[0], images[1]


def smallest_side(config: StyleConfig) -> int:
    """Fewest pixels on an image's short side for the deepest layer in `config` to keep at least one."""
    used = {*config.content_layers, *config.style_layers}
    deepest = max(VGG19_LAYERS.index(name) for name in used)
    # Every 2x2 max-pool up to and including the deepest layer halves the side.
    return 2 ** sum(1 for name in VGG19_LAYERS[: deepest + 1] if name.endswith("_pool"))


def check_extractor(extractor: FeatureExtractor, config: StyleConfig) -> None:
    """ConfigError unless `extractor` computes every layer `config` uses, from the weights it names."""
    missing = [name for name in (*config.content_layers, *config.style_layers) if name not in extractor.layer_names]
    if missing:
        raise ConfigError("extractor", f"does not compute layers {', '.join(missing)}; build it with "
                          "build_extractor(config)")
    if extractor.weights is not None and extractor.weights != config.weights:
        raise ConfigError("weights", f"the config asks for {config.weights!r} but the extractor was built with "
                          f"{extractor.weights!r}")


def stylize(content, style, config: StyleConfig | None = None, *, callbacks: Sequence[Callback] = (),
            extractor: FeatureExtractor | None = None, run_name: str | None = None,
            stop: threading.Event | None = None, resume: str | Path | None = None,
            **overrides) -> StylizeResult:
    """Paints `content` in the manner of `style` (Gatys et al. 2015) and returns a StylizeResult.

    content, style: file paths, PIL images, or arrays ([H, W, 3] uint8 or float in [0, 1], or
        [1, H, W, 3]).
    config: a StyleConfig (default: `DEFAULT`); keyword `overrides` replace its fields, e.g.
        `stylize(a, b, steps=100, max_dim=256)`.
    callbacks: extra optimize.Callback objects (e.g. callbacks.ProgressBar(steps)).
    extractor: a FeatureExtractor from `build_extractor(config)` to reuse VGG19 across calls (checked
        against the config: same weights, every layer present).
    run_name: the TensorBoard run directory's name under `config.logdir` (default: time stamp).
    stop: an Event; once set, the run ends after the current step (`result.interrupted` tells), e.g. to
        save a checkpoint with `result.save_checkpoint(directory)`.
    resume: a checkpoint directory to continue from; the config must match the checkpoint's except for
        steps and monitoring settings (ResumeError otherwise).
    Raises ConfigError, ImageError, WeightsError, OutputError or ResumeError (all ValueErrors) for bad
    inputs, and NumericalError if the optimisation diverges (its `image` is the last finite one).
    """
    config = (config or DEFAULT).replace(**overrides) if overrides else (config or DEFAULT)
    content_image, style_image = load_inputs(content, style, config)
    init_image = preprocessing.initial_image(config.init, content_image, style_image, seed=config.seed)
    if extractor is None:
        extractor = build_extractor(config)
    else:
        check_extractor(extractor, config)
    optimizer = StyleOptimizer(extractor, content_image, style_image, init_image, config)
    history = callbacks_lib.History()
    if resume is not None:
        history.losses = checkpoints.restore(optimizer, resume,
                                             inputs=checkpoints.fingerprint(content_image, style_image))
    all_callbacks: list[Callback] = [history, *callbacks]
    run_dir = None
    if config.logdir:
        run_dir = new_run_dir(config.logdir, run_name)
        all_callbacks.append(callbacks_lib.TensorBoard(run_dir, config.steps, log_every=config.log_every,
                                                       save_every=config.save_every))
    resumed_at = optimizer.steps_done
    image = optimizer.run(config.steps, all_callbacks, stop=stop)
    return StylizeResult(image=image.numpy(), losses=history.losses, config=config, seconds=history.seconds,
                         run_dir=run_dir, content_image=content_image.numpy(), style_image=style_image.numpy(),
                         steps_done=optimizer.steps_done, steps_run=optimizer.steps_done - resumed_at,
                         optimizer=optimizer)


def new_run_dir(logdir: str | Path, name: str | None = None) -> Path:
    """A directory under `logdir` that no earlier run used: `name` (default: a time stamp), then -2, -3..."""
    name = name or datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    number = 1
    while True:
        candidate = Path(logdir) / (name if number == 1 else f"{name}-{number}")
        try:
            candidate.mkdir(parents=True)  # fails if it exists, so two runs never share a directory
            return candidate
        except FileExistsError:
            number += 1
        except OSError as error:
            raise OutputError(f"log directory {logdir}: cannot create {candidate} ({error.strerror or error})") from None


def png_metadata(config: StyleConfig) -> dict[str, str]:
    """Text chunks for a saved PNG: the software and the full config, so a result records how it was made."""
    from style_transfer import __version__

    return {"Software": f"style_transfer {__version__}", "style_transfer:config": json.dumps(config.to_flat_dict())}
