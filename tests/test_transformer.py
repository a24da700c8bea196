import keras
import numpy as np
import pytest
import tensorflow as tf

from style_transfer.fast.transformer import BlockedConv2D, ReflectionPadding, ResizeConv2D, one_hot, transformer_network


def paint(network, images, style=0):
    """The network's output for `images` in style number `style` (one-hot weights)."""
    return network([images, one_hot(style, network.inputs[1].shape[-1], len(images))])


@pytest.fixture(scope="module")
def network():
    keras.utils.set_random_seed(0)
    return transformer_network(filters=4, residual_blocks=1)


@pytest.mark.parametrize("height, width", [(64, 64), (37, 21), (5, 6), (130, 97)])
def test_any_picture_size_comes_back_at_its_size_in_the_unit_range(network, height, width):
    images = np.random.default_rng(0).random((2, height, width, 3), dtype=np.float32)
    stylised = paint(network, images).numpy()
    assert stylised.shape == images.shape
    assert 0 < stylised.min() and stylised.max() < 1


def test_each_picture_is_stylised_independently_of_its_batch(network):
    # Instance normalisation: statistics per picture, so batch-mates change nothing (batch norm would).
    rng = np.random.default_rng(1)
    picture = rng.random((1, 32, 48, 3), dtype=np.float32)
    alone = paint(network, picture).numpy()
    with_others = paint(network, np.concatenate([picture, rng.random((3, 32, 48, 3), dtype=np.float32)])).numpy()
    np.testing.assert_allclose(with_others[:1], alone, atol=1e-5)


def test_the_output_depends_on_the_picture_and_the_seed_fixes_the_weights(network):
    rng = np.random.default_rng(2)
    a, b = rng.random((2, 1, 32, 32, 3), dtype=np.float32)
    assert np.abs(paint(network, a).numpy() - paint(network, b).numpy()).mean() > 1e-3
    keras.utils.set_random_seed(0)
    again = transformer_network(filters=4, residual_blocks=1)
    np.testing.assert_array_equal(paint(again, a).numpy(), paint(network, a).numpy())
    keras.utils.set_random_seed(1)
    other = transformer_network(filters=4, residual_blocks=1)
    assert np.abs(paint(other, a).numpy() - paint(network, a).numpy()).mean() > 1e-3


def test_a_residual_output_network_starts_as_the_photograph_and_learns_a_change():
    keras.utils.set_random_seed(0)
    network = transformer_network(filters=4, residual_blocks=1, residual_output=True)
    images = np.random.default_rng(3).random((2, 37, 21, 3), dtype=np.float32)
    images[0, :3] = 0.0  # black and white come back as near-black and near-white, not as infinities
    images[1, :3] = 1.0
    np.testing.assert_allclose(paint(network, images).numpy(), images, atol=1 / 512 + 1e-6)
    # One Adam step on any loss makes the picture depend on the network's weights, not only on the photograph.
    adam = keras.optimizers.Adam(1e-2)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(paint(network, images) - 0.5))
    adam.apply_gradients(zip(tape.gradient(loss, network.trainable_variables), network.trainable_variables))
    assert np.abs(paint(network, images).numpy() - images).mean() > 1e-3
    plain = transformer_network(filters=4, residual_blocks=1)
    assert np.abs(paint(plain, images).numpy() - images).mean() > 0.05  # a plain network starts elsewhere


def test_width_and_depth_set_the_size_of_the_network():
    small, wide, deep = (transformer_network(f, r).count_params() for f, r in ((8, 1), (16, 1), (8, 3)))
    assert 3.5 < wide / small < 4.1  # compute and weights grow with the square of the width
    assert deep > small
    with pytest.raises(ValueError, match="filters"):
        transformer_network(0)


@pytest.mark.parametrize("kernel, channels, filters, height, width", [(9, 6, 3, 20, 26), (3, 5, 2, 8, 6),
                                                                      (1, 4, 3, 6, 4), (5, 3, 7, 10, 12)])
def test_the_blocked_convolution_is_the_plain_one_in_values_and_gradients(kernel, channels, filters, height, width):
    keras.utils.set_random_seed(kernel)
    layer = BlockedConv2D(filters, kernel)
    images = tf.random.normal([2, height, width, channels])
    layer.build(images.shape)
    layer.bias.assign(tf.random.normal([filters]))

    def plain(x):
        return tf.nn.conv2d(x, layer.kernel, 1, "VALID") + layer.bias

    for compute in (layer, plain):
        with tf.GradientTape() as tape:
            tape.watch(images)
            outputs = compute(images)
            loss = tf.reduce_sum(tf.sin(outputs))
        gradients = tape.gradient(loss, [layer.kernel, layer.bias, images])
        if compute is layer:
            blocked = (outputs, gradients)
    np.testing.assert_allclose(blocked[0], outputs, atol=2e-5)
    assert blocked[0].shape == (2, height - kernel + 1, width - kernel + 1, filters)
    for got, expected in zip(blocked[1], gradients):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-4)


def test_the_blocked_convolution_needs_an_odd_kernel():
    with pytest.raises(ValueError, match="kernel_size must be odd, got 4"):
        BlockedConv2D(3, 4)


@pytest.mark.parametrize("channels, filters, height, width", [(8, 4, 5, 7), (6, 3, 1, 2), (16, 8, 12, 10)])
def test_the_fused_upsampling_is_resize_pad_and_convolution(channels, filters, height, width):
    keras.utils.set_random_seed(channels)
    layer = ResizeConv2D(filters)
    images = tf.random.normal([2, height, width, channels])
    layer.build(images.shape)

    def plain(x):
        upsampled = keras.layers.UpSampling2D(2, interpolation="nearest")(x)
        return tf.nn.conv2d(ReflectionPadding(1)(upsampled), layer.kernel, 1, "VALID")

    results = []
    for compute in (layer, plain):
        with tf.GradientTape() as tape:
            tape.watch(images)
            outputs = compute(images)
            loss = tf.reduce_sum(tf.sin(outputs))
        results.append((outputs, *tape.gradient(loss, [layer.kernel, images])))
    assert results[0][0].shape == (2, 2 * height, 2 * width, filters)
    for fused, expected in zip(*results):  # float32 sums in other orders: errors relative to the largest value
        np.testing.assert_allclose(fused, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def _randomised_styles(network, seed):
    """Gives every style of `network` its own random normalisation scales and offsets."""
    rng = np.random.default_rng(seed)
    for layer in network.layers:
        if hasattr(layer, "styles"):
            layer.scale.assign(rng.uniform(0.5, 1.5, layer.scale.shape).astype("float32"))
            layer.offset.assign(rng.normal(0, 0.3, layer.offset.shape).astype("float32"))


def test_a_blend_of_styles_is_the_network_with_the_blended_normalisation_parameters():
    # Dumoulin et al.: weights w mix the styles' scales and offsets, w @ [S, C]; the rest is shared.
    keras.utils.set_random_seed(4)
    three = transformer_network(filters=4, residual_blocks=1, styles=3)
    _randomised_styles(three, 0)
    weights = np.array([[0.2, 0.5, 0.3]], np.float32)
    one = transformer_network(filters=4, residual_blocks=1, styles=1)
    for mine, theirs in zip(one.layers, three.layers):
        if hasattr(mine, "styles"):
            mine.scale.assign(weights @ theirs.scale.numpy())
            mine.offset.assign(weights @ theirs.offset.numpy())
        else:
            mine.set_weights(theirs.get_weights())
    picture = np.random.default_rng(5).random((1, 24, 20, 3), dtype=np.float32)
    np.testing.assert_allclose(three([picture, weights]).numpy(), paint(one, picture).numpy(), atol=1e-5)
    styles = [paint(three, picture, style).numpy() for style in range(3)]
    assert min(np.abs(styles[i] - styles[j]).mean() for i in range(3) for j in range(i)) > 1e-3


def test_each_picture_of_a_batch_gets_its_own_style():
    keras.utils.set_random_seed(6)
    network = transformer_network(filters=4, residual_blocks=1, styles=2)
    _randomised_styles(network, 1)
    pictures = np.random.default_rng(7).random((2, 16, 24, 3), dtype=np.float32)
    together = network([pictures, np.eye(2, dtype=np.float32)]).numpy()  # the batched (unfused) path
    for index in range(2):  # one picture at a time: the fused path
        np.testing.assert_allclose(together[index], paint(network, pictures[index:index + 1], index).numpy()[0],
                                   atol=1e-5)
    with pytest.raises(ValueError, match="styles must be >= 1"):
        transformer_network(4, 1, styles=0)
