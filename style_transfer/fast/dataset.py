"""Training pictures: a folder of photographs as an endless tf.data pipeline of random square crops.

    paths -> (shard per worker) -> shuffle -> repeat -> decode (image_io) -> drop the undecodable
          -> resize + crop + flip (parallel) -> batch -> prefetch

`scan_folder` reads every file's header (Pillow, no decoding) and keeps the pictures in the formats below;
the rest are skipped and counted. It then decodes pictures in order until one succeeds in each worker's
share of the files (`worker_share`), so a folder of damaged files stops before training, in seconds,
whatever its size. A picture whose data turns out damaged later is skipped with one log line and not read
again; should every picture fail, the pipeline ends (rather than searching forever for one that decodes),
and training stops with one line.

Importing this module does not import TensorFlow: the command line scans the folder before paying for that.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from absl import logging

from style_transfer.core import files, image_io
from style_transfer.core.errors import DataError, ImageError

# The formats tf.io.decode_image reads, which the pipeline read until it decoded with image_io: a folder
# usable then is usable now, and a folder usable now is one TensorFlow programs can read too.
DECODABLE_FORMATS = {"JPEG", "PNG", "GIF", "BMP", "WEBP"}
# image_io.load_image redirects file descriptor 2 while a decoder runs (to catch what C decoders print):
# that is process-wide, so the pipeline's parallel calls decode one at a time, and log under the same lock,
# lest a warning land in another decode's capture.
_DECODING = files.STDERR_LOCK
# What the pipeline's decoding step says of each element.
_DECODED, _FAILED, _EVERY_ONE_FAILED = 0, 1, 2


@dataclasses.dataclass
class ImageFolder:
    """The usable pictures of a folder (`paths`, sorted) and the skipped files with the reason for each."""

    directory: Path
    paths: list[str]
    skipped: list[tuple[str, str]]


def scan_folder(directory: str | os.PathLike, *, max_pixels: int | None = None, workers: int = 1) -> ImageFolder:
    """Every picture under `directory` (recursively; hidden files and folders excluded) whose header is that
    of a format training reads, sorted, with at least one picture decoded in each of the `workers` shares
    (worker_share) that the input pipelines of that many workers read: the others are decoded as training
    reaches them. DataError, naming how many files there are and the first few with their reasons, if the
    folder is missing or holds no picture that decodes."""
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
    # One picture that decodes is enough to start: decoding a large folder up front would delay every start
    # (and every resume) in proportion to its size, and a picture can still fail later. But each worker's
    # pipeline reads only its share of the files, and a share of pictures that all fail to decode ends that
    # pipeline while the others go on, which breaks the cluster's next step on every worker. So each share
    # needs one: a share whose files all fail loses them, and the rest are dealt again. Every worker scans
    # the same folder in the same way, so all deal the same shares, or all stop with the same line.
    decoded: set[str] = set()
    while paths:
        shares = (worker_share(paths, worker, workers) for worker in range(workers))
        share = next((share for share in shares if decoded.isdisjoint(share)), None)
        if share is None:
            break
        failed = set()
        for path in share:
            try:
                image_io.load_image(path, max_pixels=max_pixels)
            except ImageError as error:
                skipped.append((path, str(error).removeprefix(f"{path}: ")))
                failed.add(path)
                continue
            decoded.add(path)
            break
        paths = [path for path in paths if path not in failed]
    skipped.sort()
    if not paths:
        examples = "; ".join(f"{path}: {reason}" for path, reason in skipped[:3])
        raise DataError(f"data folder {directory}: none of its {len(files)} files is a picture training can use "
                        f"(JPEG, PNG, GIF, BMP, WebP that decodes): {examples}{' ...' if len(skipped) > 3 else ''}")
    return ImageFolder(directory, paths, skipped)


def worker_share(paths: list[str], worker: int, workers: int) -> list[str]:
    """The files the input pipeline of worker number `worker` (from 0) of `workers` reads: every workers-th
    from its own, as Dataset.shard keeps them, or all of them, in its own order, when there are fewer files
    than workers."""
    if workers > 1 and len(paths) >= workers:
        return paths[worker::workers]
    return list(paths)


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
                     input_context=None):
    """Endless batches of float32 [batch_size, image_size, image_size, 3] crops in [0, 1] (a tf.data.Dataset).

    Each picture is resized (antialiased) so its short side is image_size, cropped at a random place and
    flipped at random, with stateless randomness from `seed`, so a run is reproducible. Under
    `tf.distribute`, `input_context` (a tf.distribute.InputContext) shards the files among the input
    pipelines (one per worker) and `batch_size` is then the per-replica batch.

    `skip_batches` starts the sequence that many batches in, as a resumed run needs: the file order and
    each crop depend only on the seed and the position, and the skipped files are never decoded. A picture
    that fails to decode is skipped (so after one the batches shift by a picture), with one warning the first
    time and without being read again; once every picture has failed, the dataset ends.
    """
    import tensorflow as tf

    if input_context is not None and input_context.num_input_pipelines > 1:
        paths = worker_share(paths, input_context.input_pipeline_id, input_context.num_input_pipelines)
        seed = seed + 1000003 * input_context.input_pipeline_id
    files = (tf.data.Dataset.from_tensor_slices(paths)
             .shuffle(len(paths), seed=seed, reshuffle_each_iteration=True).repeat().enumerate()
             .skip(skip_batches * batch_size))
    decode = _PictureDecoder(paths)

    def read(index, path):
        image, status = tf.numpy_function(decode, [path], (tf.float32, tf.int32), stateful=False)
        image.set_shape([None, None, 3])
        status.set_shape([])
        return index, image, status

    def crop(index, image, status):
        image = _short_side_resized(image, image_size)
        element_seed = tf.stack([tf.cast(seed, tf.int64), index])
        image = tf.image.stateless_random_crop(image, [image_size, image_size, 3], seed=element_seed)
        image = tf.image.stateless_random_flip_left_right(image, seed=element_seed + 1)
        return tf.clip_by_value(image, 0.0, 1.0)

    return (files.map(read, num_parallel_calls=tf.data.AUTOTUNE)
            .take_while(lambda index, image, status: status != _EVERY_ONE_FAILED)
            .filter(lambda index, image, status: status == _DECODED)
            .map(crop, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))


class _PictureDecoder:
    """path (bytes) -> (float32 [H, W, 3] in [0, 1], status) for tf.numpy_function: the picture decoded by
    image_io, or an empty one and _FAILED, after one warning, for a picture that does not decode (then and
    every later time, without reading it again), or _EVERY_ONE_FAILED once all of `paths` have failed."""

    def __init__(self, paths: list[str]):
        self.remaining = len(set(paths))
        self.failed: set[str] = set()

    def __call__(self, path: bytes):
        name = os.fsdecode(path)
        with _DECODING:
            # Checked under the lock: the pipeline's parallel calls may bring the same file twice (from two
            # epochs), and the second must see that the first failed rather than read and warn again.
            if name not in self.failed:
                try:
                    return image_io.load_image(name)[0], np.int32(_DECODED)
                except ImageError as error:
                    logging.warning("%s; training goes on without it", error)
                    self.failed.add(name)
                    self.remaining -= 1
        return np.zeros((0, 0, 3), np.float32), np.int32(_FAILED if self.remaining > 0 else _EVERY_ONE_FAILED)


def _short_side_resized(image, size: int):
    """[H, W, 3] -> antialiased resize whose short side is `size` (the long side at least `size` too)."""
    import tensorflow as tf

    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    new_size = tf.maximum(tf.cast(tf.math.ceil(shape * size / tf.reduce_min(shape)), tf.int32), size)
    return tf.image.resize(image, new_size, antialias=True)


def sample_batch(paths: list[str], *, image_size: int, count: int = 4):
    """Centre crops of the first `count` pictures that decode (or fewer), float32 [N, image_size, image_size, 3]:
    a fixed batch whose stylisations show training's progress in TensorBoard. DataError if none decodes."""
    import tensorflow as tf

    samples = []
    for path in paths:
        try:
            with _DECODING:
                image = image_io.load_image(path)[0]
        except ImageError:  # damaged data: the pipeline skips it too, and says so
            continue
        image = _short_side_resized(image, image_size)
        samples.append(tf.image.resize_with_crop_or_pad(image, image_size, image_size))
        if len(samples) == count:
            break
    if not samples:
        raise DataError(f"none of the {len(paths)} training pictures decodes any more (changed since the folder "
                        "was scanned?)")
    return tf.clip_by_value(tf.stack(samples), 0.0, 1.0)
