"""Fast style transfer: stylises pictures with a trained network, one forward pass each (Johnson et al. 2016).

  style-transfer-apply --model models/painting --content photo.jpg
  style-transfer-apply --model models/painting --content frames/ more.jpg --max_dim 1024 --output_dir out
  style-transfer-apply --model models/three --content photo.jpg --style_mix starry:0.7,scream:0.3 --strength 0.8

--model is the export of style-transfer-train (a SavedModel directory), the training run's model directory
holding it in export/, or a TensorFlow Lite file (--tflite); TensorFlow alone loads it, none of the training
code. --content names a picture or a folder (every picture in it, not recursive; other files are skipped and
counted), and further pictures or folders may follow it. Each result is written as <picture>_<model>.png in
--output_dir (default: the current directory), numbered _2, _3, ... if that name is taken, and each path
written is printed. Same-size pictures are stylised --batch_size at a time.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from style_transfer import cli  # noqa: E402
from style_transfer.fast import fast_layout  # noqa: E402
from style_transfer.core import files, image_io  # noqa: E402
from style_transfer.cli import UsageError  # noqa: E402
from style_transfer.core.config import APPLY_PRESERVE_COLORS_CHOICES, PRECISION_CHOICES, StyleConfig  # noqa: E402
from style_transfer.core.errors import ConfigError, ImageError, OutputExistsError  # noqa: E402

PROGRAM = "style-transfer-apply"
# zlib level 3 instead of Pillow's 6: about three times faster to write, for slightly larger files; the CPU
# time goes to the network instead (docs/performance.md).
PNG_COMPRESSION = 3
COMMAND = cli.Command(PROGRAM, __doc__)
FLAGS = COMMAND.flags
# image_io.load_image captures file descriptor 2 while it decodes (what C decoders print), and that is
# process-wide: two captures at once in two threads can leave stderr pointing at a deleted temporary file,
# and a line printed meanwhile lands in the capture. So decoding holds this lock, as does printing to stderr
# while pictures load: loading still overlaps with the network, one picture at a time. It is the captures'
# own lock, which the signal handler's messages and the error line take too.
STDERR_LOCK = files.STDERR_LOCK
_MAX_MEGAPIXELS = {field.name: field for field in dataclasses.fields(StyleConfig)}["max_megapixels"]

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
flags.DEFINE_integer("max_dim", 0, "Resize each picture (antialiased) so its longest side is this many pixels "
                     "before stylising it; 0 keeps each picture's size. The result has the stylised size.",
                     flag_values=FLAGS)
flags.DEFINE_integer("batch_size", 1, "How many pictures of the same size go through the network at once. On a "
                     "CPU one is fastest (a single picture's normalisation runs as one fused operation); on a GPU "
                     "larger batches help.", flag_values=FLAGS)
flags.DEFINE_float("max_megapixels", _MAX_MEGAPIXELS.default, _MAX_MEGAPIXELS.metadata["help"], flag_values=FLAGS)
flags.DEFINE_enum("precision", "auto", PRECISION_CHOICES, "Arithmetic of the network: "
                  "'bfloat16' is faster on CPUs with AVX512_BF16 or AMX, and slightly less exact; 'auto' picks it "
                  "on such CPUs when there is no GPU, else float32 (on a GPU, ask for bfloat16 yourself).",
                  flag_values=FLAGS)
flags.DEFINE_bool("progress", True, "Show a progress line on stderr (only when stderr is a terminal).",
                  flag_values=FLAGS)
flags.DEFINE_string("style", None, "For a network of several styles: the style to paint, by name (or the start "
                    "of one) or index (from 0); default the first. Results are then named "
                    "<picture>_<model>_<style>.png.", flag_values=FLAGS)
flags.DEFINE_list("style_mix", None, "For a network of several styles: a blend, as NAME:WEIGHT pairs (names or "
                  "indices; weights >= 0, scaled to sum to 1), e.g. starry:0.7,scream:0.3. Results are named "
                  "<picture>_<model>_mix.png.", flag_values=FLAGS)
flags.DEFINE_float("strength", 1.0, "How much of the style to apply, from 0 (the photograph unchanged) to 1 (the "
                   "network's full style); in between, the mix of the photograph and the full result.",
                   flag_values=FLAGS)
flags.DEFINE_enum("preserve_colors", "none", APPLY_PRESERVE_COLORS_CHOICES, "'luminance' keeps the "
                  "photograph's colours: the result's luminance with the photograph's chrominance (YIQ), as "
                  "style-transfer --preserve_colors luminance combines them.", flag_values=FLAGS)
COMMAND.groups = (
    ("Required", ("model", "content")),
    ("Most used", ("output", "output_dir", "style", "style_mix", "strength", "preserve_colors", "max_dim",
                   "overwrite")),
    ("Input pictures", ("max_megapixels",)),
    ("Speed", ("batch_size", "precision")),
    ("Output and monitoring", ("progress",)),
)


@dataclasses.dataclass
class Picture:
    """One input picture, where its result goes, and whether it was named on the command line (rather than
    found in a folder)."""

    path: Path
    explicit: bool
    output: Path | None = None


def check_flags(argv: list[str]) -> list[str]:
    """The inputs (--content, then the arguments); UsageError or ConfigError for a mistaken command line."""
    for name in ("model", "content"):
        if not FLAGS[name].value:
            raise UsageError(f"--{name} is required (--model EXPORT --content PICTURE_OR_FOLDER [MORE ...])")
    if FLAGS.batch_size < 1:
        raise ConfigError("batch_size", f"must be at least 1, got {FLAGS.batch_size}")
    if FLAGS.max_dim < 0 or 0 < FLAGS.max_dim < fast_layout.MIN_SIDE:
        raise ConfigError("max_dim", f"must be 0 (keep each picture's size) or at least {fast_layout.MIN_SIDE}, got "
                          f"{FLAGS.max_dim}")
    if not 0 < FLAGS.max_megapixels < math.inf:
        raise ConfigError("max_megapixels", f"must be a number > 0, got {FLAGS.max_megapixels}")
    if FLAGS.output and FLAGS.output_dir:
        raise UsageError("--output and --output_dir: give one (--output is the path of a single result)")
    if FLAGS.style is not None and FLAGS.style_mix is not None:
        raise UsageError("--style picks one style and --style_mix blends several: give one of them")
    if not 0.0 <= FLAGS.strength <= 1.0:
        raise ConfigError("strength", f"must be in [0, 1], got {FLAGS.strength:g}")
    style_mix()  # its syntax, before anything is loaded
    inputs = [FLAGS.content, *argv[1:]]
    if FLAGS.output and len(inputs) > 1:
        raise UsageError(f"--output names one result but {len(inputs)} inputs are given; use --output_dir")
    return inputs


def style_mix() -> dict[str, float] | None:
    """--style_mix as {name or index: weight}; ConfigError for a pair that is not NAME:WEIGHT with WEIGHT >= 0."""
    if FLAGS.style_mix is None:
        return None
    mix: dict[str, float] = {}
    for pair in FLAGS.style_mix:
        name, _, weight = pair.rpartition(":")
        try:
            value = float(weight)
        except ValueError:
            value = math.nan
        if not name or not 0 <= value < math.inf:
            raise ConfigError("style_mix", f"expected NAME:WEIGHT pairs with weights >= 0, e.g. "
                              f"starry:0.7,scream:0.3; got {pair!r}")
        mix[name] = mix.get(name, 0.0) + value
    if not sum(mix.values()) > 0:
        raise ConfigError("style_mix", "the weights add up to 0; give at least one weight above 0")
    return mix


def chosen_style(stylizer) -> tuple[object, str]:
    """What to pass Stylizer as `style` and the suffix of result names ("" for a one-style network);
    ConfigError naming the network's styles for a style it does not have."""
    mix = style_mix()
    try:
        if mix is not None:
            stylizer.style_weights(mix, 1)
            return mix, "_mix" if stylizer.styles > 1 else ""
        index = stylizer.style_index(FLAGS.style if FLAGS.style is not None else 0)
    except ValueError as error:
        raise ConfigError("style_mix" if mix is not None else "style", str(error)) from None
    return index, f"_{stylizer.style_names[index]}" if stylizer.styles > 1 else ""


def check_paths(inputs: list[str]) -> None:
    """The mistakes found before TensorFlow is imported, which is slow: an input picture that is missing or
    not a picture (ImageError), a --model that is not an export (ModelError: missing, or a folder without a
    SavedModel, such as a training run that has not exported yet), an --output that exists (UsageError).
    find_pictures, export.load and plan_outputs check the rest, and say the same of these."""
    for name in inputs:
        if not Path(name).is_dir():
            image_io.read_header(name, max_pixels=int(FLAGS.max_megapixels * 1e6))
    fast_layout.find_export(FLAGS.model)
    if FLAGS.output:
        with cli.outputs_as_usage_errors():
            image_io.check_output_path(FLAGS.output, overwrite=FLAGS.overwrite)


def picture_problem(path: Path, *, max_pixels: int, max_dim: int) -> str | None:
    """Why the picture file `path` cannot be stylised, judged from its header (image_io's rules, without
    decoding), as "path: reason"; None if it looks fine."""
    from style_transfer.fast import export
    from style_transfer.core import preprocessing

    try:
        _, width, height = image_io.read_header(path, max_pixels=max_pixels)
    except ImageError as error:
        return str(error)
    if width * height > max_pixels:
        return (f"{path}: {width}x{height} is {width * height / 1e6:.1f} megapixels, more than the limit of "
                f"{max_pixels / 1e6:g} (raise --max_megapixels to allow it)")
    stylised_height, stylised_width = preprocessing.target_size(height, width, max_dim) if max_dim else (height, width)
    if min(stylised_height, stylised_width) < export.MIN_SIDE:
        resized = f" ({stylised_width}x{stylised_height} at --max_dim {max_dim})" if max_dim else ""
        return (f"{path}: {width}x{height}{resized} is too small; the network needs at least {export.MIN_SIDE} "
                "pixels a side")
    return None


def decoding_problem(path: Path, *, max_pixels: int, max_dim: int) -> str | None:
    """Why the picture file `path` does not decode, as "path: reason" (image_io's words); None if it does."""
    try:
        with STDERR_LOCK:
            image_io.load_image(path, max_pixels=max_pixels, max_dim=max_dim or None)
    except ImageError as error:
        return str(error)
    return None


def find_pictures(inputs: list[str], *, max_pixels: int, max_dim: int) -> tuple[list[Picture], list[str]]:
    """The pictures to stylise, in order (a folder gives its files sorted by name), and why the other files
    in the folders are skipped. ImageError, before any work, for an input named explicitly that cannot be
    used: missing, not a picture, or a folder holding none."""
    pictures, skipped = [], []
    for name in inputs:
        path = Path(name)
        if not path.is_dir():
            problem = picture_problem(path, max_pixels=max_pixels, max_dim=max_dim)
            if problem:
                raise ImageError(problem)
            pictures.append(Picture(path, explicit=True))
            continue
        try:
            files = sorted(member for member in path.iterdir() if member.is_file())
        except OSError as error:
            raise ImageError(f"{path}: cannot list the folder ({error.strerror or error})") from None
        problems = {member: picture_problem(member, max_pixels=max_pixels, max_dim=max_dim) for member in files}
        found = [Picture(member, explicit=False) for member in files if not problems[member]]
        # One picture that decodes is enough to start (the others are decoded in turn, and skipped then if they
        # fail): a folder of damaged files stops here, before the model is loaded.
        while found:
            problems[found[0].path] = decoding_problem(found[0].path, max_pixels=max_pixels, max_dim=max_dim)
            if not problems[found[0].path]:
                break
            found.pop(0)
        if not found:
            examples = "; ".join([problem for problem in problems.values() if problem][:3])
            raise ImageError(f"{path}: a folder without pictures to stylise" + (
                f" (none of its {len(files)} files is; e.g. {examples})" if examples else " (it holds no files)"))
        pictures += found
        skipped += [problem for problem in problems.values() if problem]
    return pictures, skipped


def model_name(model: str) -> str:
    """The name results carry: the directory the user named (an export or a training run), resolved; for a
    training run's export/ (or the .tflite file in an export), the run's (or the export's) directory; for
    another .tflite file, its stem."""
    from style_transfer.fast import export

    path = Path(model).resolve()
    if path.suffix == ".tflite":
        path = path.parent if path.name == export.TFLITE_FILE else path.with_suffix("")
    if path.name == export.RUN_EXPORT and (path.parent / export.RUN_CONFIG).is_file():
        path = path.parent
    return path.name


class OutputNames:
    """Default result names in `directory`: <stem>.png, else <stem>_2.png, _3, ... passing over the names
    that exist (unless `overwrite`) and those this run has already given out."""

    def __init__(self, directory: Path, overwrite: bool):
        self.directory = directory
        self.overwrite = overwrite
        self.given: set[Path] = set()

    def claim(self, stem: str) -> Path:
        for name in files.numbered(stem, ".png"):
            candidate = self.directory / name
            free = not candidate.exists() or (self.overwrite and candidate.is_file())
            if free and candidate not in self.given:
                self.given.add(candidate)
                return candidate


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


def picture_dataset(paths: list[Path], *, max_dim: int, max_pixels: int):
    """A tf.data.Dataset of (index, image, error) for each of `paths`, in order: the picture as float32
    [H, W, 3] in [0, 1], decoded by image_io.load_image in parallel (Pillow's decoders release the GIL, so
    loading overlaps with the network) and resized so its longest side is `max_dim` (0: as it is). A picture
    whose data turns out damaged gives an empty image and the reason as `error` (bytes), instead of ending
    the pipeline."""
    import tensorflow as tf

    from style_transfer.core import preprocessing

    def load(path):
        try:
            with STDERR_LOCK:
                image = image_io.load_image(os.fsdecode(path), max_pixels=max_pixels)[0]
        except ImageError as error:
            return np.zeros((0, 0, 3), np.float32), np.zeros(2, np.int32), str(error).encode()
        size = preprocessing.target_size(*image.shape[:2], max_dim) if max_dim else image.shape[:2]
        return image, np.asarray(size, np.int32), b""

    def read(index, path):
        image, size, error = tf.numpy_function(load, [path], (tf.float32, tf.int32, tf.string), stateful=False)
        image.set_shape([None, None, 3])
        size.set_shape([2])
        error.set_shape([])
        image = tf.cond(tf.reduce_all(tf.shape(image)[:2] == size), lambda: image,
                        lambda: preprocessing.resize(image[None], size, antialias=True)[0])
        return index, image, error

    return (tf.data.Dataset.from_tensor_slices([os.fsencode(path) for path in paths]).enumerate()
            .map(read, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


def group_by_size(pictures, batch_size: int):
    """Batches (indices, float32 [B, H, W, 3]) of up to `batch_size` same-size pictures from (index, [H, W, 3])
    pairs, each picture once.

    tf.data's group_by_window would keep every size's unfinished batch until the input ends: for a folder of
    photographs of all different sizes, every photograph in memory at once. Here at most 2 * batch_size
    pictures wait; when more would, the group that started waiting first goes as it is.
    """
    waiting: dict[tuple, list] = {}  # dicts keep insertion order: the first group is the oldest
    for index, image in pictures:
        group = waiting.setdefault(image.shape, [])
        group.append((index, image))
        if len(group) == batch_size:
            yield _stacked(waiting.pop(image.shape))
        elif sum(map(len, waiting.values())) > 2 * batch_size:
            yield _stacked(waiting.pop(next(iter(waiting))))
    for group in waiting.values():
        yield _stacked(group)


def _stacked(group):
    return [index for index, _ in group], np.stack([image for _, image in group])


class Progress:
    """"12/40 pictures, 0.21 s per picture" redrawn in place on stderr, when `enabled` and stderr is a terminal."""

    def __init__(self, total: int, enabled: bool):
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()

    def show(self, done: int, seconds: float) -> None:
        if self.enabled:
            rate = f", {seconds / done:.2f} s per picture" if done else ""
            with STDERR_LOCK:
                print(f"\r\033[K{done}/{self.total} pictures{rate}", end="", file=sys.stderr, flush=True)

    def clear(self) -> None:
        if self.enabled:
            with STDERR_LOCK:
                print("\r\033[K", end="", file=sys.stderr, flush=True)


def png_metadata(stylizer, style, picture: Picture) -> dict[str, str]:
    from style_transfer.fast import export

    return export.result_metadata(stylizer, style, strength=FLAGS.strength, preserve_colors=FLAGS.preserve_colors,
                                  content=str(picture.path.resolve()))


def save_result(image: np.ndarray, picture: Picture, names: OutputNames, model: str, metadata: dict) -> Path:
    """Writes one result; a default name taken meanwhile (by another program) gives way to the next free one."""
    for _ in range(100):
        try:
            return image_io.save_image(image, picture.output, overwrite=FLAGS.overwrite, metadata=metadata,
                                       png_compression=PNG_COMPRESSION)
        except OutputExistsError:
            if FLAGS.output:
                raise
            picture.output = names.claim(f"{picture.path.stem}_{model}")
    return image_io.save_image(image, picture.output, overwrite=FLAGS.overwrite, metadata=metadata,
                               png_compression=PNG_COMPRESSION)


class BackgroundWriter:
    """One thread writing results. While a write is under way, `stopper.saving` is set, so a signal then
    waits for it instead of quitting halfway (a second Ctrl-C during the network's computation of the next
    batch would otherwise kill a write in progress)."""

    def __init__(self, stopper: cli.StopOnSignal):
        self._stopper = stopper
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"{PROGRAM}-writer")
        self._lock = threading.Lock()
        self._in_flight = 0

    def submit(self, function, *args) -> concurrent.futures.Future:
        with self._lock:
            self._in_flight += 1
            self._stopper.saving = True
        future = self._executor.submit(function, *args)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future) -> None:
        with self._lock:
            self._in_flight -= 1
            self._stopper.saving = self._in_flight > 0

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


def report(message: str) -> None:
    """One line on stderr, `style-transfer-apply: message`, never inside a decoder's stderr capture."""
    with STDERR_LOCK:
        print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)


def stylise_all(stylizer, style, pictures: list[Picture], names: OutputNames, model: str,
                stopper: cli.StopOnSignal, progress: Progress) -> tuple[int, list[Picture]]:
    """Loads, stylises (in `style`, with --strength and --preserve_colors) and writes the pictures batch by
    batch until done or until `stopper` has received a signal; prints each path written. Returns how many
    were written and the pictures that failed to load."""
    failed: list[Picture] = []
    started = time.perf_counter()

    def loaded(dataset):
        for index, image, error in dataset.as_numpy_iterator():
            if error:
                progress.clear()
                report(f"skipped {error.decode()}")
                failed.append(pictures[index])
            else:
                yield index, image

    dataset = picture_dataset([picture.path for picture in pictures], max_dim=FLAGS.max_dim,
                              max_pixels=int(FLAGS.max_megapixels * 1e6))
    batches = group_by_size(loaded(dataset), FLAGS.batch_size)
    # Results are encoded and written by one thread while the network computes the next batch (zlib
    # releases the GIL): at most one batch waits to be written. Paths are printed in order, once written.
    writer = BackgroundWriter(stopper)
    pending: list[tuple[concurrent.futures.Future, Picture]] = []
    written = 0

    def confirm_pending(*, raise_errors: bool = True):
        nonlocal written
        while pending:
            future, picture = pending.pop(0)
            try:
                path, (height, width) = future.result()
            except Exception:
                if raise_errors:
                    raise
                continue
            progress.clear()
            print(f"Wrote {path} ({width}x{height}, from {picture.path})", flush=True)
            written += 1
        progress.show(written + len(failed), time.perf_counter() - started)

    def write(result, picture):
        return (save_result(result[None], picture, names, model, png_metadata(stylizer, style, picture)),
                result.shape[:2])

    try:
        for indices, images in batches:
            results = stylizer(images, style, strength=FLAGS.strength, preserve_colors=FLAGS.preserve_colors)
            confirm_pending()  # the previous batch, written while this one was computed
            for index, result in zip(indices, results):
                pending.append((writer.submit(write, result, pictures[index]), pictures[index]))
            if stopper.received:
                break
        confirm_pending()
    except BaseException:
        # Whatever went wrong, the results already computed are written and reported before the error.
        confirm_pending(raise_errors=False)
        raise
    finally:
        batches.close()  # ends the pipeline, so nothing decodes while the last lines are printed
        writer.shutdown()
        with STDERR_LOCK:  # and waits for a picture still being decoded
            progress.clear()
    return written, failed


def main(argv: list[str]) -> int:
    inputs = check_flags(argv)
    max_pixels = int(FLAGS.max_megapixels * 1e6)

    # Everything that can be checked is checked before the model is loaded or a picture decoded, and the
    # commonest mistakes before TensorFlow is imported, so they are reported at once.
    check_paths(inputs)
    cli.import_tensorflow_quietly()  # before anything imports it, so its start-up banner stays hidden
    from style_transfer.fast import export

    pictures, skipped = find_pictures(inputs, max_pixels=max_pixels, max_dim=FLAGS.max_dim)
    # The network's styles name the results, so it is loaded before they are planned.
    stylizer = export.load(FLAGS.model, FLAGS.precision)
    style, suffix = chosen_style(stylizer)
    model = model_name(FLAGS.model) + suffix
    names = OutputNames(Path(FLAGS.output_dir or "."), FLAGS.overwrite)
    plan_outputs(pictures, names, model)
    for problem in skipped:
        report(f"skipped {problem}")

    started = time.perf_counter()
    with cli.StopOnSignal(PROGRAM, "write the pictures of this batch") as stopper:
        written, failed = stylise_all(stylizer, style, pictures, names, model, stopper,
                                      Progress(len(pictures), FLAGS.progress))
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
