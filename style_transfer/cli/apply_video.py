"""style-transfer-apply on a video: `--content clip.mp4` writes clip_<model>.mp4, or with an --output without a
suffix a folder of PNG frames (video.stream does the work).

What the terminal shows: a progress line counting frames with an ETA, the path written, the frames, damaged
frames and the temporal error; on Ctrl-C, the frame under way is finished and kept, and the line says how to
resume.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path

from style_transfer import cli
from style_transfer.cli import UsageError
from style_transfer.core import files
from style_transfer.core.progress import Progress
from style_transfer.fast import apply as pipeline, fast_layout
from style_transfer.fast.apply_config import ApplyConfig
from style_transfer.video import io as video_io

PROGRAM = "style-transfer-apply"


def report(message: str) -> None:
    with files.STDERR_LOCK:
        print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)


def output_path(source: Path, model: str, *, output: str | None, output_dir: str | None, overwrite: bool) -> Path:
    """--output, or <source>_<model>.mp4 in --output_dir numbered past existing results (a resumed run finds
    its own name again: its result does not exist until it is finished)."""
    if output:
        return Path(output)
    directory = Path(output_dir or ".")
    for name in files.numbered(f"{source.stem}_{model}", ".mp4"):
        candidate = directory / name
        if overwrite or not (candidate.exists() or candidate.is_symlink()):
            return candidate


def main(inputs: list[str], config: ApplyConfig, *, model: str, output: str | None, output_dir: str | None,
         overwrite: bool, progress: bool) -> int:
    if len(inputs) != 1:
        raise UsageError(f"a video goes alone: --content names one video, got {len(inputs)} inputs")
    source = Path(inputs[0])
    video_io.require_av()  # one line naming the extra, before anything slow
    from style_transfer.video import flow, stream

    flow.require_cv2()
    fast_layout.find_export(model)
    with video_io.open_video(source, max_dim=config.max_dim):  # an unreadable video: one line, before the model
        pass
    cli.import_tensorflow_quietly()
    from style_transfer.fast import export

    stylizer = export.load(model, config.precision)
    style, suffix = pipeline.chosen_style(stylizer, config)
    path = output_path(source, pipeline.model_name(model) + suffix, output=output, output_dir=output_dir,
                       overwrite=overwrite)
    with cli.outputs_as_usage_errors():
        stream.check_output(path, overwrite=overwrite)
    settings = {"model": str(stylizer.directory.resolve()), "style": repr(style), "strength": config.strength,
                "preserve_colors": config.preserve_colors, "precision": stylizer.precision}

    def stylise_frame(frame, carried):
        return stylizer(frame, style, strength=config.strength, preserve_colors=config.preserve_colors)

    shown: list[Progress] = []
    this_run = []

    def on_frame(done: int, total: int | None) -> None:
        this_run.append(done)
        if not shown:  # made at the first frame of this run, so a resumed run's rate counts its own frames
            shown.append(Progress(total, "frame", initial=done - 1, stream=sys.stderr, enabled=progress))
        shown[0].update_to(done)

    started = time.perf_counter()
    with cli.StopOnSignal(PROGRAM, "finish this frame and keep the frames done") as stopper:

        def on_saving(busy: bool) -> None:  # signals wait while frames are saved (should_stop sees them after)
            stopper.saving = busy

        try:
            result = stream.stylise_video(source, path, stylise_frame, max_dim=config.max_dim,
                                          temporal_weight=config.temporal_weight, resume=config.resume,
                                          overwrite=overwrite, settings=settings,
                                          should_stop=lambda: bool(stopper.received), on_frame=on_frame,
                                          on_saving=on_saving)
        finally:
            if shown:
                shown[0].close()
    seconds = time.perf_counter() - started
    if result.damaged:
        report(f"{result.damaged} damaged frame{'s' if result.damaged > 1 else ''} in {source}, each replaced by "
               "the previous result (see the warnings above)")
    if result.stopped:
        report(f"{signal.Signals(stopper.received).name}: stopped after {result.frames} of "
               f"{result.total or '?'} frames, kept in {result.partial}; run the same command with --resume to "
               "continue from the next frame")
        return 128 + stopper.received
    rate = f"{len(this_run) / seconds:.2f} frames/s" if seconds > 0 else ""
    # NaN: no pair of frames to compare (one frame, or no reliable pixel)
    error = "-" if math.isnan(result.temporal_error) else f"{result.temporal_error:.4f}"
    print(f"Wrote {result.path} ({result.frames} frames from {source}; {rate} in {stylizer.precision}, "
          f"excluding model loading; temporal error {error})", flush=True)
    return 0
