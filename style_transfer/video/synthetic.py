"""Clips whose motion is known: a camera panning and zooming over a photograph, with a square cut from
elsewhere in it sliding across on top. The tests check the flow and the mask against the true motion, and
scripts/bench_video.py measures speed and flicker on a longer one."""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

from style_transfer.video.flow import require_cv2


@dataclasses.dataclass(frozen=True)
class Motion:
    """The camera moves `pan` = (dx, dy) photograph pixels per frame and zooms in by `zoom` per frame (1.01:
    1% closer each frame); a square of side `object_side` frame pixels moves `object_step` = (dx, dy) frame
    pixels per frame from `object_start` (its top-left corner)."""

    pan: tuple[float, float] = (2.0, 0.0)
    zoom: float = 1.0
    object_side: int = 0
    object_start: tuple[float, float] = (0.0, 0.0)
    object_step: tuple[float, float] = (0.0, 0.0)


@dataclasses.dataclass(frozen=True)
class SyntheticFrame:
    """One frame (float32 [1, H, W, 3] in [0, 1]); for every frame but the first, the true flow back to the
    previous frame (float32 [H, W, 2], flow.optical_flow's convention) and where the previous frame did not
    show the same point (float32 [H, W, 1], 1 where the point was hidden behind the square or outside)."""

    image: np.ndarray
    flow: np.ndarray | None
    hidden: np.ndarray | None


def synthetic_clip(photo: np.ndarray, *, frames: int, size: tuple[int, int],
                   motion: Motion = Motion()) -> Iterator[SyntheticFrame]:
    """`frames` frames of `size` = (width, height) cut from `photo` (float32 [1, H, W, 3] or [H, W, 3] in
    [0, 1], larger than the path the camera takes) as `motion` says, one at a time."""
    cv2 = require_cv2()
    photo = np.asarray(photo, np.float32)
    photo = photo[0] if photo.ndim == 4 else photo
    width, height = size
    centre = np.array([(width - 1) / 2, (height - 1) / 2], np.float32)
    grid = np.stack(np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)), -1)
    start = np.array([photo.shape[1] / 2, photo.shape[0] / 2], np.float32) - np.array(motion.pan) * frames / 2
    # The square's texture: the middle of the photograph, upside down, so it differs from the background.
    side = motion.object_side
    middle_row, middle_column = photo.shape[0] // 2, photo.shape[1] // 2
    texture = np.ascontiguousarray(photo[middle_row:middle_row + side, middle_column:middle_column + side][::-1]
                                   ) if side else None

    def camera(index):  # photograph point of each frame pixel
        look_at = start + np.array(motion.pan, np.float32) * index
        return (look_at + (grid - centre) / np.float32(motion.zoom ** index)).astype(np.float32)

    def square(index):
        corner = np.array(motion.object_start, np.float32) + np.array(motion.object_step, np.float32) * index
        inside = np.all((grid >= corner) & (grid < corner + side), axis=-1) if side else np.zeros(grid.shape[:2],
                                                                                                   bool)
        return corner, inside

    for index in range(frames):
        points = camera(index)
        image = cv2.remap(photo, points[..., 0], points[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        corner, inside = square(index)
        if side:
            local = (grid - corner).astype(np.float32)
            pasted = cv2.remap(texture, local[..., 0], local[..., 1], cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            image[inside] = pasted[inside]
        if index == 0:
            yield SyntheticFrame(image[None], None, None)
            continue
        # Background: where the previous camera saw this photograph point; the square: its own step back.
        previous_corner, previous_inside = square(index - 1)
        look_at_before = start + np.array(motion.pan, np.float32) * (index - 1)
        before = centre + (points - look_at_before) * np.float32(motion.zoom ** (index - 1))
        true_flow = before - grid
        true_flow[inside] = -np.array(motion.object_step, np.float32)
        row, column = np.round(before[..., 1]).astype(int), np.round(before[..., 0]).astype(int)
        outside = (row < 0) | (row >= height) | (column < 0) | (column >= width)
        covered = previous_inside[np.clip(row, 0, height - 1), np.clip(column, 0, width - 1)] & ~inside
        hidden = (outside | covered).astype(np.float32)[..., None]
        yield SyntheticFrame(image[None], true_flow.astype(np.float32), hidden)
