"""Where a run's files go, beside its output: the naming and layout rules of the command line.

  photo_painting.png               the result (default name; _2, _3, ... when taken)
  photo_painting.png_summary.png   the summary figure
  photo_painting.png_run/          intermediate pictures (step_NNNNNN.png), the checkpoint of an interrupted
                                   run (checkpoint/), the last finite image of a diverged run
  .photo_painting.png.lock         held while a run works towards the picture, removed when it ends

Companions are named from the output's whole file name, extension included, so o.png and o.jpg never share
a run directory or a summary figure.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from style_transfer.core.files import numbered


def split_styles(style: str) -> list[str]:
    """"a.jpg,b.jpg" -> ["a.jpg", "b.jpg"]; a value naming an existing file is one style, commas and all."""
    if "," in style and not Path(style).exists():
        return [part.strip() for part in style.split(",")]
    return [style]


def run_stem(content: str, style: str) -> str:
    """<content stem>_<style stem>, several styles joined by "+": photo_monet+turner."""
    return f"{Path(content).stem}_{'+'.join(Path(part).stem for part in split_styles(style))}"


def default_output(content: str, style: str) -> Path:
    """<content stem>_<style stem>.png in the current directory; _2, _3, ... if the name is taken (by the
    picture, its run directory, its summary figure or the lock of a run writing it)."""
    for candidate in _default_names(content, style):
        companions = (candidate, run_directory(candidate), summary_path(candidate), lock_path(candidate))
        if not any(os.path.lexists(path) for path in companions):
            return candidate


def _default_names(content: str, style: str):
    return (Path(name) for name in numbered(run_stem(content, style), ".png"))


def resumable_output(content: str, style: str) -> Path | None:
    """The first default name with an interrupted run to resume (a checkpoint and no picture yet), if any."""
    from style_transfer.optimize import checkpoints

    for number, candidate in enumerate(_default_names(content, style)):
        if checkpoints.exists(checkpoint_directory(candidate)) and not candidate.exists():
            return candidate
        if number > 1000:
            return None


def run_directory(output: Path) -> Path:
    """Where a run keeps its intermediate pictures and its checkpoint: <output>_run/ beside it (o.png_run/)."""
    return output.with_name(f"{output.name}_run")


def earlier_run_directory(output: Path) -> Path:
    """Where earlier versions kept it, named from the stem alone (o_run/, which o.png and o.jpg shared)."""
    return output.with_name(f"{output.stem}_run")


def checkpoint_directory(output: Path) -> Path:
    return run_directory(output) / "checkpoint"


def lock_path(output: Path) -> Path:
    """The lock a run holds while it works towards `output` (locks.OutputLock): .<output>.lock beside it."""
    return output.with_name(f".{output.name}.lock")


def summary_path(output: Path) -> Path:
    """Where --summary puts its figure: <output>_summary.png beside the output (o.png_summary.png)."""
    return output.with_name(f"{output.name}_summary.png")


STEP_PICTURE = re.compile(r"(last_finite_)?step_\d{6}\.png")


def run_pictures(run_dir: Path) -> list[Path]:
    """The pictures a run writes into its run directory (step_NNNNNN.png, last_finite_step_NNNNNN.png)."""
    if not run_dir.is_dir():
        return []
    return sorted(path for path in run_dir.iterdir() if STEP_PICTURE.fullmatch(path.name))
