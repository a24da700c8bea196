"""Training pictures: a folder of photographs as an endless tf.data pipeline of random square crops.

    paths -> (shard per worker) -> shuffle -> repeat -> read + decode + resize + crop + flip (parallel)
          -> drop undecodable -> batch -> prefetch

`scan_folder` looks at every file's header once (Pillow, no decoding) and keeps the pictures TensorFlow's
decoders read (JPEG, PNG, GIF, BMP, WebP); the rest are skipped and counted. A file whose header is fine but
whose data is damaged is dropped by the pipeline itself (Dataset.ignore_errors, which logs it).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import tensorflow as tf

from style_transfer import image_io
from style_transfer.errors import DataError, ImageError

DECODABLE_FORMATS = {"JPEG", "PNG", "GIF", "BMP", "WEBP"}  # what tf.io.decode_image reads


@dataclasses.dataclass
class ImageFolder:
    """The usable pictures of a folder (`paths`, sorted) and the skipped files with the reason for each."""

    directory: Path
    paths: list[str]
    skipped: list[tuple[str, str]]


def scan_folder(directory: str | os.PathLike, *, max_pixels: int | None = None) -> ImageFolder:
    """Every picture under `directory` (recursively; hidden files and folders excluded) that TensorFlow can
    decode. DataError if the folder is missing or holds no usable picture."""
    directory = Path(directory)
    if not directory.exists():
        raise DataError(f"data folder {directory}: no such folder")
    if not directory.is_dir():
        raise DataError(f"data folder {directory}: not a folder")
    files = sorted(path for path in directory.rglob("*")
                   if path.is_file() and not any(part.startswith(".") for part in path.relative_to(directory).parts))
    if not files:
        raise DataError(f"data folder {directory}: empty; put training photographs (JPEG, PNG, ...) in it")
    paths, skipped = [], []
    for path in files:
        reason = _unusable(path, max_pixels)
        if reason:
            skipped.append((str(path), reason))
        else:
            paths.append(str(path))
    if not paths:
        raise DataError(f"data folder {directory}: none of its {len(files)} files is a picture TensorFlow can read "
                        f"(JPEG, PNG, GIF, BMP, WebP); for example {skipped[0][0]}: {skipped[0][1]}")
    return ImageFolder(directory, paths, skipped)


def _unusable(path: Path, max_pixels: int | None) -> str:
    try:
        picture_format, width, height = image_io.read_header(path, max_pixels=max_pixels)
    except ImageError:
        return "not a picture"
    if picture_format not in DECODABLE_FORMATS:
        return f"{picture_format} pictures are not read by tf.data (JPEG, PNG, GIF, BMP, WebP are)"
    if max_pixels and width * height > max_pixels:
        return f"{width}x{height} is above the limit of {max_pixels / 1e6:g} megapixels"
    return ""


def training_dataset(paths: list[str], *, image_size: int, batch_size: int, seed: int, skip_batches: int = 0,
                     input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """Endless batches of float32 [batch_size, image_size, image_size, 3] crops in [0, 1].

    Each picture is resized (antialiased) so its short side is image_size, cropped at a random place and
    flipped at random, with stateless randomness from `seed`, so a run is reproducible. Under
    `tf.distribute`, `input_context` shards the files among the input pipelines (one per worker) and
    `batch_size` is then the per-replica batch.

    `skip_batches` starts the sequence that many batches in, as a resumed run needs: the file order and
    each crop depend only on the seed and the position, and the skipped files are never decoded. (A file
    whose data turns out damaged is dropped, so after one the batches shift by a picture.)
    """
    files = tf.data.Dataset.from_tensor_slices(paths)
    if input_context is not None and input_context.num_input_pipelines > 1:
        if len(paths) >= input_context.num_input_pipelines:
            files = files.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        # Fewer files than workers: every worker reads them all, in its own order.
        seed = seed + 1000003 * input_context.input_pipeline_id
    files = (files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True).repeat().enumerate()
             .skip(skip_batches * batch_size))

    def load(index, path):
        image = _short_side_resized(_decode(path), image_size)
        element_seed = tf.stack([tf.cast(seed, tf.int64), index])
        image = tf.image.stateless_random_crop(image, [image_size, image_size, 3], seed=element_seed)
        image = tf.image.stateless_random_flip_left_right(image, seed=element_seed + 1)
        return tf.clip_by_value(image, 0.0, 1.0)

    return (files.map(load, num_parallel_calls=tf.data.AUTOTUNE)
            .ignore_errors(log_warning=True)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))


def _decode(path) -> tf.Tensor:
    return tf.io.decode_image(tf.io.read_file(path), channels=3, dtype=tf.float32, expand_animations=False)


def _short_side_resized(image: tf.Tensor, size: int) -> tf.Tensor:
    """[H, W, 3] -> antialiased resize whose short side is `size` (the long side at least `size` too)."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    new_size = tf.maximum(tf.cast(tf.math.ceil(shape * size / tf.reduce_min(shape)), tf.int32), size)
    return tf.image.resize(image, new_size, antialias=True)


def sample_batch(paths: list[str], *, image_size: int, count: int = 4) -> tf.Tensor:
    """Centre crops of the first `count` pictures (or fewer), [N, image_size, image_size, 3]: a fixed batch
    whose stylisations show training's progress in TensorBoard."""
    samples = []
    for path in paths:
        try:
            image = _short_side_resized(_decode(path), image_size)
        except tf.errors.OpError:  # damaged data: the pipeline drops it too
            continue
        samples.append(tf.image.resize_with_crop_or_pad(image, image_size, image_size))
        if len(samples) == count:
            break
    return tf.clip_by_value(tf.stack(samples), 0.0, 1.0)
