"""Winograd F(4x4, 3x3) convolutions: the same convolution as TensorFlow's, forward and backward, to float
rounding, wherever they are switched on (extractor, config, API)."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import EXACT
from style_transfer.optimize import api
from style_transfer.kernels import devices, winograd
from style_transfer.core import image_io, preprocessing
from style_transfer.core.config import TUTORIAL, ConfigError, StyleConfig
from style_transfer.core.features import FeatureExtractor
from style_transfer.optimize.optimization import StyleOptimizer

TUTORIAL_LAYERS = [*TUTORIAL.style_layers, *TUTORIAL.content_layers]


@pytest.fixture(scope="module")
def photo(content_path):
    return preprocessing.resize_to_max_dim(image_io.load_image(content_path), 96)


def direct_and_winograd(x, kernel, bias, upstream):
    """(outputs, input gradients of sum(output * upstream)) of relu(conv + bias), direct and Winograd."""
    forward = tf.constant(winograd.kernel_tiles(kernel))
    results = []
    for convolve in (lambda x: tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME") + bias),
                     lambda x: winograd.conv3x3_relu(x, forward, tf.constant(bias))):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = convolve(x)
            loss = tf.reduce_sum(y * upstream)
        results.append((y.numpy(), tape.gradient(loss, x).numpy()))
    return results


def relative_error(value, reference):
    return float(np.abs(value - reference).max() / np.abs(reference).max())


@pytest.mark.parametrize("height, width, channels, filters", [(1, 1, 4, 4), (5, 7, 8, 16), (9, 12, 16, 8),
                                                              (24, 17, 128, 64)])
def test_winograd_is_the_convolution_forward_and_backward(height, width, channels, filters):
    """Sizes that are not multiples of the 4x4 tile (and a single pixel) included: the padding of the last
    tiles must be the convolution's own zero padding, on both passes."""
    rng = np.random.default_rng(height * width)
    x = tf.constant(rng.normal(size=(1, height, width, channels)), tf.float32)
    kernel = rng.normal(0, np.sqrt(2 / (9 * channels)), (3, 3, channels, filters)).astype(np.float32)
    bias = rng.normal(0, 0.1, filters).astype(np.float32)
    upstream = tf.constant(rng.normal(size=(1, height, width, filters)), tf.float32)
    (y_direct, dx_direct), (y_winograd, dx_winograd) = direct_and_winograd(x, kernel, bias, upstream)
    assert relative_error(y_winograd, y_direct) < 2e-5
    assert relative_error(dx_winograd, dx_direct) < 2e-5
    assert (y_winograd >= 0).all() and (y_winograd == 0).any()  # the ReLU is applied, and it cut something


def bands_of(monkeypatch, tile_rows, width, channels):
    """Makes Winograd layers of `channels` (the larger of input and output) on pictures `width` wide run in
    bands of `tile_rows` rows of 4x4 tiles."""
    columns = -(-width // winograd.TILE)
    monkeypatch.setattr(winograd, "BAND_BYTES", tile_rows * 36 * 4 * channels * columns)


@pytest.mark.parametrize("onednn", [True, False])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_the_products_are_tensorflows_with_onednn_and_xlas_without(monkeypatch, onednn, transpose_b):
    monkeypatch.setattr(devices, "onednn_enabled", lambda: onednn)
    rng = np.random.default_rng(0)
    tiles, kernel = rng.normal(size=(36, 10, 6)), rng.normal(size=(36, 7, 6) if transpose_b else (36, 6, 7))
    graph = tf.function(winograd._products).get_concrete_function(
        tf.constant(tiles, tf.float32), tf.constant(kernel, tf.float32), transpose_b).graph
    assert any(op.type.endswith("PartitionedCall") for op in graph.get_operations()) != onednn  # XLA's call
    products = winograd._products(tf.constant(tiles, tf.float32), tf.constant(kernel, tf.float32), transpose_b)
    expected = tiles @ (np.swapaxes(kernel, 1, 2) if transpose_b else kernel)
    np.testing.assert_allclose(products.numpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("height, width, band_rows, bands", [(24, 17, 2, 3), (9, 12, 1, 3), (18, 5, 2, 3),
                                                              (7, 9, 5, 1)])
def test_bands_of_tile_rows_give_the_same_convolution(monkeypatch, height, width, band_rows, bands):
    """The layer runs band after band of tile rows, the last band padded with zero rows (18 rows: 5 tile rows in
    3 bands of 2), the gradient's two overlapping rows carried from band to band."""
    bands_of(monkeypatch, band_rows, width, 16)
    assert int(winograd._bands(tf.constant([height, width]), 16)[0]) == bands
    rng = np.random.default_rng(height * width)
    x = tf.constant(rng.normal(size=(1, height, width, 16)), tf.float32)
    kernel = rng.normal(0, np.sqrt(2 / (9 * 16)), (3, 3, 16, 8)).astype(np.float32)
    bias = rng.normal(0, 0.1, 8).astype(np.float32)
    upstream = tf.constant(rng.normal(size=(1, height, width, 8)), tf.float32)
    (y_direct, dx_direct), (y_winograd, dx_winograd) = direct_and_winograd(x, kernel, bias, upstream)
    assert y_winograd.shape == y_direct.shape and dx_winograd.shape == dx_direct.shape
    assert relative_error(y_winograd, y_direct) < 2e-5
    assert relative_error(dx_winograd, dx_direct) < 2e-5


@pytest.mark.parametrize("banded", [False, True])
@pytest.mark.parametrize("row, column", [(0, 0), (3, 3), (4, 4), (3, 8), (8, 3), (9, 10)])
def test_one_output_pixels_gradient_is_the_kernels_footprint(monkeypatch, row, column, banded):
    """Guards the adjoint's overlap-add: the gradient of one output pixel (at a tile's first or last row or
    column, at a corner, at the picture's last pixel) reaches exactly its 3x3 neighbourhood, as TensorFlow's
    does, including where that neighbourhood spans two 6x6 input tiles, or two bands of one tile row each."""
    if banded:
        bands_of(monkeypatch, 1, 11, 8)
    rng = np.random.default_rng(row * 16 + column)
    kernel = rng.normal(size=(3, 3, 8, 8)).astype(np.float32)  # asymmetric: a flip or a shift would show
    bias = np.full(8, 100.0, np.float32)  # every output positive: the ReLU passes the whole gradient
    x = tf.constant(rng.normal(size=(1, 10, 11, 8)), tf.float32)
    upstream = np.zeros((1, 10, 11, 8), np.float32)
    upstream[0, row, column] = rng.normal(size=8)
    (_, dx_direct), (_, dx_winograd) = direct_and_winograd(x, kernel, bias, tf.constant(upstream))
    reached = np.abs(dx_winograd).max(axis=(0, 3)) > 1e-4 * np.abs(dx_winograd).max()
    expected = np.zeros((10, 11), bool)
    expected[max(row - 1, 0): row + 2, max(column - 1, 0): column + 2] = True
    np.testing.assert_array_equal(reached, expected)
    assert relative_error(dx_winograd, dx_direct) < 2e-5


@pytest.mark.parametrize("channels", [3, 64])
def test_the_direct_layers_transposed_gradient_is_the_convolutions(channels):
    """DirectConv2D's input gradient, a forward convolution with the transposed kernel, is TensorFlow's."""
    rng = np.random.default_rng(channels)
    conv = tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu")
    conv.build((None, None, None, channels))
    kernel = rng.normal(size=(3, 3, channels, 16)).astype(np.float32)  # asymmetric: a wrong flip shows
    conv.set_weights([kernel, rng.normal(0, 0.5, 16).astype(np.float32)])
    layer = winograd.DirectConv2D(conv)
    x = tf.constant(rng.normal(size=(1, 11, 6, channels)), tf.float32)
    upstream = tf.constant(rng.normal(size=(1, 11, 6, 16)), tf.float32)
    results = []
    for convolve in (conv, layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = convolve(x)
            loss = tf.reduce_sum(y * upstream)
        results.append((y.numpy(), tape.gradient(loss, x).numpy()))
    (y_keras, dx_keras), (y_direct, dx_direct) = results
    np.testing.assert_array_equal(y_direct, y_keras)
    assert relative_error(dx_direct, dx_keras) < 1e-6
    assert (y_keras == 0).any()  # the ReLU cut something, so its gradient was tested too


def test_one_trace_serves_every_picture_size():
    rng = np.random.default_rng(2)
    kernel = rng.normal(size=(3, 3, 8, 4)).astype(np.float32)
    forward = tf.constant(winograd.kernel_tiles(kernel))
    convolve = tf.function(lambda x: winograd.conv3x3_relu(x, forward, tf.zeros(4)),
                           input_signature=[tf.TensorSpec([1, None, None, 8])])
    for height, width in ((6, 9), (13, 4), (8, 8)):
        x = tf.constant(rng.normal(size=(1, height, width, 8)), tf.float32)
        expected = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME")).numpy()
        assert relative_error(convolve(x).numpy(), expected) < 2e-5
    assert convolve.experimental_get_tracing_count() == 1


def test_only_3x3_same_convolutions_are_taken():
    layer = tf.keras.layers.Conv2D(4, 5, padding="same")
    layer.build((None, None, None, 3))
    with pytest.raises(ValueError, match="needs a 3x3 'same' convolution"):
        winograd.WinogradConv2D(layer)


@pytest.mark.parametrize("network, winograd_layers", [
    ("vgg19", ("block2_conv2", "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4", "block4_conv1",
               "block4_conv2", "block4_conv3", "block4_conv4", "block5_conv1", "block5_conv2")),
    ("vgg16", ("block2_conv2", "block3_conv1", "block3_conv2", "block3_conv3", "block4_conv1", "block4_conv2",
               "block4_conv3", "block5_conv1", "block5_conv2")),
])
def test_the_extractor_uses_winograd_from_128_input_channels_and_gives_the_same_features(random_vgg_of, photo,
                                                                                         network, winograd_layers):
    vgg = random_vgg_of(network)
    direct = FeatureExtractor(TUTORIAL_LAYERS, vgg=vgg, **EXACT)
    fast = FeatureExtractor(TUTORIAL_LAYERS, vgg=vgg, **{**EXACT, "convolution": "winograd"})
    assert direct.winograd_layers == ()
    assert fast.winograd_layers == winograd_layers  # to the deepest asked for
    kinds = [type(layer).__name__ for layer in fast.model.layers]
    assert kinds.count("WinogradConv2D") == len(winograd_layers)
    # Below 128 channels, TensorFlow's convolution with the transposed-kernel gradient (not for block1_conv1's
    # 3 channels), and fused max-pools; none of it without Winograd.
    assert [layer.name for layer in fast.model.layers if isinstance(layer, winograd.DirectConv2D)] == [
        "block1_conv2", "block2_conv1"]
    assert kinds.count("FusedMaxPooling2D") == 4
    assert not {"DirectConv2D", "FusedMaxPooling2D"} & {type(layer).__name__ for layer in direct.model.layers}
    exact, approximate = direct(photo), fast(photo)
    for name in TUTORIAL_LAYERS:
        error = np.linalg.norm(approximate[name] - exact[name]) / np.linalg.norm(exact[name])
        assert error < 1e-5, name
    assert np.linalg.norm(approximate["block5_conv1"] - exact["block5_conv1"]) > 0  # really computed otherwise


def test_extractors_of_the_same_weights_share_their_transformed_kernels(random_vgg):
    """Each traced custom gradient keeps what it reads for the process's life, so a new extractor of the same
    weights must not make new tiles (they were 490 MB per extractor, and the test suite ran out of memory)."""
    first, second = (FeatureExtractor(TUTORIAL_LAYERS, vgg=random_vgg, **{**EXACT, "convolution": "winograd"})
                     for _ in range(2))
    for name in ("block2_conv2", "block5_conv1"):
        assert first.model.get_layer(name).forward is second.model.get_layer(name).forward
    assert first.model.get_layer("block3_conv2").forward is not first.model.get_layer("block3_conv3").forward


def test_a_winograd_layer_holds_one_transformed_kernel_four_times_the_kernels_size(random_vgg):
    """The backward pass is the forward's adjoint and reads the same tiles: no second, transposed copy."""
    extractor = FeatureExtractor(TUTORIAL_LAYERS, vgg=random_vgg, **{**EXACT, "convolution": "winograd"})
    for name in extractor.winograd_layers:
        layer = extractor.model.get_layer(name)
        kernel = random_vgg.get_layer(name).get_weights()[0]
        held = [value for value in vars(layer).values() if isinstance(value, (tf.Variable, tf.Tensor))]
        assert [tuple(value.shape) for value in held] == [(36, *kernel.shape[2:]), kernel.shape[3:]]  # and bias
        assert layer.forward.numpy().nbytes == 4 * kernel.nbytes


def objective_and_gradient(extractor, content, style, config):
    optimizer = StyleOptimizer(extractor, content, style, content, config)
    # Away from the content image, where the content term's F - F_content would be rounding error alone.
    noise = tf.random.stateless_uniform(tf.shape(content), seed=(1, 2))
    terms, gradient = optimizer.loss_and_gradient(0.7 * content + 0.3 * noise)
    return float(terms["total"]), gradient.numpy()


@pytest.mark.parametrize("network, options", [
    *[("vgg19", options) for options in ({}, {"size_bucket": 32}, {"recompute": True}, {"pooling": "avg"})],
    # VGG16's blocks 3-5 differ; its bands and buckets are checked against the direct path in test_optimize.py.
    ("vgg16", {}), ("vgg16", {"pooling": "avg"}),
])
def test_the_objective_and_its_gradient_match_direct_convolutions(random_vgg_of, content_path, style_path, network,
                                                                  options):
    """Through the whole objective, with size buckets' masks, gradient checkpointing and average pooling."""
    config = TUTORIAL.replace(max_dim=56, weights="random", network=network, **options)
    content, style = api.load_inputs(content_path, style_path, config)
    results = []
    for convolution in ("direct", "winograd"):
        extractor = FeatureExtractor(TUTORIAL_LAYERS, vgg=random_vgg_of(network), precision="float32",
                                     convolution=convolution, pooling=config.pooling)
        extractor.calibrate(content, config.size_bucket)
        results.append(objective_and_gradient(extractor, content, style, config))
    (loss_direct, gradient_direct), (loss_winograd, gradient_winograd) = results
    assert loss_winograd == pytest.approx(loss_direct, rel=1e-5)
    assert np.linalg.norm(gradient_winograd - gradient_direct) < 1e-4 * np.linalg.norm(gradient_direct)


def test_auto_picks_winograd_for_float32_on_a_cpu_only(monkeypatch):
    monkeypatch.setattr(devices.tf.config, "list_physical_devices", lambda kind=None: [])
    assert devices.resolve_convolution("auto", "float32") == "winograd"
    assert devices.resolve_convolution("auto", "bfloat16") == "direct"
    assert devices.resolve_convolution("direct", "float32") == "direct"
    with pytest.raises(ValueError, match="float32 only"):
        devices.resolve_convolution("winograd", "bfloat16")
    monkeypatch.setattr(devices.tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"])
    assert devices.resolve_convolution("auto", "float32") == "direct"  # cuDNN picks its own algorithms


def test_auto_is_direct_for_pictures_too_small_to_repay_winograds_set_up(monkeypatch, content_path, style_path,
                                                                          weights_file):
    monkeypatch.setattr(devices.tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2", "fma"})  # float32, where auto may mean Winograd
    assert api.requested_convolution(StyleConfig(max_dim=api.WINOGRAD_MIN_SIDE - 1)) == "direct"
    assert api.requested_convolution(StyleConfig(max_dim=api.WINOGRAD_MIN_SIDE)) == "auto"
    assert api.requested_convolution(StyleConfig(max_dim=32, convolution="winograd")) == "winograd"
    config = StyleConfig(weights=str(weights_file), max_dim=32, steps=1)
    assert api.stylize(content_path, style_path, config).computed["convolution"] == "direct"
    assert api.build_extractor(config.replace(max_dim=api.WINOGRAD_MIN_SIDE)).convolution == "winograd"


def test_winograd_asks_for_float32_and_refuses_bfloat16(monkeypatch):
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.setattr(devices.tf.config, "list_physical_devices", lambda kind=None: [])
    assert api.requested_precision(StyleConfig(convolution="winograd")) == "float32"
    assert api.requested_precision(StyleConfig(convolution="auto")) == "auto"  # bfloat16 here, direct
    with pytest.raises(ConfigError, match="too coarse in bfloat16"):
        StyleConfig(convolution="winograd", precision="bfloat16")
    with pytest.raises(ConfigError, match="unknown|must be one of"):
        StyleConfig(convolution="fft")


def test_the_tutorial_preset_runs_winograd_on_a_cpu_and_an_extractor_of_either_kind_serves_it(
        monkeypatch, content_path, style_path):
    monkeypatch.setattr(devices.tf.config, "list_physical_devices", lambda kind=None: [])
    config = TUTORIAL.replace(max_dim=32, weights="random", steps=2)
    assert api.build_extractor(config.replace(max_dim=api.WINOGRAD_MIN_SIDE)).convolution == "winograd"
    # The same objective to float rounding, so an extractor of direct convolutions is used as it is.
    direct = FeatureExtractor(TUTORIAL_LAYERS, weights="random", network="vgg19", **EXACT)
    result = api.stylize(content_path, style_path, config, extractor=direct)
    reference = api.stylize(content_path, style_path, config.replace(convolution="direct"))
    np.testing.assert_array_equal(result.image, reference.image)


def test_adam_runs_stay_together(content_path, style_path):
    """Twenty Adam steps of the tutorial preset: the two trajectories differ only by rounding, which Adam
    amplifies (its epsilon of 1e-7 turns the rounding of near-zero gradients into full-rate moves). A changed
    setting moves them apart at once; rounding takes a few steps to. scripts/bench.py --quality compares whole
    runs."""
    config = TUTORIAL.replace(max_dim=48, weights="random", steps=20)
    direct, fast, changed = (api.stylize(content_path, style_path, config.replace(**settings)) for settings in
                             ({"convolution": "direct"}, {"convolution": "winograd"},
                              {"convolution": "direct", "learning_rate": 0.021}))
    losses = np.array(direct.losses["total"])
    assert fast.losses["total"][0] == pytest.approx(losses[0], rel=1e-5)
    drift = np.abs(np.array(fast.losses["total"]) - losses) / losses
    setting = np.abs(np.array(changed.losses["total"]) - losses) / losses
    # Measured over steps 1 to 3: at most 0.12% apart with Eigen's kernels (TF_ENABLE_ONEDNN_OPTS=0), 0.001%
    # with oneDNN's, against 5% for the learning rate. Later, with Eigen's, the losses wander as far apart as
    # after starting from the same picture with noise of 1e-6 added (2%, against the learning rate's 5%).
    assert drift[1:4].max() < 0.1 * setting[1:4].max(), (drift[1:4], setting[1:4])
    assert drift.max() < setting.max(), (drift.max(), setting.max())


def test_bands_hold_less_than_the_whole_layers_tiles(monkeypatch):
    """What the bands are for: the forward and backward passes' peak allocation falls by more than the whole
    layer's input tiles, which are never alive at once in bands."""
    try:
        tf.config.experimental.get_memory_info("CPU:0")
    except ValueError:
        pytest.skip("TensorFlow's CPU allocator keeps no statistics in this build (oneDNN's does)")
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(1, 96, 128, 64)), tf.float32)
    forward = tf.constant(winograd.kernel_tiles(rng.normal(0, 0.05, (3, 3, 64, 64)).astype(np.float32)))
    upstream = tf.constant(rng.normal(size=(1, 96, 128, 64)), tf.float32)
    tiles_bytes = 36 * (96 // 4) * (128 // 4) * 64 * 4  # 7 MB
    peaks = []
    for band_bytes in (2 * tiles_bytes, tiles_bytes // 8):
        monkeypatch.setattr(winograd, "BAND_BYTES", band_bytes)

        @tf.function
        def forward_and_backward(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = winograd.conv3x3_relu(x, forward, tf.zeros(64))
            return tape.gradient(y, x, output_gradients=upstream)

        forward_and_backward(x)  # traced and compiled
        tf.config.experimental.reset_memory_stats("CPU:0")
        # The allocator is the process's: what other tests left alive is counted too, and differs between the
        # two calls, so each peak is taken above what was allocated when it began.
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        forward_and_backward(x)
        peaks.append(tf.config.experimental.get_memory_info("CPU:0")["peak"] - before)
    assert peaks[1] < peaks[0] - tiles_bytes, [peak / 2 ** 20 for peak in peaks]
