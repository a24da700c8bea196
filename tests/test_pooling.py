"""The fused max-pool: TensorFlow's forward pass, and the same gradient as TensorFlow's MaxPoolGrad to the bit."""

import numpy as np
import pytest
import tensorflow as tf

from style_transfer.kernels import pooling


def input_gradient(pool, x, upstream):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = pool(x)
        loss = tf.reduce_sum(y * upstream)
    return y.numpy(), tape.gradient(loss, x).numpy()


@pytest.mark.parametrize("shape", [(1, 2, 2, 8), (1, 5, 7, 3), (1, 8, 6, 16), (1, 33, 20, 8)])
def test_the_gradient_is_tensorflows_ties_and_odd_sizes_included(shape):
    """Values on a coarse grid with a third of them zero: many windows hold their maximum twice or more, so a
    gradient that took the wrong one of a tie (or all of them) would differ. Odd sizes: the floored row or
    column gets no gradient."""
    rng = np.random.default_rng(sum(shape))
    values = np.round(rng.normal(size=shape) * 2) / 2 * (rng.random(shape) > 0.3)
    x = tf.constant(values, tf.float32)
    upstream = tf.constant(rng.normal(size=(1, shape[1] // 2, shape[2] // 2, shape[3])), tf.float32)
    y_tf, dx_tf = input_gradient(lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"), x, upstream)
    y_fused, dx_fused = input_gradient(pooling.max_pool_2x2, x, upstream)
    np.testing.assert_array_equal(y_fused, y_tf)
    np.testing.assert_array_equal(dx_fused, dx_tf)
    windows = values[0, : 2 * (shape[1] // 2), : 2 * (shape[2] // 2)].reshape(
        shape[1] // 2, 2, shape[2] // 2, 2, shape[3])
    maxima = (windows == windows.max(axis=(1, 3), keepdims=True)).sum(axis=(1, 3))
    assert (maxima > 1).any()  # the ties were there to be got wrong
    assert np.count_nonzero(dx_fused) == upstream.numpy().size  # one position per window


def test_the_layer_is_a_max_pooling_layer_for_whoever_asks():
    layer = pooling.FusedMaxPooling2D("block1_pool")
    assert isinstance(layer, tf.keras.layers.MaxPooling2D) and layer.name == "block1_pool"
    x = tf.random.stateless_normal([1, 6, 4, 2], seed=(3, 4))
    np.testing.assert_array_equal(layer(x), tf.nn.max_pool2d(x, 2, 2, "VALID"))
