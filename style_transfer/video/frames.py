"""A folder of frames as a video, both ways: read in natural order (frame_2 before frame_10), and written
as numbered PNGs.

What FFmpeg-extracted frames (`ffmpeg -i clip.mp4 frames/%05d.png`) or a renderer's output look like. The
reader has VideoReader's interface and the writer VideoWriter's, so the frame loop (video/stream.py) takes
either: a folder has no sound, and its frame rate is the one the caller gives.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
from absl import logging
from PIL import Image

from style_transfer.core import image_io
from style_transfer.core.errors import ImageError, OutputError, OutputExistsError, VideoError
from style_transfer.video.io import even_size

# Pillow's readable formats by suffix; any other file in the folder (a .txt, Thumbs.db) is not a frame.
PICTURE_SUFFIXES = frozenset(suffix for suffix, kind in Image.registered_extensions().items()
                             if kind in Image.OPEN)


# The written frames' names: frame_000001.png, ... (six digits sort by name too, up to 999999 frames).
FRAME_PATTERN = re.compile(r"frame_\d{6}\.png")


def is_frame_folder(path: str | os.PathLike) -> bool:
    """Whether a result named `path` is a folder of frames: a name without a suffix (`out`, `out/`)."""
    return Path(path).suffix == ""


def check_frame_folder(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuses, before any work, a folder of frames that could not or should not be written: VideoError for
    a file of that name or an unwritable place, and for a folder holding anything but frames this program
    wrote (even with `overwrite`: a user's folder is never emptied); OutputExistsError for a folder of frames
    without `overwrite`. An empty folder is used."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise VideoError(f"{path}: exists and is not a folder; a folder of frames is written there")
    members = list(path.iterdir()) if path.is_dir() else []
    if members and any(not FRAME_PATTERN.fullmatch(member.name) for member in members):
        raise VideoError(f"{path}: holds other files; frames go into a new or empty folder")
    if members and not overwrite:
        raise OutputExistsError(f"{path}: already holds {len(members)} frames; not overwriting them")
    try:
        image_io.check_writable_directory(path.parent)
    except OutputError as error:
        raise VideoError(f"{path}: cannot be written: {error}") from None
    return path


def move_frames_into_place(written: Path, path: Path) -> Path:
    """Gives the folder of frames `written` the name `path`, replacing a folder of frames there (checked by
    check_frame_folder): the old one is renamed aside first, so `path` never holds a mixture."""
    aside = None
    if path.exists():
        aside = path.with_name(f".{path.name}.replaced")
        path.rename(aside)
    written.rename(path)
    if aside is not None:
        for member in aside.iterdir():
            member.unlink()
        aside.rmdir()
    return path


class FrameFolderWriter:
    """Writes frames as frame_000001.png, frame_000002.png, ... into the folder `path` (created), numbering
    from `first` (a resumed run goes on from its next frame). Each PNG is written atomically, so a stopped
    run leaves whole frames only. `size` = (width, height) of every frame; VideoWriter's interface."""

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], *, first: int = 1):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.size = size
        self.next = first

    def write(self, image) -> None:
        """Writes one frame: float32 [1, H, W, 3] in [0, 1] of the writer's size (ValueError otherwise)."""
        image = np.asarray(image, np.float32)
        image = image if image.ndim == 4 else image[None]
        if (image.shape[2], image.shape[1]) != tuple(self.size):
            raise ValueError(f"frame of {image.shape[2]}x{image.shape[1]} for frames of {self.size[0]}x{self.size[1]}")
        image_io.save_image(image, self.path / f"frame_{self.next:06d}.png", overwrite=True, png_compression=1)
        self.next += 1

    def close(self) -> Path:
        return self.path

    def abort(self) -> None:
        """Keeps the frames written: each is whole."""


def natural_key(path: Path) -> list:
    """Sorts names as people count: digits compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class FrameFolderReader:
    """The pictures of the folder `path` as the frames of a video at `fps` frames per second.

    Attributes as VideoReader's: `fps` (Fraction), `source_size` and `size` (width, height; `size` even and
    scaled to `max_dim`), `frame_count`, `has_audio` (False), `damaged`. Every frame takes the size of the
    first picture that decodes (resized if it differs). Iterating yields float32 [1, H, W, 3] in [0, 1], or
    None for a frame that does not decode (counted in `damaged`), so the caller decides what stands in.
    VideoError for a missing folder or one holding no picture.
    """

    def __init__(self, path: str | os.PathLike, *, max_dim: int = 0, fps: float | Fraction = 25,
                 max_pixels: int | None = None):
        self.path = Path(path)
        if not self.path.is_dir():
            raise VideoError(f"{self.path}: no such folder")
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        try:
            members = [member for member in self.path.iterdir() if member.is_file()]
        except OSError as error:
            raise VideoError(f"{self.path}: cannot list the folder ({error.strerror or error})") from None
        self.frames = sorted((member for member in members if member.suffix.lower() in PICTURE_SUFFIXES),
                             key=natural_key)
        if len(self.frames) < len(members):
            logging.info("%s: %d files that are not pictures are not frames", self.path,
                         len(members) - len(self.frames))
        self.max_pixels = max_pixels
        self.source_size = self._first_size()
        self.size = even_size(*self.source_size, max_dim)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.frame_count = len(self.frames)
        self.has_audio = False
        self.damaged = 0

    def _first_size(self) -> tuple[int, int]:
        for frame in self.frames:
            try:
                _, width, height = image_io.read_header(frame, max_pixels=self.max_pixels)
                return width, height
            except ImageError:
                continue
        raise VideoError(f"{self.path}: a folder without frames (no picture in it can be read; "
                         f"{len(self.frames)} files with a picture's suffix)")

    def __iter__(self) -> Iterator[np.ndarray | None]:
        width, height = self.size
        for frame in self.frames:
            try:
                image = image_io.load_image(frame, max_pixels=self.max_pixels, max_dim=max(width, height))
            except ImageError as error:
                self.damaged += 1
                logging.warning("%s: a damaged frame (%s)", frame, error)
                yield None
                continue
            if image.shape[1:3] != (height, width):
                resized = image_io.to_pil(image).resize((width, height), Image.Resampling.LANCZOS)
                image = (np.asarray(resized, np.float32) / np.float32(255.0))[None]
            yield image

    def close(self) -> None:
        """Nothing to release: each picture is read and closed in turn."""

    def __enter__(self) -> FrameFolderReader:
        return self

    def __exit__(self, *_) -> None:
        self.close()
