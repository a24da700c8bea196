"""`style-transfer --content clip.mp4 --style painting.jpg`: the optimiser over a video, frame by frame, with
temporal consistency (video.optimizer.stylize_video). Reached from run.py's main when --content is a video;
the flags are run.py's.

Writes clip_painting.mp4 (numbered if taken) at the source's frame rate and size (or --max_dim), its audio
copied; an --output without a suffix is a folder of PNG frames instead. Ctrl-C drops the frame under way,
keeps the finished ones in <output>.partial/ and prints the command that continues from the next frame
(--resume).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from absl import flags

from style_transfer import cli
from style_transfer.cli import StopOnSignal, UsageError
from style_transfer.core import config as config_lib
from style_transfer.core.files import numbered
from style_transfer.core.progress import Progress
from style_transfer.optimize import layout

FLAGS = flags.FLAGS
PROGRAM = "style-transfer"


def is_video(path: str) -> bool:
    """Whether --content names a video (by its suffix) or a folder of frames, so the video route applies."""
    from style_transfer.video import io as video_io

    return video_io.is_video(path) or Path(path).is_dir()


def default_output(content: str, style: str, *, resume: bool) -> Path:
    """<content stem>_<style stem>.mp4 here, numbered past names taken by a video or an unfinished run's
    parts; with `resume`, the first such name that has an unfinished run (UsageError if none)."""
    from style_transfer.video import stream

    for number, name in enumerate(numbered(layout.run_stem(content, style), ".mp4")):
        candidate = Path(name)
        partial = stream.partial_directory(candidate)
        if resume and partial.is_dir() and not candidate.exists():
            return candidate
        if not resume and not candidate.exists() and not partial.exists():
            return candidate
        if number > 1000:
            break
    raise UsageError(f"--resume: no unfinished run of {layout.run_stem(content, style)}.mp4 here; pass the "
                     "--output of the run to resume")


def main(config: config_lib.StyleConfig) -> int:
    """Stylises the video --content; the exit status (errors are raised for run.py to report)."""
    from style_transfer.core import image_io
    from style_transfer.video import io as video_io
    from style_transfer.video import stream as video_stream

    for path in layout.split_styles(FLAGS.style):
        image_io.read_header(path, max_pixels=int(config.max_megapixels * 1e6))
    if len(config.scale_sizes) > 1:
        raise UsageError("--scales: video frames are stylised at one scale; use --scales 1")
    output = Path(FLAGS.output) if FLAGS.output else default_output(FLAGS.content, FLAGS.style,
                                                                     resume=FLAGS.resume)
    if not FLAGS.resume:  # an existing result: one line now, not after the first frame's minutes
        with cli.outputs_as_usage_errors():  # style-transfer-apply's check: the same names, the same words
            video_stream.check_output(output, overwrite=FLAGS.overwrite)
    # --max_dim resizes the frames only when given: a video otherwise keeps its own size.
    max_dim = config.max_dim if FLAGS["max_dim"].present else 0
    # An unreadable video or a folder without frames: one line, now.
    with video_io.open_video(FLAGS.content, max_dim=max_dim, frame_rate=config.frame_rate) as reader:
        total, (width, height), fps = reader.frame_count, reader.size, reader.fps
    cli.import_tensorflow_quietly()
    from style_transfer.video import optimizer as video_optimizer

    bar = None
    if FLAGS.progress and sys.stdout.isatty():  # a resumed run's rate and ETA count its own frames only
        bar = Progress(total, unit="frame", stream=sys.stdout,
                       initial=video_optimizer.frames_done(output) if FLAGS.resume else 0)

    def show(record):
        if bar is not None:
            shown = {"objective": record.objective}
            if record.temporal_error is not None:
                shown["temporal error"] = record.temporal_error
            bar.update_to(record.index + 1, **shown)
        else:  # a log, one line a frame (frames take seconds to minutes, so this is not a flood)
            error = "-" if record.temporal_error is None else f"{record.temporal_error:.4f}"
            print(f"frame {record.index + 1}{f'/{total}' if total else ''}: objective {record.objective:.5g}, "
                  f"temporal error {error}, {record.steps} steps in {record.seconds:.1f} s", flush=True)

    with StopOnSignal(PROGRAM, "keep the finished frames") as stopper:

        def on_saving(busy: bool) -> None:
            """Signals wait while frames are saved; one that came meanwhile stops the run once they are."""
            stopper.saving = busy
            if not busy and stopper.received:
                stopper.stop.set()

        try:
            result, records = video_optimizer.stylize_video(
                FLAGS.content, FLAGS.style, output, config, max_dim=max_dim, resume=FLAGS.resume,
                overwrite=FLAGS.overwrite, stop=stopper.stop, on_record=show, on_saving=on_saving)
        except video_optimizer.FrameStopped as stopped:
            if bar is not None:
                bar.close()  # idempotent, as in the finally below: the line goes before the message
            return report_stop(output, stopped.frames_done, total, stopper.received)
        finally:
            if bar is not None:
                bar.close()
        if result.stopped:
            return report_stop(output, result.frames, total, stopper.received)
    first = [record.seconds for record in records if record.index == 0]
    later = [record.seconds for record in records if record.index > 0]
    errors = [record.temporal_error for record in records if record.temporal_error is not None]
    timing = (f"first frame {first[0]:.1f} s, " if first else "") + \
        (f"later frames {sum(later) / len(later):.1f} s each" if later else "")
    damaged = f", {result.damaged} damaged frames replaced by the previous result" if result.damaged else ""
    print(f"Wrote {result.path} ({result.frames} frames, {width}x{height} at {float(fps):.3g} fps; "
          f"{timing.rstrip(', ')}{damaged})")
    if records:
        objective = sum(record.objective for record in records) / len(records)
        flicker = f"{sum(errors) / len(errors):.4f}" if errors else "-"
        print(f"Per frame: objective {objective:.5g} (mean), temporal error {flicker} (mean |frame - previous "
              f"frame moved by the flow| where the flow is reliable, pixels in [0, 1]); temporal weight "
              f"{config.temporal_weight:g}")
    if stopper.received:
        print(f"{PROGRAM}: {signal.Signals(stopper.received).name}: the run had finished and is saved",
              file=sys.stderr)
        return 128 + stopper.received
    return 0


def report_stop(output: Path, frames_done: int, total: int | None, signal_number: int | None) -> int:
    """Says where the finished frames are and how to resume; the exit status."""
    from style_transfer.cli.run import resume_command  # run.py's: this module is reached from its main
    from style_transfer.video import stream

    name = signal.Signals(signal_number).name if signal_number else "stop"
    of = f" of {total}" if total else ""
    print(f"{PROGRAM}: {name}: stopped after frame {frames_done}{of}. The finished frames are in "
          f"{stream.partial_directory(output)}/. Resume with: {resume_command(output)}", file=sys.stderr)
    return 128 + signal_number if signal_number else 1
