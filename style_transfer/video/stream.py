"""The frame loop: a video in, a stylised video (or folder of frames) out, one frame at a time, with temporal
blending, the flicker measure, and stopping and resuming.

Any stylisation fits: the loop takes a callable `stylise_frame(frame, carried) -> result` (float32
[1, H, W, 3] in [0, 1] both), where `carried` is None for the first frame and otherwise the previous result
warped onto this frame with the mask of pixels where that warp is reliable (the optimiser starts from it;
a fast network may ignore it).

Stopping and resuming. Frames are encoded into parts inside `<output>.partial/` beside the result, with a
`state.json` naming the source (path, size, modification time), the settings, the parts, the frames done
and the last result, `last_output_<frames done>.npy` (exact, for blending the next frame). When
`should_stop()` turns true, the frame under way is finished, the part closed and the state written; the
result appears only when every frame is done: the parts are joined by copying their packets (no
re-encoding), the audio added, and the folder removed. `resume=True` continues such a folder from its next
frame; without it, an existing folder is an error rather than something to overwrite.

An `output` without a suffix is a folder of frames (video.frames): they are written as PNGs into
`<output>.partial/frames/` and the folder takes its name when every frame is done; it has no sound.

A damaged frame (one the decoder rejects) is replaced by the previous result, repeated so the timing stays
the source's, and counted; damaged frames before the first readable one take that frame's result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from absl import logging

from style_transfer.core import files
from style_transfer.core.errors import ResumeError, VideoError
from style_transfer.video import flow as video_flow
from style_transfer.video import frames as video_frames
from style_transfer.video import io as video_io

STATE_FILE = "state.json"
LAST_OUTPUT = "last_output_{frames_done}.npy"  # the result of the last frame done, by frames done
STATE_VERSION = 1
# How often a run closes its part and saves its state while it goes on (seconds): what a run killed outright
# loses at most. Each part starts with a key frame, a few kilobytes a minute.
SAVE_EVERY_SECONDS = 60.0
FRAMES = "frames"  # the part of a folder-of-frames result: one folder of PNGs


@dataclasses.dataclass(frozen=True)
class Carried:
    """The previous result warped onto the current frame (float32 [1, H, W, 3]) and where that warp is
    reliable (float32 [H, W, 1] of 0 and 1), from the flow of the input frames."""

    image: np.ndarray
    mask: np.ndarray


@dataclasses.dataclass
class VideoResult:
    """What stylise_video did. `path` is the finished video, or None when it stopped early (`stopped`);
    `frames` counts the frames written over all runs, `damaged` those that repeated a result;
    `temporal_error` is the mean of the frames' temporal errors (flow.temporal_error) in this run, NaN when
    there was no pair of frames to compare; `seconds` this run's time."""

    path: Path | None
    partial: Path
    frames: int
    total: int | None
    damaged: int
    temporal_error: float
    seconds: float
    stopped: bool


def partial_directory(output: str | os.PathLike) -> Path:
    """Where the parts of an unfinished `output` are kept: `<output>.partial/` beside it."""
    output = Path(output)
    return output.with_name(output.name + ".partial")


def source_identity(source: Path) -> dict[str, Any]:
    """What says the source has not changed since a run stopped: its path, size and modification time."""
    status = source.stat()
    return {"path": str(source.resolve()), "bytes": status.st_size, "modified_ns": status.st_mtime_ns}


def stylise_video(source: str | os.PathLike, output: str | os.PathLike,
                  stylise_frame: Callable[[np.ndarray, Carried | None], np.ndarray], *, max_dim: int = 0,
                  temporal_weight: float = 0.0, resume: bool = False, overwrite: bool = False,
                  settings: Mapping[str, Any] | None = None, should_stop: Callable[[], bool] = lambda: False,
                  on_frame: Callable[[int, int | None], None] | None = None,
                  flow_preset: str = "fast", frame_rate: float = 25.0,
                  save_every_seconds: float = SAVE_EVERY_SECONDS,
                  on_saving: Callable[[bool], None] | None = None) -> VideoResult:
    """Stylises the video `source` frame by frame into the MP4 `output`, or the folder of frames `output` when
    it has no suffix (see the module's docstring).

    `temporal_weight` in [0, 1] blends each result with the previous one warped by the flow, where reliable
    (flow.blend); 0 keeps each frame's result as it is. `settings` (JSON-able) are recorded with the parts
    and must match on `resume` (ResumeError otherwise, and for a changed source or no parts to resume).
    `on_frame(done, total)` is called after each frame (`total` None when the container does not say).
    `source` may be a folder of frames (video.frames), played at `frame_rate`. The part under way is also
    closed and the state saved once `save_every_seconds` have passed since the last save, so a run killed
    outright (no Python code runs) keeps what was saved before. `on_saving(True)` is called before each save
    and before the result is put together, `on_saving(False)` after (the command lines make signals wait).
    VideoError for an unreadable source; OutputExistsError for an existing `output` without `overwrite`.
    """
    if not 0.0 <= temporal_weight <= 1.0:
        raise ValueError(f"temporal_weight must be in [0, 1], got {temporal_weight}")
    source, output = Path(source), Path(output)
    settings = dict(settings or {}, max_dim=max_dim, temporal_weight=temporal_weight)
    as_frames = check_output(output, overwrite=overwrite)
    partial = partial_directory(output)
    reader = video_io.open_video(source, max_dim=max_dim, frame_rate=frame_rate)
    with reader:
        state = _start(partial, source, settings, resume)
        started = time.perf_counter()
        run = _Run(reader, partial, state, stylise_frame, temporal_weight, flow_preset, save_every_seconds,
                   as_frames, on_saving)
        stopped = True  # until the last frame is done: an error on the way keeps the frames finished
        try:
            stopped = run.frames(should_stop, on_frame)
        finally:
            run.save()
        seconds = time.perf_counter() - started
        errors = run.errors
        result = VideoResult(None, partial, state["frames_done"], reader.frame_count, state["damaged"],
                             float(np.mean(errors)) if errors else math.nan, seconds, stopped)
        if stopped:
            return result
        if not state["parts"]:
            shutil.rmtree(partial, ignore_errors=True)
            raise VideoError(f"{source}: no frame could be decoded ({reader.damaged} damaged)")
    with _saving(on_saving):
        if as_frames:
            video_frames.check_frame_folder(output, overwrite=overwrite)  # again: it may have appeared meanwhile
            result.path = video_frames.move_frames_into_place(partial / FRAMES, output)
            if reader.has_audio:
                logging.info("%s: a folder of frames has no sound; the source's audio is not kept", output)
        else:
            result.path = video_io.join_videos([partial / part for part in state["parts"]], output,
                                               audio_from=source if reader.has_audio else None,
                                               overwrite=overwrite)
        shutil.rmtree(partial, ignore_errors=True)
    logging.info("%s: %d frames (%d damaged, each replaced by the previous result), temporal error %.4f",
                 output, result.frames, result.damaged, result.temporal_error)
    return result


@contextlib.contextmanager
def _saving(on_saving: Callable[[bool], None] | None):
    """Within it, `on_saving` has been told that files are being written which must not be cut short."""
    if on_saving:
        on_saving(True)
    try:
        yield
    finally:
        if on_saving:
            on_saving(False)


def check_output(output: str | os.PathLike, *, overwrite: bool = False) -> bool:
    """Refuses, before any work, a result that could not or should not be written (video.io.check_output_path
    for a video, video.frames.check_frame_folder for a folder of frames); whether it is a folder of frames."""
    if video_frames.is_frame_folder(output):
        video_frames.check_frame_folder(output, overwrite=overwrite)
        return True
    video_io.check_output_path(output, overwrite=overwrite)
    return False


def _start(partial: Path, source: Path, settings: dict, resume: bool) -> dict:
    """The state to continue: a fresh one, or the one in `partial` when resuming (checked)."""
    identity = source_identity(source)
    if not resume:
        if partial.exists():
            raise ResumeError(f"{partial} holds the frames of an unfinished run: continue it with --resume, or "
                              "delete it to start again")
        partial.mkdir(parents=True)
        state = {"version": STATE_VERSION, "source": identity, "settings": settings, "frames_done": 0,
                 "damaged": 0, "parts": []}
        _save_state(partial, state)
        return state
    try:
        state = json.loads((partial / STATE_FILE).read_text(encoding="utf8"))
    except FileNotFoundError:
        raise ResumeError(f"{partial / STATE_FILE}: nothing to resume (no unfinished run of this result)") from None
    except (OSError, ValueError) as error:
        raise ResumeError(f"{partial / STATE_FILE}: cannot be read ({error})") from None
    if state.get("version") != STATE_VERSION:
        raise ResumeError(f"{partial / STATE_FILE}: written by another version of this program")
    if state["source"] != identity:
        raise ResumeError(f"{source}: has changed since the unfinished run in {partial} (size or time differ)")
    changed = sorted(name for name in set(settings) | set(state["settings"])
                     if settings.get(name) != state["settings"].get(name))
    if changed:
        raise ResumeError(f"{partial} was made with other settings: "
                          + ", ".join(f"{name} {state['settings'].get(name)!r}, now {settings.get(name)!r}"
                                      for name in changed))
    missing = [part for part in state["parts"] if not (partial / part).exists()]
    if missing:
        raise ResumeError(f"{partial}: parts {', '.join(missing)} are missing; delete the folder to start again")
    return state


def _save_last_output(partial: Path, image: np.ndarray, frames_done: int) -> str:
    """Saves the result of the last frame done, whole or not at all, under a name of its own: a run killed
    between this and saving the state leaves the state naming the previous one, which is still there."""
    name = LAST_OUTPUT.format(frames_done=frames_done)
    files.atomic_write(partial / name, lambda stream: np.save(stream, image), overwrite=True)
    return name


def _remove_stale_last_outputs(partial: Path, kept: str | None) -> None:
    for path in partial.glob(LAST_OUTPUT.format(frames_done="*")):
        if path.name != kept:
            path.unlink(missing_ok=True)


def _load_last_output(path: Path) -> np.ndarray | None:
    """The saved last result; None (the next frame starts afresh, with a warning) when it cannot be read."""
    try:
        return np.load(path)
    except (OSError, ValueError, EOFError) as error:
        logging.warning("%s: cannot be read (%s); the next frame is not blended with the previous one", path, error)
        return None


def _save_state(partial: Path, state: dict) -> None:
    files.atomic_write(partial / STATE_FILE, lambda stream: stream.write(json.dumps(state, indent=1).encode()),
                       overwrite=True)


class _Run:
    """One run over the frames: the current part's writer, the previous input frame and result."""

    def __init__(self, reader: video_io.VideoReader, partial: Path, state: dict, stylise_frame,
                 temporal_weight: float, flow_preset: str, save_every_seconds: float, as_frames: bool = False,
                 on_saving: Callable[[bool], None] | None = None):
        self.reader, self.partial, self.state = reader, partial, state
        self.as_frames = as_frames
        self.stylise_frame = stylise_frame
        self.temporal_weight = temporal_weight
        self.flow_preset = flow_preset
        self.previous_input: np.ndarray | None = None
        self.previous_output: np.ndarray | None = None
        if state["frames_done"] and state.get("last_output"):
            self.previous_output = _load_last_output(partial / state["last_output"])
        self.errors: list[float] = []
        self.writer: video_io.VideoWriter | video_frames.FrameFolderWriter | None = None
        self.part_frames = 0
        self.waiting_damaged = 0  # damaged frames before the first readable one, written with its result
        self.save_every_seconds = save_every_seconds
        self.on_saving = on_saving
        self.saved_at = time.monotonic()

    def frames(self, should_stop, on_frame) -> bool:
        """Works through the frames; True if it stopped on request before the end."""
        done = self.state["frames_done"]
        for index, frame in enumerate(self.reader):
            if index < done:  # finished by an earlier run: decoded only for the flow of the next frame
                if frame is not None:
                    self.previous_input = frame
                continue
            if should_stop():
                return True
            # A damaged frame is counted when it is written: one waiting for the first readable frame's result
            # is redone by a resumed run if this one stops first.
            if frame is None:
                if self.previous_output is None:
                    self.waiting_damaged += 1
                else:
                    self.write(self.previous_output)
                    self.state["damaged"] += 1
            else:
                result = self.stylise(frame)
                for _ in range(self.waiting_damaged + 1):
                    self.write(result)
                self.state["damaged"] += self.waiting_damaged
                self.waiting_damaged = 0
                self.previous_input, self.previous_output = frame, result
            if on_frame:
                on_frame(self.state["frames_done"], self.reader.frame_count)
            if time.monotonic() - self.saved_at >= self.save_every_seconds:
                self.save()
        return False

    def stylise(self, frame: np.ndarray) -> np.ndarray:
        if self.previous_input is None or self.previous_output is None:
            return np.asarray(self.stylise_frame(frame, None), np.float32)
        backward = video_flow.optical_flow(self.previous_input, frame, preset=self.flow_preset)
        forward = video_flow.optical_flow(frame, self.previous_input, preset=self.flow_preset)
        mask = video_flow.reliable_mask(forward, backward)
        carried = Carried(video_flow.warp(self.previous_output, backward), mask)
        result = np.asarray(self.stylise_frame(frame, carried), np.float32)
        if self.temporal_weight:
            result = video_flow.blend(result, carried.image, mask, self.temporal_weight)
        self.errors.append(video_flow.carried_error(result, carried.image, mask))
        return result

    def write(self, result: np.ndarray) -> None:
        if self.writer is None:
            if self.as_frames:  # one folder over all runs, numbered on from the frames done
                self.part_name = FRAMES
                self.writer = video_frames.FrameFolderWriter(self.partial / FRAMES, self.reader.size,
                                                             first=self.state["frames_done"] + 1)
            else:
                self.part_name = f"part_{len(self.state['parts']) + 1:03d}.mp4"
                self.writer = video_io.VideoWriter(self.partial / self.part_name, self.reader.fps,
                                                   self.reader.size, overwrite=True)
        self.writer.write(result)
        self.part_frames += 1
        self.state["frames_done"] += 1

    def save(self) -> None:
        """Closes the part under way and saves what a resumed run continues from: the last result, then the
        state naming it (the previous last result goes only once the state no longer names it)."""
        with _saving(self.on_saving):
            self.close_part()
            if self.previous_output is not None:
                self.state["last_output"] = _save_last_output(self.partial, self.previous_output,
                                                              self.state["frames_done"])
            _save_state(self.partial, self.state)
            _remove_stale_last_outputs(self.partial, self.state.get("last_output"))
        self.saved_at = time.monotonic()

    def close_part(self) -> None:
        """Finishes the part under way and records it (a part is listed only once it is whole)."""
        if self.writer is None:
            return
        self.writer.close()
        if self.part_name not in self.state["parts"]:
            self.state["parts"].append(self.part_name)
        self.writer = None
