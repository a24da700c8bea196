"""What watches a run: loss history, progress bar, TensorBoard, intermediate images."""

from __future__ import annotations

import time
from pathlib import Path
import keras
import tensorflow as tf

from style_transfer.core import image_io
from style_transfer.core.config import StyleConfig
from style_transfer.optimize.optimization import Callback


class History(Callback):
    """Collects every step's loss terms: `losses[name]` is a list, one value per step."""

    def __init__(self):
        self.losses: dict[str, list[float]] = {}
        self.started = self.ended = None

    def on_start(self, image, config):
        self.started = time.perf_counter()

    def on_step(self, step, image, terms):
        for name, value in terms.items():
            self.losses.setdefault(name, []).append(value)

    def on_end(self, image):
        self.ended = time.perf_counter()

    @property
    def seconds(self) -> float:
        return (self.ended or time.perf_counter()) - (self.started or time.perf_counter())


class ProgressBar(Callback):
    """Keras' Progbar: step, loss and steps per second, redrawn in place on a terminal, with the time left.

    The same display counts a video's frames: `unit` "frame", `steps` the frames (None when unknown), and
    `shown` the terms to show ({label: term}, e.g. the frame's objective and temporal error), each frame
    handed over as a step."""

    def __init__(self, steps: int | None, *, unit: str = "step", shown: dict[str, str] | None = None):
        self.steps, self.unit = steps, unit
        self.shown = dict(shown or {"loss": "total"})
        self.bar = keras.utils.Progbar(steps, unit_name=unit, stateful_metrics=[*self.shown, f"{unit}s/s"])
        self.started = time.perf_counter()
        self.first_step = None

    def on_start(self, image, config):
        self.started = time.perf_counter()

    def on_step(self, step, image, terms):
        if self.first_step is None:  # a resumed run starts past step 1
            self.first_step = step
        rate = (step - self.first_step + 1) / max(time.perf_counter() - self.started, 1e-9)
        values = [(label, terms[name]) for label, name in self.shown.items() if terms.get(name) is not None]
        self.bar.update(step, values=[*values, (f"{self.unit}s/s", rate)], finalize=step == self.steps)


class TensorBoard(Callback):
    """Writes to `run_dir`: the config (and `computed`, how the features are computed: network, precision,
    convolution) as text and hparams, scalars `loss/<term>` every `log_every` steps (and at the last step),
    and the image every `save_every` steps (0: only the first and last)."""

    def __init__(self, run_dir: str | Path, steps: int, *, log_every: int = 1, save_every: int = 0,
                 computed: dict | None = None):
        self.run_dir = Path(run_dir)
        self.computed = dict(computed or {})
        self.steps, self.log_every, self.save_every = steps, log_every, save_every
        self.writer = None

    def on_start(self, image, config):
        from tensorboard.plugins.hparams import api as hparams_api  # imported only when logging

        self.writer = tf.summary.create_file_writer(str(self.run_dir))
        with self.writer.as_default():
            tf.summary.text("config", config_markdown(config, self.computed), step=0)
            hparams_api.hparams(config.to_flat_dict(), trial_id=self.run_dir.name)
            tf.summary.image("image", image, step=0)
        self.writer.flush()

    def on_step(self, step, image, terms):
        last = step == self.steps
        with self.writer.as_default(step=step):
            if step % self.log_every == 0 or last:
                for name, value in terms.items():
                    tf.summary.scalar(f"loss/{name}", value)
            if (self.save_every and step % self.save_every == 0) or last:
                tf.summary.image("image", image)

    def on_end(self, image):
        self.writer.flush()
        self.writer.close()


class ImageSaver(Callback):
    """Saves the image every `save_every` steps as `directory/step_000100.png`; an existing file is an
    error (OutputExistsError) unless `overwrite`."""

    def __init__(self, directory: str | Path, save_every: int, *, overwrite: bool = False):
        self.directory, self.save_every, self.overwrite = Path(directory), save_every, overwrite
        self.written: list[Path] = []

    def on_step(self, step, image, terms):
        if step % self.save_every == 0:
            path = self.directory / f"step_{step:06d}.png"
            self.written.append(image_io.save_image(image.numpy(), path, overwrite=self.overwrite))


def config_markdown(config: StyleConfig, computed: dict | None = None) -> str:
    """The config as a two-column Markdown table (TensorBoard renders text summaries as Markdown), with
    `computed`'s entries as "computed precision" and the like after it."""
    rows = [f"| {name} | `{value}` |" for name, value in config.to_flat_dict().items()]
    rows += [f"| computed {name} | `{value}` |" for name, value in (computed or {}).items()]
    return "\n".join(["| setting | value |", "|---|---|", *rows])

