"""The Paint tab's work: the optimiser (`stylize`) run in a thread, its progress handed to the page.

Nothing here knows Gradio: `paint` is a generator of `Progress` records that app.py turns into the page's
updates, and errors are the package's own (StyleTransferError), which app.py turns into one message.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from style_transfer.core import image_io
from style_transfer.core.config import DEFAULT, StyleConfig
from style_transfer.core.errors import ConfigError, ImageError
from style_transfer.optimize.api import build_extractor, requested_convolution, stylize
from style_transfer.optimize.optimization import Callback
from style_transfer.ui.background import in_background

# The page shows the forming picture at most this often (seconds): each update sends a PNG to the browser.
IMAGE_INTERVAL = 1.0


@dataclasses.dataclass
class Settings:
    """What the Paint tab's controls say. `strength` multiplies the default style weight (1: the defaults'
    balance of photograph and painting); `blend` is one weight per painting, "2,1" (empty: equal)."""

    size: int = 384
    steps: int = 200
    strength: float = 1.0
    preserve_colors: str = "none"
    style_scale: float = 1.0
    blend: str = ""
    network: str = DEFAULT.network


# The control that shows each config field a setting can break, for the page's messages.
CONTROL_NAMES = {"max_dim": "size", "steps": "steps", "style_weight": "style strength",
                 "preserve_colors": "colour preservation", "style_scale": "style scale",
                 "style_blend_weights": "blend weights", "network": "network"}


def config_of(settings: Settings, *, weights: str, max_megapixels: float) -> StyleConfig:
    """The StyleConfig the controls ask for: the defaults with the controls' values. ConfigError if one is out
    of range (its `field` is the config's; CONTROL_NAMES names the control)."""
    blend = settings.blend.strip()
    return DEFAULT.replace(network=settings.network, weights=weights, max_dim=int(settings.size),
                           steps=int(settings.steps), style_weight=DEFAULT.style_weight * float(settings.strength),
                           preserve_colors=settings.preserve_colors, style_scale=float(settings.style_scale),
                           style_blend_weights=blend, max_megapixels=max_megapixels)


@dataclasses.dataclass
class Progress:
    """One update of a run: the step reached of `total`; when a new picture is shown, the picture (uint8
    [H, W, 3]) and the total loss at every step so far (else both None: the page redraws its loss plot, which
    costs far more than a step's update, only with the picture); the speed; at the end `result` (a
    StylizeResult)."""

    step: int
    total: int
    losses: list[float] | None
    image: np.ndarray | None = None
    steps_per_second: float = 0.0
    result: object | None = None

    @property
    def seconds_left(self) -> float | None:
        if self.steps_per_second <= 0:
            return None
        return (self.total - self.step) / self.steps_per_second


class _Watcher(Callback):
    """Hands the run's progress to another thread through `updates`: every step's loss, the image every
    IMAGE_INTERVAL seconds and at the first and last step."""

    def __init__(self, updates: queue.Queue, total: int):
        self.updates, self.total = updates, total
        self.started = self.shown = None
        self.first_step = None

    def on_start(self, image, config):
        self.started = time.perf_counter()

    def on_step(self, step, image, terms):
        now = time.perf_counter()
        if self.first_step is None:
            self.first_step = step
        show = self.shown is None or now - self.shown >= IMAGE_INTERVAL or step == self.total
        if show:
            self.shown = now
        rate = (step - self.first_step + 1) / max(now - self.started, 1e-9)
        self.updates.put((step, float(terms["total"]), image_io.to_uint8(image.numpy()) if show else None, rate))


class Extractors:
    """The VGG feature extractors built so far, one per network, reused by every run (building one loads the
    weights: seconds)."""

    def __init__(self):
        self._built = {}
        self._lock = threading.Lock()

    def get(self, config: StyleConfig):
        key = (config.network, config.weights, config.pooling, config.precision,
               requested_convolution(config))
        with self._lock:
            if key not in self._built:
                self._built[key] = build_extractor(config)
            return self._built[key]


def paint(photo, paintings: Sequence, config: StyleConfig, *, stop: threading.Event,
          extractors: Extractors) -> Iterator[Progress]:
    """Paints `photo` in the manner of `paintings` (paths, PIL images or arrays) with `config`, in a thread,
    yielding Progress as it goes; the last one holds the result. Setting `stop` ends the run after its current
    step, and the result is the picture so far. Closing the generator stops the run too. Raises what `stylize`
    raises (ConfigError, ImageError, WeightsError, ...)."""
    if not paintings:
        raise ImageError("choose at least one painting: upload one or pick an example")
    if photo is None:
        raise ImageError("choose a photograph: upload one or pick the example")
    if config.style_blend_weights and len(config.style_blend_weights) != len(paintings):
        raise ConfigError("style_blend_weights", f"{len(config.style_blend_weights)} weights for "
                          f"{len(paintings)} painting{'s' if len(paintings) > 1 else ''}; give one per painting")
    losses: list[float] = []
    step, rate = 0, 0.0

    def work(updates):
        extractor = extractors.get(config)
        return stylize(photo, list(paintings), config, extractor=extractor, stop=stop,
                       callbacks=[_Watcher(updates, config.total_steps)])

    def show(items) -> Progress:
        nonlocal step, rate
        image = None
        for step, loss, picture, rate in items:
            losses.append(loss)
            image = picture if picture is not None else image
        return Progress(step, config.total_steps, None if image is None else list(losses), image, rate)

    result = yield from in_background(work, show, name="style-transfer-ui-paint", stop=stop)
    yield Progress(result.steps_done, config.total_steps, list(losses), image_io.to_uint8(result.image), rate,
                   result=result)


def describe(progress: Progress) -> str:
    """One line on a run: "Step 40 of 200 · 1.52 steps/s · about 1 min 45 s left"."""
    parts = [f"Step {progress.step} of {progress.total}"]
    if progress.steps_per_second > 0:
        parts.append(f"{progress.steps_per_second:.2f} steps/s")
    left = progress.seconds_left
    if left is not None and progress.step < progress.total:
        parts.append(f"about {duration(left)} left")
    return " · ".join(parts)


def duration(seconds: float) -> str:
    """"45 s", "3 min 05 s", "1 h 02 min"."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def loss_figure(losses: Sequence[float]):
    """A small matplotlib Figure of the total loss at every step, log scale (the object API: no pyplot state
    shared between sessions' threads)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 2.6), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    if losses:
        axes.plot(range(1, len(losses) + 1), losses, color="tab:blue")
        if min(losses) > 0:
            axes.set_yscale("log")
    axes.set(xlabel="step", ylabel="total loss")
    axes.grid(alpha=0.3)
    return figure


def save_result(result, folder: Path, stem: str, metadata: dict[str, str] | None = None) -> Path:
    """Writes the result as <stem>.png in `folder` (<stem>_2.png, ... if taken), its settings in the PNG's
    text chunks as the command line writes them (StylizeResult.save), with `metadata`'s text chunks too."""
    from style_transfer.core.files import save_numbered

    return save_numbered(folder, stem, ".png", lambda path: result.save(path, metadata=metadata))
