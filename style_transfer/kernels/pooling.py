"""VGG19's 2x2 max-pool with a backward pass that is one fused pass over memory (float32, batch 1).

TensorFlow's CPU MaxPoolGrad recomputes each window's maximum and scatters the gradient to it one window at a
time, which is slow on VGG's large first pools. Here the forward pass is TensorFlow's, and the gradient
is an elementwise XLA function of the output's gradient and of which position of each window first holds its
maximum, found in the forward pass (a byte per output, so the input need not be kept for the backward pass).
That is MaxPoolGrad's own choice among ties (the first maximum in row-major order), so the gradient is the
same to the bit, ties included (constant regions of a picture make ties at positive values).
"""

from __future__ import annotations

import keras
import tensorflow as tf


@tf.function(jit_compile=True)
def _first_maxima(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """[1, H, W, C] input and its [1, H // 2, W // 2, C] max-pool -> uint8 of y's shape: which of its window's
    four positions (row-major, 0 to 3) first holds the maximum."""
    rows, columns, channels = tf.shape(y)[1], tf.shape(y)[2], tf.shape(y)[3]
    windows = tf.reshape(x[0, : 2 * rows, : 2 * columns], [rows, 2, columns, 2, channels])
    position = tf.fill(tf.shape(y[0]), tf.constant(3, tf.uint8))
    for index in (2, 1, 0):  # the last assignment wins: the first maximum
        a, b = divmod(index, 2)
        position = tf.where(tf.equal(windows[:, a, :, b], y[0]), tf.constant(index, tf.uint8), position)
    return position[None]


@tf.function(jit_compile=True)
def _max_pool_gradient(position: tf.Tensor, dy: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """_first_maxima's positions and the output's gradient -> the [1, H, W, C] input's gradient (size: [H, W])."""
    rows, columns, channels = tf.shape(dy)[1], tf.shape(dy)[2], tf.shape(dy)[3]
    upstream, zeros = dy[0], tf.zeros_like(dy[0])
    parts = [tf.where(tf.equal(position[0], index), upstream, zeros) for index in range(4)]
    gradient = tf.reshape(tf.stack([tf.stack(parts[:2], axis=2), tf.stack(parts[2:], axis=2)], axis=1),
                          [2 * rows, 2 * columns, channels])
    # Flooring pools drop an odd last row or column; their gradient is zero.
    return tf.pad(gradient, [[0, size[0] - 2 * rows], [0, size[1] - 2 * columns], [0, 0]])[None]


@tf.custom_gradient
def max_pool_2x2(x: tf.Tensor) -> tf.Tensor:
    """tf.nn.max_pool2d(x, 2, 2, 'VALID') for [1, H, W, C] float32, with the fused gradient above."""
    y = tf.nn.max_pool2d(x, 2, 2, "VALID")
    # What the backward pass needs, a byte per output: the input itself (four times as many float32 values)
    # is then freed once read, unless another gradient needs it.
    position, size = _first_maxima(x, y), tf.shape(x)[1:3]

    def gradient(dy):
        return _max_pool_gradient(position, dy, size)

    return y, gradient


class FusedMaxPooling2D(keras.layers.MaxPooling2D):
    """VGG19's MaxPooling2D (2x2, stride 2) computed by max_pool_2x2; a MaxPooling2D for everything that asks."""

    def __init__(self, name: str):
        super().__init__(pool_size=2, strides=2, name=name, dtype="float32")

    def call(self, inputs):
        return max_pool_2x2(inputs)
