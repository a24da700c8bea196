"""Size buckets: a network run on a picture zero-padded up to a multiple of a bucket per side, every layer's
output masked to the picture's part of it, so that the kernels meet few shapes and the results are those of
the unpadded picture, to float rounding.

VGG's zero ('same') padding and flooring 2x2 pools see exactly those zeros without the padding; a layer's
picture part at depth d is the picture's [H, W] floored by 2^pools.
"""

from __future__ import annotations

from typing import Iterable

import keras
import tensorflow as tf


def pad_to_bucket(preprocessed: tf.Tensor, size_bucket: int) -> tuple[tf.Tensor, tf.Tensor | None]:
    """`preprocessed` zero-padded at the bottom and right up to a multiple of `size_bucket` per side, and the
    picture's [H, W] ([2] int32) in it; unchanged and None without a bucket. Zeros after preprocessing are what
    the first convolution's own 'same' padding adds."""
    if not size_bucket:
        return preprocessed, None
    valid = tf.shape(preprocessed)[1:3]
    padded = -(-valid // size_bucket) * size_bucket
    return tf.pad(preprocessed, [[0, 0], [0, padded[0] - valid[0]], [0, padded[1] - valid[1]], [0, 0]]), valid


def run_layer(layer: keras.layers.Layer, inputs: tf.Tensor, valid: tf.Tensor | None,
              pools: int) -> tuple[tf.Tensor, int, tf.Tensor | None]:
    """`layer` on `inputs`, after `pools` 2x2 pools. With `valid` (the picture's [H, W] in a padded input) the
    output is zeroed outside the picture's part of it. Returns (output, pools so far, that part's [h, w] or None)."""
    outputs = layer(inputs)
    if is_pool(layer):
        pools += 1
    if valid is None:
        return outputs, pools, None
    size = valid // 2 ** pools
    return outputs * _inside(size, tf.shape(outputs)[1:3], outputs.dtype), pools, size


def is_pool(layer: keras.layers.Layer) -> bool:
    """Whether `layer` is one of VGG's 2x2 pools (max, or average with pooling 'avg')."""
    return isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D))


def _inside(size: tf.Tensor, shape: tf.Tensor, dtype) -> tf.Tensor:
    """[1, h, w, 1]: 1 in the top-left `size` ([2] int32) of a `shape` ([h, w]) feature map, 0 elsewhere."""
    rows = tf.range(shape[0]) < size[0]
    columns = tf.range(shape[1]) < size[1]
    return tf.cast(rows[:, None] & columns[None, :], dtype)[None, :, :, None]


def picture_float32(activation: tf.Tensor, size: tf.Tensor | None) -> tf.Tensor:
    """A reducer's activation as float32, cropped to the picture's top-left [h, w] = `size` when padded."""
    picture = activation if size is None else activation[:, : size[0], : size[1], :]
    return tf.cast(picture, tf.float32)


def mean_activations(model: keras.Model, preprocessed: tf.Tensor, size_bucket: int,
                     layer_names: Iterable[str]) -> dict[str, tf.Tensor]:
    """{layer: mean activation over the picture, float32} of `model` (a chain of VGG layers) on `preprocessed`,
    run layer by layer as FeatureExtractor.reduce runs it (padded and masked with `size_bucket`)."""
    inputs, valid = pad_to_bucket(preprocessed, size_bucket)
    means, pools, wanted = {}, 0, set(layer_names)
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        inputs, pools, size = run_layer(layer, inputs, valid, pools)
        if layer.name in wanted:
            means[layer.name] = tf.reduce_mean(picture_float32(inputs, size))
            if len(means) == len(wanted):
                break
    return means
