"""Neural style transfer (Gatys et al. 2015) from the command line.

  python -m style_transfer.run --content photo.jpg --style painting.jpg
  style-transfer --content photo.jpg --style painting.jpg --preset tutorial --steps 200 --logdir runs

Writes the stylised image (default: <content>_<style>.png in the current directory) and prints where it
went. Every setting of style_transfer.core.config.StyleConfig is a flag; --preset picks a named set of them and
flags given explicitly override it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import sys
from pathlib import Path

# TensorFlow's C++ log lines (missing CUDA on a CPU machine, ...) are noise on a terminal; set before it loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags, logging  # noqa: E402

from style_transfer import cli  # noqa: E402
from style_transfer.core import config as config_lib  # noqa: E402
from style_transfer.optimize import layout  # noqa: E402
from style_transfer.cli import StopOnSignal, UsageError  # noqa: E402  (StopOnSignal's program is ours)
from style_transfer.core.errors import (ConfigError, ImageError, NumericalError, OutputBusyError,  # noqa: E402
                                   OutputExistsError)

PROGRAM = "style-transfer"
FLAGS = flags.FLAGS
SNAPSHOT = re.compile(r"step_\d{6}\.png")  # the picture an interruption saves (report_interruption)

flags.DEFINE_string("content", None, "The photograph to repaint (JPEG, PNG, GIF, BMP, WebP, TIFF), or a video "
                    "(MP4, MOV, MKV, WebM, AVI, ...) or a folder of its frames: stylised frame by frame into "
                    "<content>_<style>.mp4, see --temporal_weight and --frame_rate.")
flags.DEFINE_string("style", None, "The painting whose style to apply; several as A,B (blended, see "
                    "--style_blend_weights, or one per --mask region).")
flags.DEFINE_string("output", None, "Where to write the result (.png, .jpg, .webp, .bmp, .tif); default "
                    "<content>_<style>.png in the current directory, numbered if that name is taken.")
flags.DEFINE_bool("overwrite", False, "Replace --output if it exists (otherwise an existing file is an error).")
flags.DEFINE_string("preset", "default", f"Named settings: {', '.join(config_lib.PRESETS)} ('tutorial' "
                    "reproduces the TensorFlow tutorial exactly). Flags given explicitly override the preset.")
flags.DEFINE_bool("progress", True, "Show a progress bar (only when stdout is a terminal).")
flags.DEFINE_bool("resume", False, "Continue the interrupted run of --output (its checkpoint is in "
                  "<output>_run/checkpoint; for a video, the finished frames in <output>.partial/, from the next "
                  "frame) instead of starting over; the settings must be the same.")
flags.DEFINE_bool("summary", True, "Also write <output>_summary.png: content | style | result over the loss "
                  "curves.")


cli.define_config_flags(config_lib.StyleConfig, config_lib.DEFAULT.to_flat_dict(), module_name=__name__)


def config_from_flags() -> config_lib.StyleConfig:
    """The --preset's config with every explicitly given config flag applied (and validated)."""
    base = config_lib.preset(FLAGS.preset)
    return base.replace(**cli.config_changes(config_lib.StyleConfig, FLAGS))


def check_inputs(config: config_lib.StyleConfig) -> None:
    """ImageError naming the first input picture (content, styles, mask) that is missing or not a picture,
    from its header alone: the mistakes found without TensorFlow (decoding and sizes come later)."""
    from style_transfer.core import image_io

    for path in [FLAGS.content, *layout.split_styles(FLAGS.style), *([config.mask] if config.mask else [])]:
        image_io.read_header(path, max_pixels=int(config.max_megapixels * 1e6))


def check_memory(config: config_lib.StyleConfig) -> None:
    """ConfigError (--max_dim) if the run's estimated peak memory is more than the memory available, with the
    largest --max_dim that fits. Skipped where the available memory is unknown, or a picture's header cannot
    be read (loading it says why)."""
    from style_transfer.core import image_io
    from style_transfer.optimize import memory

    available = memory.available_mb()
    if available is None:
        return
    max_pixels = int(config.max_megapixels * 1e6)
    try:
        content = image_io.picture_size(FLAGS.content, max_pixels=max_pixels)
        styles = [image_io.picture_size(path, max_pixels=max_pixels) for path in layout.split_styles(FLAGS.style)]
    except ImageError:
        return
    needed = memory.estimate_mb(config, content, styles)
    if needed <= available:
        return
    largest = memory.largest_max_dim(config, content, styles, available)
    fits = f"the largest --max_dim that fits is {largest}" if largest else "not even --max_dim 16 fits"
    if largest and not config.recompute:
        recomputed = memory.largest_max_dim(config.replace(recompute=True), content, styles, available)
        fits += f" ({recomputed} with --recompute)"
    raise ConfigError("max_dim", f"{config.max_dim} needs about {memory.describe_mb(needed)} of memory (estimated), "
                      f"{memory.describe_mb(available)} is available; {fits}")


# The output locks this invocation holds (lock_output), released when it ends, however it ends.
HELD_LOCKS: list = []


def lock_output(output: Path) -> Path:
    """Takes the lock of `output` for this run: OutputBusyError naming the owner's PID if another run holds it,
    except that a default name gives way to the next free one."""
    from style_transfer.core import image_io
    from style_transfer.cli import locks

    for _ in range(100):
        try:
            HELD_LOCKS.append(locks.OutputLock(layout.lock_path(output), str(output)).acquire())
            # Checked again: a run that held the lock until a moment ago may have written the output since.
            return image_io.check_output_path(output, overwrite=FLAGS.overwrite and bool(FLAGS.output))
        except OutputBusyError:
            if FLAGS.output or FLAGS.resume:
                raise
            output = image_io.check_output_path(layout.default_output(FLAGS.content, FLAGS.style))
    raise OutputBusyError(f"{output}: a hundred runs are writing the default names here; choose an --output")


def check_outputs(config: config_lib.StyleConfig) -> Path:
    """The output path, after checking everything the run will write (UsageError if it cannot)."""
    from style_transfer.optimize import checkpoints
    from style_transfer.core import image_io

    with cli.outputs_as_usage_errors():
        if FLAGS.output:
            output = image_io.check_output_path(FLAGS.output, overwrite=FLAGS.overwrite)
        elif FLAGS.resume:
            resumable = layout.resumable_output(FLAGS.content, FLAGS.style)
            if resumable is None:
                raise UsageError(f"--resume: no interrupted run of {layout.run_stem(FLAGS.content, FLAGS.style)} "
                                 "here; pass the --output of the run to resume")
            output = image_io.check_output_path(resumable)
        else:
            output = image_io.check_output_path(layout.default_output(FLAGS.content, FLAGS.style))
        output = lock_output(output)  # before the checks, so no other run can change what they found
        if FLAGS.summary:
            image_io.check_output_path(layout.summary_path(output), overwrite=FLAGS.overwrite)
        run_dir = layout.run_directory(output)
        has_checkpoint = checkpoints.exists(layout.checkpoint_directory(output))
        if FLAGS.resume and not has_checkpoint:
            earlier = layout.earlier_run_directory(output)
            moved = (f" (an earlier version's run is in {earlier}/: rename it {run_dir.name}/ to resume it)"
                     if checkpoints.exists(earlier / "checkpoint") else "")
            raise UsageError(f"--resume: {layout.checkpoint_directory(output)} holds no checkpoint to continue{moved}")
        if has_checkpoint and not (FLAGS.resume or FLAGS.overwrite):
            raise UsageError(f"{run_dir}: holds an interrupted run; pass --resume to continue it or "
                             "--overwrite to start over")
        if not FLAGS.resume and not FLAGS.overwrite and layout.run_pictures(run_dir):
            raise UsageError(f"{run_dir}: already holds pictures; pass --overwrite to replace them or "
                             "choose another --output")
        image_io.check_writable_directory(run_dir)
        if config.logdir:
            image_io.check_writable_directory(config.logdir)
    return output


def snapshots(checkpoint_dir: Path) -> list[str]:
    """The pictures earlier interruptions of the run saved in its run directory (step_NNNNNN.png), as its
    checkpoint's state lists them; ResumeError if the state is damaged or names other files, which the run
    would otherwise delete when it finishes."""
    from style_transfer.optimize import checkpoints
    from style_transfer.core.errors import ResumeError

    names = checkpoints.read_state(checkpoint_dir).get("snapshots", [])
    if not isinstance(names, list) or not all(isinstance(name, str) and SNAPSHOT.fullmatch(name) for name in names):
        raise ResumeError(f"{checkpoint_dir}: damaged checkpoint state: its snapshots are not step_NNNNNN.png "
                          f"names ({str(names)[:100]}); start over")
    return names


def resume_command(output: Path) -> str:
    """The command line that continues this run."""
    arguments = [arg for arg in sys.argv[1:] if arg not in ("--resume", "--noresume")]
    if not FLAGS.output:
        arguments += ["--output", str(output)]
    return shlex.join([PROGRAM, *arguments, "--resume"])


def save_result(result, output: Path) -> Path:
    """Saves the result; a default name taken meanwhile (say by a parallel run) gives way to the next free one."""
    if FLAGS.output:
        return result.save(output, overwrite=FLAGS.overwrite)
    for _ in range(100):
        try:
            return result.save(output)
        except OutputExistsError:
            output = layout.default_output(FLAGS.content, FLAGS.style)
    return result.save(output)


def main(argv: list[str]) -> int:
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines (checkpoint saving, ...) are noise here
    if len(argv) > 1:
        raise UsageError(f"unexpected argument {argv[1]!r} (all inputs are flags, e.g. --content PATH)")
    for name in ("content", "style"):
        if not FLAGS[name].value:
            raise UsageError(f"--{name} is required (--content PHOTO --style PAINTING)")
    config = config_from_flags()
    from style_transfer.cli import run_video

    if run_video.is_video(FLAGS.content):
        return run_video.main(config)
    check_memory(config)  # no TensorFlow needed: a size that cannot fit is refused at once

    # Everything that can be checked is checked before the network is built or a step is run, and what needs
    # no TensorFlow before TensorFlow is imported, which is slow: a mistake is reported at once.
    check_inputs(config)
    output = check_outputs(config)
    run_dir, checkpoint_dir = layout.run_directory(output), layout.checkpoint_directory(output)
    earlier_snapshots = snapshots(checkpoint_dir) if FLAGS.resume else []
    cli.import_tensorflow_quietly()  # before anything imports it, so its start-up banner stays hidden
    from style_transfer.optimize import api, callbacks
    from style_transfer.core import image_io

    extra_callbacks = []
    if FLAGS.progress and sys.stdout.isatty() and config.total_steps:
        extra_callbacks.append(callbacks.ProgressBar(config.total_steps))
    saver = None
    if config.save_every:
        saver = callbacks.ImageSaver(run_dir, config.save_every, overwrite=FLAGS.overwrite or FLAGS.resume)
        extra_callbacks.append(saver)
    run_name = layout.run_stem(FLAGS.content, FLAGS.style)
    with StopOnSignal() as stopper:
        try:
            # stylize loads (and so checks) both pictures before it builds the network or runs a step.
            result = api.stylize(FLAGS.content, FLAGS.style, config, callbacks=extra_callbacks, run_name=run_name,
                                 stop=stopper.stop, resume=checkpoint_dir if FLAGS.resume else None)
        except NumericalError as error:
            kept = image_io.save_image(error.image, run_dir / f"last_finite_step_{error.step - 1:06d}.png",
                                       overwrite=True)
            raise NumericalError(f"{error}. The last finite image is in {kept}", error.step) from None
        stopper.saving = True  # from here on a signal waits until everything is written
        if FLAGS.overwrite and not FLAGS.resume:
            # Starting over worked: what the replaced run left in the run directory goes now, not before.
            for stale in set(layout.run_pictures(run_dir)) - set(saver.written if saver else ()):
                stale.unlink()
        if result.interrupted:
            return report_interruption(result, output, stopper.received, earlier_snapshots)
        written = save_result(result, output)
        summary = None
        if FLAGS.summary:
            styles = " and ".join(Path(style).name for style in layout.split_styles(FLAGS.style))
            title = f"{Path(FLAGS.content).name} in the style of {styles}: {result.describe()}"
            summary = result.save_summary(layout.summary_path(written), overwrite=FLAGS.overwrite, title=title)
        # The run is complete: its checkpoint and the pictures taken only at interruptions are not needed.
        for name in earlier_snapshots:
            if not (config.save_every and int(name[5:11]) % config.save_every == 0):
                (run_dir / name).unlink(missing_ok=True)
        if checkpoint_dir.exists():
            shutil.rmtree(checkpoint_dir)
        if run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()
    height, width = result.image.shape[1:3]
    rate = f", {result.steps_run / result.seconds:.2f} steps/s" if result.steps_run and result.seconds > 0 else ""
    resumed = f" ({result.steps_run} after resuming)" if FLAGS.resume else ""
    print(f"Wrote {written} ({width}x{height}, {config.total_steps} steps{resumed} in {result.seconds:.1f} s{rate}; "
          f"{config.network}{api.computation(result.computed)})")
    if summary:
        print(f"Summary figure in {summary}")
    if config.save_every and config.total_steps >= config.save_every:
        print(f"Intermediate images (every {config.save_every} steps) in {layout.run_directory(output)}/")
    if result.run_dir:
        print(f"TensorBoard logs in {result.run_dir}; view with: tensorboard --logdir {config.logdir}")
    if stopper.received:  # a signal came while saving: everything is written, so stop as asked
        print(f"{PROGRAM}: {signal.Signals(stopper.received).name}: the run had finished and is saved",
              file=sys.stderr)
        return 128 + stopper.received
    return 0


def report_interruption(result, output: Path, signal_number: int | None, earlier_snapshots: list[str]) -> int:
    """Saves the current image and a checkpoint of an interrupted run, says how to resume; the exit status."""
    from style_transfer.core import image_io

    run_dir = layout.run_directory(output)
    # The checks before the run leave no picture of another run here, so this name is free or ours.
    picture = image_io.save_image(result.image, run_dir / f"step_{result.steps_done:06d}.png", overwrite=True)
    name = signal.Signals(signal_number).name if signal_number else "stop"
    stopped = f"{PROGRAM}: {name}: stopped after step {result.steps_done} of {result.config.total_steps}. The " \
              f"current image is {picture}"
    if result.resumable:
        result.save_checkpoint(layout.checkpoint_directory(output),
                               extra={"snapshots": [*earlier_snapshots, picture.name]})
        print(f"{stopped}, the checkpoint {layout.checkpoint_directory(output)}. Resume with: "
              f"{resume_command(output)}", file=sys.stderr)
    else:
        print(f"{stopped}; a multi-scale run cannot be resumed yet", file=sys.stderr)
    return 128 + signal_number if signal_number else 1


HELP_GROUPS = (
    ("Required", ("content", "style")),
    ("Most used", ("output", "max_dim", "steps", "style_weight", "content_weight", "style_scale", "preserve_colors",
                   "preset", "logdir", "resume")),
    ("Output and monitoring", ("overwrite", "summary", "save_every", "log_every", "progress")),
    ("Input pictures", ("max_megapixels", "resize", "jpeg_dct")),
    ("The objective", ("network", "weights", "content_layers", "style_layers", "tv_weight", "tv_smoothing",
                       "gram_norm", "pooling")),
    ("Artistic controls", ("style_blend_weights", "style_max_dim", "mask", "scales", "init", "init_noise", "seed")),
    ("The optimiser", ("optimizer", "learning_rate", "schedule", "final_learning_rate", "cooldown_fraction",
                       "warmup_steps", "beta_1", "beta_2", "epsilon", "grid_steps", "grid_strength")),
    ("Speed and memory", ("precision", "convolution", "recompute", "size_bucket")),
    ("Video", ("temporal_weight", "later_frame_steps", "frame_rate")),
)


def usage() -> str:
    """The --help text: what the command does and every flag it defines, with defaults, grouped."""
    names = [flag.name for flag in FLAGS.get_flags_for_module(sys.modules[__name__])]
    return cli.usage(__doc__, FLAGS, names, HELP_GROUPS)


def _parse_flags(argv: list[str]) -> list[str]:
    # absl's --help lists the flags of the __main__ module, which under the console script is pip's
    # wrapper (so nothing), and exits with status 1: this command's help is printed here instead.
    if any(arg in ("-h", "--help", "--helpshort", "-?") for arg in argv[1:]):
        print(usage(), end="")
        sys.exit(0)
    # absl's own handler prints two lines per error; one line naming the flag is the contract here.
    try:
        return FLAGS(argv)
    except flags.Error as error:
        cli.fail(PROGRAM, str(error), 2)


def _main_with_errors(argv: list[str]) -> int:
    try:
        return cli.run_with_errors(PROGRAM, main, argv)
    finally:
        while HELD_LOCKS:
            HELD_LOCKS.pop().release()


def console_main() -> None:
    """Entry point of the `style-transfer` console script and of `python -m style_transfer.run`."""
    app.run(_main_with_errors, flags_parser=_parse_flags)


if __name__ == "__main__":
    console_main()
