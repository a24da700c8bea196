"""Neural style transfer (Gatys et al. 2015) from the command line.

  python -m style_transfer.run --content photo.jpg --style painting.jpg
  style-transfer --content photo.jpg --style painting.jpg --preset tutorial --steps 200 --logdir runs

Writes the stylised image (default: <content>_<style>.png in the current directory) and prints where it
went. Every setting of style_transfer.config.StyleConfig is a flag; --preset picks a named set of them and
flags given explicitly override it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tempfile
from pathlib import Path

# TensorFlow's C++ log lines (missing CUDA on a CPU machine, ...) are noise on a terminal; set before it loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

from style_transfer import config as config_lib  # noqa: E402
from style_transfer.errors import ConfigError, OutputExistsError, StyleTransferError  # noqa: E402

PROGRAM = "style-transfer"
FLAGS = flags.FLAGS

flags.DEFINE_string("content", None, "The photograph to repaint (JPEG, PNG, GIF, BMP, WebP, TIFF).")
flags.DEFINE_string("style", None, "The painting whose style to apply.")
flags.DEFINE_string("output", None, "Where to write the result (.png, .jpg, .webp, .bmp, .tif); default "
                    "<content>_<style>.png in the current directory, numbered if that name is taken.")
flags.DEFINE_bool("overwrite", False, "Replace --output if it exists (otherwise an existing file is an error).")
flags.DEFINE_string("preset", "default", f"Named settings: {', '.join(config_lib.PRESETS)} ('tutorial' "
                    "reproduces the TensorFlow tutorial exactly). Flags given explicitly override the preset.")
flags.DEFINE_bool("progress", True, "Show a progress bar (only when stdout is a terminal).")
flags.DEFINE_bool("summary", True, "Also write <output>_summary.png: content | style | result over the loss "
                  "curves.")


def _define_config_flags() -> None:
    """One flag per StyleConfig field, default and help from the field, so CLI and API cannot disagree."""
    for field in dataclasses.fields(config_lib.StyleConfig):
        default = getattr(config_lib.DEFAULT, field.name)
        help_text = field.metadata["help"]
        if field.metadata.get("choices"):
            help_text += f" One of: {', '.join(field.metadata['choices'])}."
        if field.type == "bool":
            flags.DEFINE_bool(field.name, default, help_text)
        elif field.type == "int":
            flags.DEFINE_integer(field.name, default, help_text)
        elif field.type == "float":
            flags.DEFINE_float(field.name, default, help_text)
        elif field.type == "dict":
            flags.DEFINE_string(field.name, config_lib.format_layer_weights(default), help_text)
        else:
            flags.DEFINE_string(field.name, default, help_text)


_define_config_flags()


# Lines TensorFlow's C++ runtime writes while it is imported, before its logging honours
# TF_CPP_MIN_LOG_LEVEL: a banner about absl::InitializeLog, oneDNN and CPU-feature notes, missing CUDA.
_TENSORFLOW_IMPORT_BANNER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard|cuda_\w+)\.cc:\d+\] .*)$")


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its start-up banner filtered out of stderr; any other line is passed on."""
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            captured.seek(0)
            for line in captured.read().decode("utf8", "replace").splitlines():
                if not _TENSORFLOW_IMPORT_BANNER.match(line):
                    print(line, file=sys.stderr)


class UsageError(Exception):
    """A mistake in the command line; exit status 2."""


def config_from_flags() -> config_lib.StyleConfig:
    """The --preset's config with every explicitly given config flag applied (and validated)."""
    base = config_lib.preset(FLAGS.preset)
    changes = {field.name: FLAGS[field.name].value for field in dataclasses.fields(config_lib.StyleConfig)
               if FLAGS[field.name].present}
    return base.replace(**changes)


def default_output(content: str, style: str) -> Path:
    """<content stem>_<style stem>.png in the current directory; _2, _3, ... if the name is taken (by the
    picture or by its intermediate-image directory)."""
    stem = f"{Path(content).stem}_{Path(style).stem}"
    number = 1
    while True:
        candidate = Path(f"{stem}.png" if number == 1 else f"{stem}_{number}.png")
        if not any(path.exists() for path in (candidate, steps_directory(candidate), summary_path(candidate))):
            return candidate
        number += 1


def steps_directory(output: Path) -> Path:
    """Where --save_every puts its pictures: <output stem>_steps/ beside the output."""
    return output.with_name(f"{output.stem}_steps")


def summary_path(output: Path) -> Path:
    """Where --summary puts its figure: <output stem>_summary.png beside the output."""
    return output.with_name(f"{output.stem}_summary.png")


def check_outputs(config: config_lib.StyleConfig) -> Path:
    """The output path, after checking everything the run will write (UsageError if it cannot)."""
    from style_transfer import image_io
    from style_transfer.errors import ImageError, OutputError

    try:
        if FLAGS.output:
            output = image_io.check_output_path(FLAGS.output, overwrite=FLAGS.overwrite)
        else:
            output = image_io.check_output_path(default_output(FLAGS.content, FLAGS.style))
        if FLAGS.summary:
            image_io.check_output_path(summary_path(output), overwrite=FLAGS.overwrite)
        if config.save_every:
            steps_dir = steps_directory(output)
            if steps_dir.is_dir() and any(steps_dir.iterdir()) and not FLAGS.overwrite:
                raise UsageError(f"{steps_dir}: already holds pictures; pass --overwrite to replace them or "
                                 "choose another --output")
            image_io.check_writable_directory(steps_dir)
        if config.logdir:
            image_io.check_writable_directory(config.logdir)
    except OutputExistsError as error:
        raise UsageError(f"{error} (pass --overwrite to replace it)") from None
    except OutputError as error:
        raise UsageError(f"cannot write outputs: {error}") from None
    except ImageError as error:
        raise UsageError(str(error)) from None
    return output


def save_result(result, output: Path) -> Path:
    """Saves the result; a default name taken meanwhile (say by a parallel run) gives way to the next free one."""
    if FLAGS.output:
        return result.save(output, overwrite=FLAGS.overwrite)
    for _ in range(100):
        try:
            return result.save(output)
        except OutputExistsError:
            output = default_output(FLAGS.content, FLAGS.style)
    return result.save(output)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise UsageError(f"unexpected argument {argv[1]!r} (all inputs are flags, e.g. --content PATH)")
    for name in ("content", "style"):
        if not FLAGS[name].value:
            raise UsageError(f"--{name} is required (--content PHOTO --style PAINTING)")
    config = config_from_flags()

    # Everything that can be checked is checked before VGG19 is built or a step is run.
    output = check_outputs(config)
    _import_tensorflow_quietly()
    from style_transfer import api, callbacks

    extra_callbacks = []
    if FLAGS.progress and sys.stdout.isatty() and config.steps:
        extra_callbacks.append(callbacks.ProgressBar(config.steps))
    if config.save_every:
        extra_callbacks.append(callbacks.ImageSaver(steps_directory(output), config.save_every,
                                                    overwrite=FLAGS.overwrite))
    run_name = f"{Path(FLAGS.content).stem}_{Path(FLAGS.style).stem}"
    # stylize loads (and so checks) both pictures before it builds VGG19 or runs a step.
    result = api.stylize(FLAGS.content, FLAGS.style, config, callbacks=extra_callbacks, run_name=run_name)
    written = save_result(result, output)
    summary = None
    if FLAGS.summary:
        title = f"{Path(FLAGS.content).name} in the style of {Path(FLAGS.style).name}: {result.describe()}"
        summary = result.save_summary(summary_path(written), overwrite=FLAGS.overwrite, title=title)
    height, width = result.image.shape[1:3]
    rate = f", {config.steps / result.seconds:.2f} steps/s" if config.steps and result.seconds > 0 else ""
    print(f"Wrote {written} ({width}x{height}, {config.steps} steps in {result.seconds:.1f} s{rate})")
    if summary:
        print(f"Summary figure in {summary}")
    if config.save_every and config.steps >= config.save_every:
        print(f"Every {config.save_every} steps' image in {steps_directory(output)}/")
    if result.run_dir:
        print(f"TensorBoard logs in {result.run_dir}; view with: tensorboard --logdir {config.logdir}")
    return 0


def usage() -> str:
    """The --help text: what the command does and every flag it defines, with defaults."""
    return f"{__doc__.strip()}\n\nFlags:\n{FLAGS.module_help(sys.modules[__name__])}\n"


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
        _fail(str(error), 2)


def _fail(message: str, status: int):
    print(f"{PROGRAM}: error: {message}", file=sys.stderr)
    sys.exit(status)


def _main_with_errors(argv: list[str]) -> int:
    try:
        return main(argv)
    except ConfigError as error:
        _fail(f"--{error.field}: {error.message}", 2)
    except OutputExistsError as error:
        _fail(f"{error} (pass --overwrite to replace it)", 1)
    except UsageError as error:
        _fail(str(error), 2)
    except StyleTransferError as error:
        _fail(str(error), 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)


def console_main() -> None:
    """Entry point of the `style-transfer` console script and of `python -m style_transfer.run`."""
    app.run(_main_with_errors, flags_parser=_parse_flags)


if __name__ == "__main__":
    console_main()
