"""VGG19's 2x2 max-pool with a backward pass that is one fused pass over memory (float32, batch 1).

TensorFlow's CPU MaxPoolGrad recomputes each window's maximum and scatters the gradient to it one window at a
time: at 384x512x64 (block1_pool of a 512x384 picture) it measured 126 ms of a 138 ms forward-and-backward,
about 7% of a whole step with Winograd convolutions. Here the forward pass is TensorFlow's, and the gradient
is an elementwise XLA function of the input, the output and the output's gradient: each of the four
positions of a window gets the gradient where it holds the window's maximum and no earlier position does.
That is MaxPoolGrad's own choice among ties (the first maximum in row-major order), so the gradient is the
same to the bit, ties included (constant regions of a picture make ties at positive values).
"""

from __future__ import annotations

import keras
import tensorflow as tf


@tf.function(jit_compile=True)
def _max_pool_gradient(x: tf.Tensor, y: tf.Tensor, dy: tf.Tensor) -> tf.Tensor:
    """[1, H, W, C] input, [1, H // 2, W // 2, C] output and its gradient -> the input's gradient."""
    height, width, channels = tf.shape(x)[1], tf.shape(x)[2], tf.shape(x)[3]
    rows, columns = height // 2, width // 2
    windows = tf.reshape(x[0, : 2 * rows, : 2 * columns], [rows, 2, columns, 2, channels])
    maximum, upstream = y[0], dy[0]
    taken = tf.zeros_like(maximum, tf.bool)
    parts = []
    for a in range(2):
        for b in range(2):
            here = tf.logical_and(tf.equal(windows[:, a, :, b], maximum), tf.logical_not(taken))
            parts.append(tf.where(here, upstream, tf.zeros_like(upstream)))
            taken = tf.logical_or(taken, here)
    gradient = tf.reshape(tf.stack([tf.stack(parts[:2], axis=2), tf.stack(parts[2:], axis=2)], axis=1),
                          [2 * rows, 2 * columns, channels])
    # Flooring pools drop an odd last row or column; their gradient is zero.
    return tf.pad(gradient, [[0, height - 2 * rows], [0, width - 2 * columns], [0, 0]])[None]


@tf.custom_gradient
def max_pool_2x2(x: tf.Tensor) -> tf.Tensor:
    """tf.nn.max_pool2d(x, 2, 2, 'VALID') for [1, H, W, C] float32, with the fused gradient above."""
    y = tf.nn.max_pool2d(x, 2, 2, "VALID")

    def gradient(dy):
        return _max_pool_gradient(x, y, dy)

    return y, gradient


class FusedMaxPooling2D(keras.layers.MaxPooling2D):
    """VGG19's MaxPooling2D (2x2, stride 2) computed by max_pool_2x2; a MaxPooling2D for everything that asks."""

    def __init__(self, name: str):
        super().__init__(pool_size=2, strides=2, name=name, dtype="float32")

    def call(self, inputs):
        return max_pool_2x2(inputs)
