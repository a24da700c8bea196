"""Reading and writing videos one frame at a time with PyAV (FFmpeg), so a clip is never all in memory.

Frames follow the package's pixel contract: float32 RGB in [0, 1], shape [1, H, W, 3]. Results are H.264 in
yuv420p (what every player accepts), tagged BT.709, in an MP4, written to a temporary file beside the result
and renamed when finished, never over an existing file unless asked. The source's audio is copied packet by
packet, not re-encoded, and keeps its place against the video.
"""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from absl import logging

from style_transfer.core import files, image_io
from style_transfer.core.errors import OutputError, OutputExistsError, VideoError
from style_transfer.video import require_extra

# What --content treats as a video rather than a picture. GIF stays a picture (image_io reads its first frame).
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".wmv",
                            ".flv", ".3gp", ".ogv"})
OUTPUT_SUFFIXES = frozenset({".mp4", ".m4v", ".mov"})
# x264's constant-quality setting: 18 is visually close to lossless for stylised frames and ~3x smaller than 0.
DEFAULT_CRF = 18
# FFmpeg's codes (AVColorSpace, AVColorPrimaries and AVColorTransferCharacteristic agree on 1; AVColorRange).
_BT709 = 1
_LIMITED_RANGE = 1


def require_av():
    """The `av` module; MissingExtraError naming the install command when the video extra is not installed."""
    return require_extra("av")


def is_video(path: str | os.PathLike) -> bool:
    """Whether `path` names a video by its suffix (the file need not exist)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def even_size(width: int, height: int, max_dim: int = 0) -> tuple[int, int]:
    """(width, height) scaled so the longest side is `max_dim` (0: unscaled), then rounded down to even
    numbers, which yuv420p needs (its colour is stored at half resolution)."""
    if max_dim:
        scale = max_dim / max(width, height)
        width, height = max(2, round(width * scale)), max(2, round(height * scale))
    return max(2, width - width % 2), max(2, height - height % 2)


class VideoReader:
    """The frames of a video's first video stream, decoded one at a time (see `open_video`).

    Attributes: `path`; `fps`, the average frame rate as a Fraction (30000/1001 for NTSC); `source_size`,
    the (width, height) players show (a phone's portrait clip is stored landscape with a display rotation,
    and its frames are turned upright); `size`, the (width, height) of the frames yielded (even numbers,
    scaled to `max_dim`); `frame_count`, the number of frames the container declares, or None when it does not;
    `has_audio`; `damaged`, how many frames the decoder rejected so far.

    Iterating yields each frame as float32 [1, H, W, 3] in [0, 1], or None in place of a frame whose data
    the decoder rejects (a damaged packet): the caller decides what stands in for it, and the count goes on
    so the output keeps the source's timing. Damage the decoder conceals by itself (H.264 hides many
    small corruptions by copying from neighbouring frames) comes out as the decoder repairs it.
    """

    def __init__(self, path: str | os.PathLike, *, max_dim: int = 0):
        av = require_av()
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoError(f"{self.path}: " + ("is a folder, not a video" if self.path.is_dir() else
                                                 "no such file"))
        try:
            self._container = av.open(str(self.path), mode="r")
        except av.error.FFmpegError as error:
            raise VideoError(f"{self.path}: not a video FFmpeg can read ({_reason(error)})") from None
        try:
            self._stream = self._check_stream(self._container)
        except VideoError:
            self._container.close()
            raise
        self._stream.thread_type = "AUTO"  # frame-parallel decoding: the decoder keeps pace with the network
        rate = self._stream.average_rate or self._stream.guessed_rate or self._stream.base_rate
        self.fps = Fraction(rate) if rate else Fraction(25)
        self._quarter_turns = self._display_rotation(av)
        width, height = self._stream.codec_context.width, self._stream.codec_context.height
        self.source_size = (height, width) if self._quarter_turns % 2 else (width, height)
        self.size = even_size(*self.source_size, max_dim)
        self.frame_count = self._stream.frames or None
        self.has_audio = bool(self._container.streams.audio)
        self.damaged = 0
        self._av = av

    def _check_stream(self, container):
        if not container.streams.video:
            raise VideoError(f"{self.path}: holds no video stream")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise VideoError(f"{self.path}: its video codec ({stream.codec.name if stream.codec else 'unknown'})"
                             " has no decoder in this FFmpeg")
        if not stream.codec_context.width or not stream.codec_context.height:
            raise VideoError(f"{self.path}: its video stream declares no frame size")
        return stream

    def _display_rotation(self, av) -> int:
        """Quarter turns counter-clockwise that players give the frames (0 to 3), from the first frame's display
        matrix (a second look at the file, so the frames to yield are not consumed)."""
        try:
            with av.open(str(self.path), mode="r") as probe:
                for frame in probe.decode(probe.streams.video[0]):
                    return round(getattr(frame, "rotation", 0) / 90) % 4
        except av.error.FFmpegError:  # a damaged start: the frames come as stored
            pass
        return 0

    def __iter__(self) -> Iterator[np.ndarray | None]:
        width, height = self.size
        if self._quarter_turns % 2:  # decoded as stored, then turned
            width, height = height, width
        # demux ends with an empty packet whose decoding flushes the frames the decoder still holds.
        for packet in self._container.demux(self._stream):
            try:
                frames = packet.decode()
            except self._av.error.FFmpegError as error:
                self.damaged += 1
                logging.warning("%s: a damaged frame near %.2f s (%s)", self.path, _seconds(packet), _reason(error))
                yield None
                continue
            for frame in frames:
                rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()
                if self._quarter_turns:
                    rgb = np.rot90(rgb, self._quarter_turns)
                yield (rgb.astype(np.float32) / np.float32(255.0))[None]

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *_) -> None:
        self.close()


def open_video(path: str | os.PathLike, *, max_dim: int = 0, frame_rate: float = 25.0) -> VideoReader:
    """A VideoReader of `path`, with frames scaled so their longest side is `max_dim` (0: the source's size,
    rounded down to even); for a folder, its pictures as frames at `frame_rate` (video.frames). VideoError
    for a missing, unreadable or unsupported file, or one without video; MissingExtraError without the video
    extra."""
    if Path(path).is_dir():
        from style_transfer.video.frames import FrameFolderReader  # it builds on this module

        return FrameFolderReader(path, max_dim=max_dim, fps=frame_rate)
    return VideoReader(path, max_dim=max_dim)


class VideoWriter:
    """Encodes frames into an H.264/yuv420p MP4 at `path`, `fps` frames per second (a Fraction keeps NTSC
    rates exact), frames of `size` = (width, height), rounded down to even numbers (a frame's odd last row
    or column is cut). With `audio_from`, a source video whose first audio stream is copied unchanged
    (interleaved with the frames by time); a codec the MP4 cannot hold is left out with a warning.

    The file is written as a temporary file beside `path` and takes its name on `close()`; an existing
    `path` is never replaced unless `overwrite` (OutputExistsError, checked at once and again at the end).
    Used as a context manager, leaving on an exception discards the temporary file (`abort()`).
    """

    def __init__(self, path: str | os.PathLike, fps: Fraction | float, size: tuple[int, int],
                 audio_from: str | os.PathLike | None = None, *, overwrite: bool = False, crf: int = DEFAULT_CRF):
        av = require_av()
        self.path = check_output_path(path, overwrite=overwrite)
        self.fps = Fraction(fps).limit_denominator(1001 * 1000)
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.size = even_size(*size)
        self.overwrite = overwrite
        self.frames_written = 0
        self._av = av
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(handle)
        self._temporary = Path(temporary)
        try:
            self._container = av.open(temporary, mode="w", format="mp4")
            self._stream = self._container.add_stream("libx264", rate=self.fps)
            self._stream.width, self._stream.height = self.size
            self._stream.pix_fmt = "yuv420p"
            # No B-frames: decoding order then equals display order, so parts written by separate runs
            # (--resume) join by shifting timestamps alone (join_videos).
            self._stream.codec_context.max_b_frames = 0
            # Tagged BT.709, limited range, and converted by it (write): untagged, players guess the matrix
            # (BT.709 for HD, BT.601 below) and colours shift where the guess is not what the encoder used.
            context = self._stream.codec_context
            context.colorspace = context.color_primaries = context.color_trc = _BT709
            context.color_range = _LIMITED_RANGE
            self._stream.options = {"crf": str(crf), "preset": "medium"}
            self._audio = _AudioCopy(self._container, audio_from) if audio_from else None
        except BaseException:
            self._discard()
            raise

    def write(self, image) -> None:
        """Appends one frame: float32 [1, H, W, 3] (or [H, W, 3]) in [0, 1] at the writer's size (or one more
        row or column, which is cut). ValueError for another size."""
        pixels = image_io.to_uint8(image)
        pixels = pixels[0] if pixels.ndim == 4 else pixels
        width, height = self.size
        if pixels.shape[0] - height not in (0, 1) or pixels.shape[1] - width not in (0, 1):
            raise ValueError(f"frame of {pixels.shape[1]}x{pixels.shape[0]} for a video of {width}x{height}")
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels[:height, :width]), format="rgb24")
        frame = frame.reformat(format="yuv420p", dst_colorspace=_BT709, dst_color_range=_LIMITED_RANGE)
        frame.pts = self.frames_written
        frame.time_base = 1 / self.fps
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1
        if self._audio:
            self._audio.copy_until(self.frames_written / self.fps)

    def close(self) -> Path:
        """Finishes the file and gives it its name; returns the path."""
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            if self._audio:
                self._audio.copy_until(None)
            self._container.close()
            files.move_into_place(self._temporary, self.path, overwrite=self.overwrite)
        finally:
            self._discard()
        return self.path

    def abort(self) -> None:
        """Discards what was written."""
        self._discard()

    def _discard(self) -> None:
        for closing in (getattr(self, "_audio", None), getattr(self, "_container", None)):
            try:
                if closing is not None:
                    closing.close()
            except Exception:  # already closed, or the file was never started: nothing to keep anyway
                pass
        self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


class _AudioCopy:
    """The first audio stream of `source` muxed into `container` packet by packet, up to a time on request.

    Its timestamps move with the video: the result's first frame is at 0, the source's first frame is where
    its video stream starts (far from 0 in a broadcast recording), and the sound keeps its place against it."""

    def __init__(self, container, source: str | os.PathLike):
        av = require_av()
        self._source = av.open(os.fspath(source), mode="r")
        self._packets: Iterator = iter(())
        self._next = None
        if not self._source.streams.audio:
            return
        audio = self._source.streams.audio[0]
        try:
            self._stream = container.add_stream_from_template(audio)
        except (ValueError, av.error.FFmpegError) as error:
            logging.warning("%s: its audio (%s) cannot go into an MP4 and is left out (%s)", source,
                            audio.codec_context.name, error)
            return
        video = self._source.streams.video
        start = video[0].start_time * video[0].time_base if video and video[0].start_time else Fraction(0)
        self._shift = round(start / audio.time_base)  # in the audio's time base
        self._start = start
        self._packets = (packet for packet in self._source.demux(audio) if packet.dts is not None)
        self._container = container

    def copy_until(self, seconds: Fraction | None) -> None:
        """Muxes the packets that start before `seconds` of the result (None: all that are left)."""
        while True:
            if self._next is None:
                self._next = next(self._packets, None)
                if self._next is None:
                    return
            if seconds is not None and _seconds(self._next) - self._start >= seconds:
                return
            if self._next.pts is not None:
                self._next.pts -= self._shift
            self._next.dts -= self._shift
            self._next.stream = self._stream
            self._container.mux(self._next)
            self._next = None

    def close(self) -> None:
        self._source.close()


def join_videos(parts: Sequence[str | os.PathLike], path: str | os.PathLike, *,
                audio_from: str | os.PathLike | None = None, overwrite: bool = False) -> Path:
    """Joins MP4 files that VideoWriter wrote with the same frame rate and size (the parts of a resumed run)
    into one at `path`, copying their packets unchanged, with the first audio stream of `audio_from`.
    Written atomically like VideoWriter; VideoError when the parts do not match."""
    av = require_av()
    path = check_output_path(path, overwrite=overwrite)
    if not parts:
        raise ValueError("no parts to join")
    inputs = []
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    audio = None
    try:
        for part in parts:
            try:
                inputs.append(av.open(os.fspath(part), mode="r"))
            except av.error.FFmpegError as error:
                raise VideoError(f"{part}: not a video FFmpeg can read ({_reason(error)})") from None
        first = inputs[0].streams.video[0]
        for part, opened in zip(parts, inputs):
            stream = opened.streams.video[0]
            if (stream.codec_context.width, stream.codec_context.height, stream.average_rate) != (
                    first.codec_context.width, first.codec_context.height, first.average_rate):
                raise VideoError(f"{part}: its frame size or rate differs from the first part's; cannot join")
        with av.open(temporary, mode="w", format="mp4") as output:
            video = output.add_stream_from_template(first)
            audio = _AudioCopy(output, audio_from) if audio_from else None
            offset = Fraction(0)  # seconds already joined
            for opened in inputs:
                stream = opened.streams.video[0]
                shift = round(offset / stream.time_base)
                duration = Fraction(0)
                for packet in opened.demux(stream):
                    if packet.dts is None:
                        continue
                    end = (packet.pts + packet.duration) * stream.time_base
                    duration = max(duration, end)
                    packet.pts += shift
                    packet.dts += shift
                    if audio:
                        audio.copy_until(_seconds(packet))
                    packet.stream = video
                    output.mux(packet)
                offset += duration
            if audio:
                audio.copy_until(None)
        files.move_into_place(Path(temporary), path, overwrite=overwrite)
    finally:
        for opened in inputs:
            opened.close()
        if audio:
            audio.close()
        Path(temporary).unlink(missing_ok=True)
    return path


def check_output_path(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuses, before any work, a video result that could not or should not be written: VideoError for a
    suffix other than .mp4/.m4v/.mov, a folder or an unwritable place; OutputExistsError for an existing file
    without `overwrite`. Creates the folder it goes in."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise VideoError(f"{path}: a video is written as MP4 (name it .mp4, .m4v or .mov) or as a folder of "
                         "frames (a name without a suffix)")
    if path.is_dir():
        raise VideoError(f"{path}: is a directory")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise OutputExistsError(f"{path}: already exists; not overwriting it")
    try:
        image_io.check_writable_directory(path.parent)
        path.parent.mkdir(parents=True, exist_ok=True)
    except (OutputError, OSError) as error:
        raise VideoError(f"{path}: cannot be written: {error}") from None
    return path


def _seconds(packet) -> Fraction:
    stamp = packet.pts if packet.pts is not None else packet.dts
    return Fraction(stamp or 0) * packet.time_base if packet.time_base else Fraction(0)


def _reason(error) -> str:
    return getattr(error, "strerror", None) or str(error)

