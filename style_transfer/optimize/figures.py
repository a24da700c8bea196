"""Pictures about a run: the summary figure (content | style | result over the loss curves).

Built on matplotlib's object API with the Agg canvas, so nothing here touches pyplot's global state or needs
a display; a figure becomes a [1, H, W, 3] image for image_io to save like any other output.
"""

from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

# The terms drawn, in this order and colour; per-layer shares stay in TensorBoard.
LOSS_TERMS = {"total": "black", "content": "tab:blue", "style": "tab:orange", "tv": "tab:green"}
TITLE_CHARACTERS = 120  # per line of the title, which fits the figure's 1200 pixels at matplotlib's default font


def summary_figure(content_image, style_image, result_image, losses: Mapping[str, Sequence[float]], *,
                   title: str = "") -> Figure:
    """Content | style | result on top, each loss term against the step below (log scale).

    Images are [1, H, W, 3] float in [0, 1]; `losses` maps term names to per-step values (as
    StylizeResult.losses). A term that is zero at some steps (content at step 1) is drawn where positive.
    """
    figure = Figure(figsize=(12, 7.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(2, 3, height_ratios=[3, 2])
    for column, (name, image) in enumerate((("content", content_image), ("style", style_image),
                                            ("result", result_image))):
        axes = figure.add_subplot(grid[0, column])
        pixels = np.clip(np.asarray(image, np.float32)[0], 0, 1)
        axes.imshow(pixels)
        axes.set_title(f"{name} ({pixels.shape[1]}x{pixels.shape[0]})")
        axes.axis("off")
    curves = figure.add_subplot(grid[1, :])
    drawn = False
    for term, colour in LOSS_TERMS.items():
        values = np.asarray(losses.get(term, ()), np.float64)
        if values.size and np.any(values > 0):
            steps = np.arange(1, values.size + 1)
            curves.plot(steps, np.where(values > 0, values, np.nan), label=term, color=colour, linewidth=1.2)
            drawn = True
    if drawn:
        curves.set_yscale("log")
        curves.legend(loc="upper right")
    else:
        curves.text(0.5, 0.5, "no steps run", ha="center", va="center", transform=curves.transAxes)
    curves.set(xlabel="step", ylabel="loss (weighted)")
    curves.grid(True, which="both", alpha=0.3)
    if title:
        figure.suptitle(textwrap.fill(title, TITLE_CHARACTERS))  # a long file name would run off both edges
    return figure


def side_by_side(images: Sequence) -> np.ndarray:
    """[1, H, W, 3] images in [0, 1] scaled to the first one's height and put side by side, for display."""
    if len(images) == 1:
        return np.asarray(images[0], np.float32)
    height = images[0].shape[1]
    scaled = []
    for image in images:
        width = max(1, round(image.shape[2] * height / image.shape[1]))
        picture = Image.fromarray((np.clip(np.asarray(image, np.float32)[0], 0, 1) * 255).round().astype(np.uint8))
        scaled.append(np.asarray(picture.resize((width, height), Image.Resampling.LANCZOS), np.float32) / 255)
    return np.concatenate(scaled, axis=1)[None]


def figure_to_image(figure: Figure) -> np.ndarray:
    """Renders a figure to float32 RGB [1, H, W, 3] in [0, 1] (the package's pixel contract)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return (rgba[None, ..., :3].astype(np.float32) / 255).copy()
