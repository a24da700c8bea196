"""Fast style transfer: stylises pictures with a trained network, one forward pass each (Johnson et al. 2016).

  style-transfer-apply --model models/painting --content photo.jpg
  style-transfer-apply --model models/painting --content frames/ more.jpg --max_dim 1024 --output_dir out
  style-transfer-apply --model models/three --content photo.jpg --style_mix starry:0.7,scream:0.3 --strength 0.8

--model is the export of style-transfer-train (a SavedModel directory), the training run's model directory
holding it in export/, or a TensorFlow Lite file (--tflite); TensorFlow alone loads it, none of the training
code. --content names a picture or a folder (every picture in it, not recursive; other files are skipped and
counted), and further pictures or folders may follow it. Each result is written as <picture>_<model>.png in
--output_dir (default: the current directory), numbered _2, _3, ... if that name is taken, and each path
written is printed. Same-size pictures are stylised --batch_size at a time. A video (--content clip.mp4) gives
clip_<model>.mp4, frame by frame, with its sound (docs/video.md).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import flags  # noqa: E402

from style_transfer import cli  # noqa: E402
from style_transfer.cli import UsageError  # noqa: E402
from style_transfer.core import files, image_io  # noqa: E402
from style_transfer.core.errors import ImageError  # noqa: E402
from style_transfer.core.progress import Progress  # noqa: E402
from style_transfer.fast import apply as pipeline, fast_layout  # noqa: E402
from style_transfer.fast.apply import OutputNames, Picture  # noqa: E402
from style_transfer.fast.apply_config import APPLY_DEFAULT, ApplyConfig  # noqa: E402
from style_transfer.cli import apply_video  # noqa: E402
from style_transfer.video import io as video_io  # noqa: E402  (imports neither PyAV nor OpenCV)

PROGRAM = "style-transfer-apply"
COMMAND = cli.Command(PROGRAM, __doc__)
FLAGS = COMMAND.flags
# The lock of core.files' stderr captures (image_io holds one while it decodes, in the pipeline's threads):
# what this module prints to stderr takes it, so it never lands in a capture; the signal handler's messages
# and the error line take it too.
STDERR_LOCK = files.STDERR_LOCK

flags.DEFINE_string("model", None, "The trained network: an export of style-transfer-train (a SavedModel "
                    "directory), a training run's model directory holding one in export/, or a .tflite file "
                    "(style-transfer-train --tflite).", flag_values=FLAGS)
flags.DEFINE_string("content", None, "The picture to stylise, or a folder of them (every picture in it, not "
                    "recursive); more pictures or folders may follow as arguments.", flag_values=FLAGS)
flags.DEFINE_string("output", None, "Where to write the result when there is exactly one picture (.png, .jpg, "
                    ".webp, .bmp, .tif); default <picture>_<model>.png in --output_dir.", flag_values=FLAGS)
flags.DEFINE_string("output_dir", None, "Where the results go, as <picture>_<model>.png (numbered _2, _3, ... "
                    "when taken); default the current directory.", flag_values=FLAGS)
flags.DEFINE_bool("overwrite", False, "Replace existing results: --output, or the default names (which are "
                  "otherwise numbered around existing files). Without it an existing --output is an error.",
                  flag_values=FLAGS)
flags.DEFINE_bool("progress", True, "Show a progress line on stderr (only when stderr is a terminal).",
                  flag_values=FLAGS)
cli.define_config_flags(ApplyConfig, APPLY_DEFAULT.to_flat_dict(), FLAGS, module_name=__name__)
COMMAND.groups = (
    ("Required", ("model", "content")),
    ("Most used", ("output", "output_dir", "style", "style_mix", "strength", "preserve_colors", "max_dim",
                   "overwrite")),
    ("Input pictures", ("max_megapixels",)),
    ("Videos", ("temporal_weight", "resume")),
    ("Speed", ("batch_size", "precision")),
    ("Output and monitoring", ("progress",)),
)


def config_from_flags() -> ApplyConfig:
    return APPLY_DEFAULT.replace(**cli.config_changes(ApplyConfig, FLAGS))


def check_flags(argv: list[str]) -> tuple[list[str], ApplyConfig]:
    """The inputs (--content, then the arguments) and the settings; UsageError or ConfigError for a mistaken
    command line."""
    for name in ("model", "content"):
        if not FLAGS[name].value:
            raise UsageError(f"--{name} is required (--model EXPORT --content PICTURE_OR_FOLDER [MORE ...])")
    if FLAGS.output and FLAGS.output_dir:
        raise UsageError("--output and --output_dir: give one (--output is the path of a single result)")
    if FLAGS.style is not None and FLAGS.style_mix is not None:
        raise UsageError("--style picks one style and --style_mix blends several: give one of them")
    config = config_from_flags()
    inputs = [FLAGS.content, *argv[1:]]
    if FLAGS.output and len(inputs) > 1:
        raise UsageError(f"--output names one result but {len(inputs)} inputs are given; use --output_dir")
    return inputs, config


def check_paths(inputs: list[str], config: ApplyConfig) -> None:
    """The mistakes found before TensorFlow is imported, which is slow: an input picture that is missing or
    not a picture (ImageError), a --model that is not an export (ModelError: missing, or a folder without a
    SavedModel, such as a training run that has not exported yet), an --output that exists (UsageError).
    find_pictures, export.load and plan_outputs check the rest, and say the same of these."""
    for name in inputs:
        if not Path(name).is_dir():
            image_io.read_header(name, max_pixels=config.max_pixels)
    fast_layout.find_export(FLAGS.model)
    if FLAGS.output:
        with cli.outputs_as_usage_errors():
            image_io.check_output_path(FLAGS.output, overwrite=FLAGS.overwrite)


def plan_outputs(pictures: list[Picture], names: OutputNames, model: str) -> None:
    """Sets each picture's output path and checks that it can be written; UsageError if not (before any work)."""
    with cli.outputs_as_usage_errors():
        if FLAGS.output:
            if len(pictures) != 1:
                raise UsageError(f"--output names one result but the inputs hold {len(pictures)} pictures; use "
                                 "--output_dir")
            pictures[0].output = image_io.check_output_path(FLAGS.output, overwrite=FLAGS.overwrite)
            return
        image_io.check_writable_directory(names.directory)
        for picture in pictures:
            picture.output = image_io.check_output_path(names.claim(f"{picture.path.stem}_{model}"),
                                                        overwrite=FLAGS.overwrite)


def report(message: str) -> None:
    """One line on stderr, `style-transfer-apply: message`, never inside a decoder's stderr capture."""
    with STDERR_LOCK:
        print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)


def stylise(stylizer, style, pictures: list[Picture], config: ApplyConfig, model: str, names: OutputNames,
             stopper: cli.StopOnSignal) -> tuple[int, list[Picture]]:
    """pipeline.stylise_all with what the terminal shows: each path written (stdout), each picture skipped
    (stderr) and the progress line (stderr, on a terminal); a signal stops it after the batch, and waits for
    a result being written."""
    progress = Progress(len(pictures), "picture", stream=sys.stderr, enabled=FLAGS.progress)

    def written(picture: Picture, path: Path, size: tuple[int, int]) -> None:
        progress.clear()
        print(f"Wrote {path} ({size[1]}x{size[0]}, from {picture.path})", flush=True)
        progress.update()

    def failed(picture: Picture, reason: str) -> None:
        progress.clear()
        report(f"skipped {reason}")
        progress.update()

    with progress:  # closed under STDERR_LOCK: it waits for a picture still being decoded
        return pipeline.stylise_all(stylizer, style, pictures, config, model=model,
                                    names=None if FLAGS.output else names, overwrite=FLAGS.overwrite,
                                    on_written=written, on_failed=failed, should_stop=lambda: bool(stopper.received),
                                    on_busy=saving_flag(stopper))


def saving_flag(stopper: cli.StopOnSignal):
    """A BackgroundWriter's on_busy that makes signals wait while a result is being written."""
    def on_busy(busy: bool) -> None:
        stopper.saving = busy

    return on_busy


def main(argv: list[str]) -> int:
    inputs, config = check_flags(argv)
    if any(video_io.is_video(name) for name in inputs):
        return apply_video.main(inputs, config, model=FLAGS.model, output=FLAGS.output,
                                output_dir=FLAGS.output_dir, overwrite=FLAGS.overwrite, progress=FLAGS.progress)

    # Everything that can be checked is checked before the model is loaded or a picture decoded, and the
    # commonest mistakes before TensorFlow is imported, so they are reported at once.
    check_paths(inputs, config)
    cli.import_tensorflow_quietly()  # before anything imports it, so its start-up banner stays hidden
    from style_transfer.fast import export

    pictures, skipped = pipeline.find_pictures(inputs, max_pixels=config.max_pixels, max_dim=config.max_dim)
    # The network's styles name the results, so it is loaded before they are planned.
    stylizer = export.load(FLAGS.model, config.precision)
    style, suffix = pipeline.chosen_style(stylizer, config)
    model = pipeline.model_name(FLAGS.model) + suffix
    names = OutputNames(Path(FLAGS.output_dir or "."), FLAGS.overwrite)
    plan_outputs(pictures, names, model)
    for problem in skipped:
        report(f"skipped {problem}")

    started = time.perf_counter()
    with cli.StopOnSignal(PROGRAM, "write the pictures of this batch") as stopper:
        written, failed = stylise(stylizer, style, pictures, config, model, names, stopper)
    seconds = time.perf_counter() - started
    per_picture = f"{seconds / written:.2f} s per picture" if written else "no picture"
    print(f"Stylised {written} picture{'' if written == 1 else 's'} in {seconds:.1f} s ({per_picture} in "
          f"{stylizer.precision}, excluding model loading)")
    if skipped or failed:
        report(f"{len(skipped) + len(failed)} of {len(pictures) + len(skipped)} files skipped")
    if stopper.received:
        report(f"{signal.Signals(stopper.received).name}: stopped after {written} of {len(pictures)} pictures; "
               "the ones written are kept")
        return 128 + stopper.received
    named = [str(picture.path) for picture in failed if picture.explicit]
    if named:
        raise ImageError(f"could not stylise {', '.join(named)} (see above)")
    if not written:
        raise ImageError("no picture could be stylised (see above)")
    return 0


def console_main() -> None:
    """Entry point of the `style-transfer-apply` console script and of `python -m style_transfer.apply`."""
    COMMAND.console_main(main)


if __name__ == "__main__":
    console_main()
