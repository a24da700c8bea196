"""Applying a trained network to many pictures, the pipeline behind style-transfer-apply: finding the
pictures (a folder gives its pictures, the other files are skipped with the reason), decoding them in
parallel, grouping same-size pictures into batches, and writing each result while the network computes the
next batch (`stylise_all`).

Library code: what happens is told through callbacks, mistakes are raised (ImageError, ConfigError); the
command line (cli/apply.py) prints and exits.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from style_transfer.core import files, image_io
from style_transfer.core.errors import ConfigError, ImageError, OutputExistsError
from style_transfer.fast.apply_config import ApplyConfig
from style_transfer.fast.writer import BackgroundWriter

# zlib level 3 instead of Pillow's 6: about three times faster to write, for slightly larger files; the CPU
# time goes to the network instead (docs/performance.md).
PNG_COMPRESSION = 3
# image_io.load_image captures file descriptor 2 while it decodes (what C decoders print), and that is
# process-wide: two captures at once in two threads can leave stderr pointing at a deleted temporary file,
# and a line printed meanwhile lands in the capture. So decoding holds this lock, as does whoever prints to
# stderr while pictures load (core.progress does): loading still overlaps with the network, one picture at a
# time.
STDERR_LOCK = files.STDERR_LOCK


@dataclasses.dataclass
class Picture:
    """One input picture, where its result goes, and whether it was named on the command line (rather than
    found in a folder)."""

    path: Path
    explicit: bool
    output: Path | None = None


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


def chosen_style(stylizer, config: ApplyConfig) -> tuple[object, str]:
    """What to pass Stylizer as `style` and the suffix of result names ("" for a one-style network);
    ConfigError naming the network's styles for a style it does not have."""
    mix = config.style_mix
    try:
        if mix is not None:
            stylizer.style_weights(mix, 1)
            return mix, "_mix" if stylizer.styles > 1 else ""
        index = stylizer.style_index(config.style if config.style is not None else 0)
    except ValueError as error:
        raise ConfigError("style_mix" if mix is not None else "style", str(error)) from None
    return index, f"_{stylizer.style_names[index]}" if stylizer.styles > 1 else ""


def png_metadata(stylizer, style, picture: Picture, config: ApplyConfig) -> dict[str, str]:
    """What a result's PNG records: the program, the network and its metadata, the arithmetic, the style
    weights painted, the controls and the picture it came from."""
    from style_transfer import __version__

    weights = stylizer.style_weights(style, 1)[0]
    painted = {name: round(float(weight), 6) for name, weight in zip(stylizer.style_names, weights) if weight > 0}
    return {"Software": f"style_transfer {__version__}", "style_transfer:model": str(stylizer.directory.resolve()),
            "style_transfer:model_metadata": json.dumps(stylizer.metadata),
            "style_transfer:precision": stylizer.precision,
            "style_transfer:style": json.dumps(painted),
            "style_transfer:controls": json.dumps({"strength": config.strength,
                                                   "preserve_colors": config.preserve_colors}),
            "style_transfer:content": str(picture.path.resolve())}


def save_result(image: np.ndarray, picture: Picture, metadata: dict, *, overwrite: bool,
                names: OutputNames | None, model: str) -> Path:
    """Writes one result, float32 [1, H, W, 3] in [0, 1], to `picture.output`. A default name taken meanwhile
    (by another program) gives way to the next free one of `names`; with `names` None (a path the user chose)
    that is an OutputExistsError."""
    for _ in range(100):
        try:
            return image_io.save_image(image, picture.output, overwrite=overwrite, metadata=metadata,
                                       png_compression=PNG_COMPRESSION)
        except OutputExistsError:
            if names is None:
                raise
            picture.output = names.claim(f"{picture.path.stem}_{model}")
    return image_io.save_image(image, picture.output, overwrite=overwrite, metadata=metadata,
                               png_compression=PNG_COMPRESSION)


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


def stylise_all(stylizer, style, pictures: list[Picture], config: ApplyConfig, *, model: str,
                names: OutputNames | None, overwrite: bool = False,
                on_written: Callable[[Picture, Path, tuple[int, int]], None] = lambda *_: None,
                on_failed: Callable[[Picture, str], None] = lambda *_: None,
                should_stop: Callable[[], bool] = lambda: False,
                on_busy: Callable[[bool], None] | None = None) -> tuple[int, list[Picture]]:
    """Loads, stylises (in `style`, with config.strength and config.preserve_colors) and writes the pictures
    (each to its `output`, see save_result for `names` and `model`) batch by batch, until done or until
    `should_stop()` after a batch. Returns how many were written and the pictures that failed to load.

    In order, in the calling thread: `on_written(picture, path, (height, width))` once a result is written,
    `on_failed(picture, reason)` for a picture whose data turns out damaged. `on_busy(True/False)`: whether
    a result is being written (BackgroundWriter). Whatever goes wrong, the results already computed are
    written and reported before the error is raised.
    """
    failed: list[Picture] = []

    def loaded(dataset):
        for index, image, error in dataset.as_numpy_iterator():
            if error:
                failed.append(pictures[index])
                on_failed(pictures[index], error.decode())
            else:
                yield index, image

    dataset = picture_dataset([picture.path for picture in pictures], max_dim=config.max_dim,
                              max_pixels=config.max_pixels)
    batches = group_by_size(loaded(dataset), config.batch_size)
    # Results are encoded and written by one thread while the network computes the next batch (zlib
    # releases the GIL): at most one batch waits to be written. They are reported in order, once written.
    writer = BackgroundWriter(on_busy)
    pending: list[tuple[concurrent.futures.Future, Picture]] = []
    written = 0

    def confirm_pending(*, raise_errors: bool = True):
        nonlocal written
        while pending:
            future, picture = pending.pop(0)
            try:
                path, size = future.result()
            except Exception:
                if raise_errors:
                    raise
                continue
            written += 1
            on_written(picture, path, size)

    def write(result, picture):
        metadata = png_metadata(stylizer, style, picture, config)
        return (save_result(result[None], picture, metadata, overwrite=overwrite, names=names, model=model),
                result.shape[:2])

    try:
        for indices, images in batches:
            results = stylizer(images, style, strength=config.strength, preserve_colors=config.preserve_colors)
            confirm_pending()  # the previous batch, written while this one was computed
            for index, result in zip(indices, results):
                pending.append((writer.submit(write, result, pictures[index]), pictures[index]))
            if should_stop():
                break
        confirm_pending()
    except BaseException:
        confirm_pending(raise_errors=False)
        raise
    finally:
        batches.close()  # ends the pipeline: nothing is decoded once this returns, but a picture under way
        writer.shutdown()
    return written, failed
