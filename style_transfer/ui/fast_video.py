"""The Fast tab's videos: a trained network applied frame by frame by video.stream.stylise_video, the loop that
`style-transfer-apply --content clip.mp4` runs, in a thread whose progress is handed to the page.

Nothing here knows Gradio: `stylise` is a generator of `VideoProgress` records that app.py turns into the
page's updates, and errors are the package's own. A video is kept only whole: when a run stops (Stop, the page
closing) or fails, the frames it wrote are deleted (the page cannot resume, unlike the command line).
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from pathlib import Path
from typing import Iterator

from style_transfer.core.errors import ImageError, MissingExtraError, VideoError
from style_transfer.fast import export
from style_transfer.fast.apply_config import ApplyConfig
from style_transfer.ui.background import in_background
from style_transfer.ui.paint import duration
from style_transfer.video import flow as video_flow
from style_transfer.video import io as video_io
from style_transfer.video import stream

INSTALL = 'pip install -e ".[ui,video]"'
# The control that shows each ApplyConfig field a setting can break, for the page's messages.
CONTROL_NAMES = {"max_dim": "size", "temporal_weight": "temporal smoothing",
                 "preserve_colors": "colour preservation"}


def missing_extra() -> str | None:
    """The line the page shows when the video extra (PyAV, OpenCV) is not installed; None when it is."""
    try:
        video_io.require_av()
        video_flow.require_cv2()
    except MissingExtraError:
        return f"Videos need PyAV and OpenCV, which are not installed: {INSTALL}"
    return None


@dataclasses.dataclass
class VideoProgress:
    """One update of a run: frames done of `total` (None when the container does not say), the speed; at the
    end `result` (a stream.VideoResult, its `path` the finished MP4, or None when the run stopped)."""

    frame: int
    total: int | None
    frames_per_second: float = 0.0
    result: stream.VideoResult | None = None

    @property
    def seconds_left(self) -> float | None:
        if self.frames_per_second <= 0 or self.total is None:
            return None
        return max(self.total - self.frame, 0) / self.frames_per_second


def check_video(source, config: ApplyConfig) -> video_io.VideoReader:
    """The opened (and closed again) reader of `source` at the size `config` asks for: VideoError for a file
    not named as a video or that this FFmpeg cannot read, ImageError for frames too small for the network.
    Nothing is decoded."""
    if source is None:
        raise ImageError("choose a video to paint")
    if not video_io.is_video(source):  # what style-transfer-apply would take for a picture (by its suffix)
        suffixes = ", ".join(sorted(video_io.VIDEO_SUFFIXES))
        raise VideoError(f"{Path(source).name}: not a video file ({suffixes}); a picture goes in the Picture part")
    with video_io.open_video(source, max_dim=config.max_dim) as reader:
        pass
    if min(reader.size) < export.MIN_SIDE:
        width, height = reader.size
        raise ImageError(f"{Path(source).name}: {width}x{height} at size {config.max_dim} is too small; the network "
                         f"needs at least {export.MIN_SIDE} pixels a side")
    return reader


def output_path(folder: Path, stem: str) -> Path:
    """<stem>.mp4 in `folder`, or <stem>_2.mp4, ... when that name (or an unfinished run of it) is taken."""
    from style_transfer.core.files import numbered

    for name in numbered(stem, ".mp4"):
        candidate = folder / name
        if not (candidate.exists() or stream.partial_directory(candidate).exists()):
            return candidate


def stylise(stylizer: export.Stylizer, source, style: dict[str, float], config: ApplyConfig, output: Path, *,
            stop: threading.Event, settings: dict | None = None) -> Iterator[VideoProgress]:
    """Paints the video `source` (a path) with `stylizer` in the blend `style`, with `config`'s strength, colour
    preservation, size (max_dim) and temporal_weight, into the MP4 `output` with the source's sound, yielding
    VideoProgress after each frame; the last one holds the result. Setting `stop` ends the run after its
    current frame, and closing the generator does too; either way nothing is left at `output`. Raises what
    stream.stylise_video raises (VideoError, ...)."""
    def stylise_frame(frame, carried):
        return stylizer(frame, style, strength=config.strength, preserve_colors=config.preserve_colors)

    def work(updates):
        result = None
        try:
            result = stream.stylise_video(
                source, output, stylise_frame, max_dim=config.max_dim, temporal_weight=config.temporal_weight,
                settings=settings, should_stop=stop.is_set,
                on_frame=lambda done, total: updates.put((done, total, time.perf_counter())))
            return result
        finally:
            if result is None or result.path is None:  # stopped or failed: no half-written video stays
                shutil.rmtree(stream.partial_directory(output), ignore_errors=True)

    started = time.perf_counter()
    frame, total, rate = 0, None, 0.0

    def show(items) -> VideoProgress:
        nonlocal frame, total, rate
        for frame, total, now in items:
            rate = frame / max(now - started, 1e-9)
        return VideoProgress(frame, total, rate)

    result = yield from in_background(work, show, name="style-transfer-ui-video", stop=stop)
    yield VideoProgress(result.frames, result.total, rate, result=result)


def describe(progress: VideoProgress) -> str:
    """One line on a run: "Frame 12 of 48 · 3.10 frames/s · about 12 s left"."""
    parts = [f"Frame {progress.frame}" + (f" of {progress.total}" if progress.total else "")]
    if progress.frames_per_second > 0:
        parts.append(f"{progress.frames_per_second:.2f} frames/s")
    left = progress.seconds_left
    if left is not None and progress.frame < (progress.total or 0):
        parts.append(f"about {duration(left)} left")
    return " · ".join(parts)
