"""What `stylize` returns: the result, how it was made, and how it is saved (picture, summary, checkpoint).

Split from api.py, which keeps the wiring of a run: a result changes with what is saved, the run with how it
is made.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from PIL import Image

from style_transfer.core import image_io
from style_transfer.core.config import StyleConfig
from style_transfer.core.errors import ResumeError
from style_transfer.optimize import checkpoints, figures
from style_transfer.optimize.optimization import StyleOptimizer


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

    def save(self, path, *, overwrite: bool = False, metadata: dict[str, str] | None = None) -> Path:
        """Writes the image atomically (PNG text chunks record the config, and `metadata`'s chunks: what the
        caller knows of the inputs, such as their names); returns the path."""
        return image_io.save_image(self.image, path, overwrite=overwrite,
                                   metadata={**png_metadata(self.config, self.computed), **(metadata or {})})

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


def png_metadata(config: StyleConfig, computed: dict | None = None) -> dict[str, str]:
    """Text chunks for a saved PNG: the software, the full config and (`computed`) how the features were
    computed with 'auto' resolved, so a result records how it was made."""
    from style_transfer import __version__

    metadata = {"Software": f"style_transfer {__version__}",
                "style_transfer:config": json.dumps(config.to_flat_dict())}
    if computed:
        metadata["style_transfer:computed"] = json.dumps(computed)
    return metadata
