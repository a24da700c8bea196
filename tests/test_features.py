import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import EXACT, NETWORKS
from style_transfer.kernels import devices, pooling, winograd
from style_transfer.core import image_io, preprocessing
from style_transfer.core.config import StyleConfig
from style_transfer.core.errors import ConfigError
from style_transfer.core.features import FeatureExtractor

TUTORIAL_LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1", "block5_conv2"]


@pytest.fixture(scope="module")
def photo(content_path):
    return preprocessing.resize_to_max_dim(image_io.load_image(content_path), 96)


def test_he_scaling_keeps_activations_at_trained_scale_where_keras_default_init_fades(random_vgg, photo):
    layers = ["block1_conv1", "block5_conv2"]
    he = FeatureExtractor(layers, vgg=random_vgg, **EXACT)(photo)
    default = FeatureExtractor(layers, vgg=keras.applications.VGG19(include_top=False, weights=None), **EXACT)(photo)
    he_means = {name: float(np.mean(he[name])) for name in layers}
    assert he_means["block5_conv2"] > 10 and 0.2 < he_means["block5_conv2"] / he_means["block1_conv1"] < 5
    assert float(np.mean(default["block5_conv2"])) < 0.05 * he_means["block5_conv2"]


def test_only_layers_up_to_the_deepest_requested_are_built(random_vgg):
    extractor = FeatureExtractor(TUTORIAL_LAYERS, vgg=random_vgg, **EXACT)
    built = {layer.name for layer in extractor.model.layers}
    assert {"block5_conv3", "block5_conv4", "block5_pool"}.isdisjoint(built)
    assert set(TUTORIAL_LAYERS) <= built
    shallow = FeatureExtractor(["block2_conv1"], vgg=random_vgg, **EXACT)
    assert max(int(layer.name[5]) for layer in shallow.model.layers if layer.name.startswith("block")) == 2
    assert len(shallow.model.weights) == 3 * 2  # block1_conv1, block1_conv2, block2_conv1: kernel + bias


def test_outputs_are_named_by_keras_layer_and_shaped_by_depth(random_vgg, photo):
    outputs = FeatureExtractor(TUTORIAL_LAYERS, vgg=random_vgg, **EXACT)(photo)
    assert list(outputs) == TUTORIAL_LAYERS
    assert outputs["block1_conv1"].shape == (1, 72, 96, 64)
    assert outputs["block3_conv1"].shape == (1, 18, 24, 256)
    assert outputs["block5_conv2"].shape == (1, 4, 6, 512)


def test_preprocessing_is_vgg_caffe_style(random_vgg):
    # A pure-red image and a pure-blue one must differ after preprocessing (channel order matters), and
    # the ImageNet mean pixel must map to zero input, i.e. block1_conv1 outputs its biases (all zero here).
    extractor = FeatureExtractor(["block1_conv1"], vgg=random_vgg, **EXACT)
    mean_rgb = np.array([123.68, 116.779, 103.939], np.float32) / 255
    at_mean = extractor(np.broadcast_to(mean_rgb, (1, 8, 8, 3)).astype(np.float32))["block1_conv1"]
    assert float(np.abs(at_mean).max()) < 1e-3



def test_layers_are_checked_against_the_network():
    with pytest.raises(ValueError, match="vgg16 has no layers \\['block5_conv4'\\]"):
        FeatureExtractor(["block5_conv4"], weights="random", network="vgg16", **EXACT)
    with pytest.raises(ConfigError, match="vgg16 has no layer 'block5_conv4'; its layers: block1_conv1"):
        StyleConfig(network="vgg16", content_layers="block5_conv4")
    assert StyleConfig(network="vgg16").network == "vgg16"


def test_the_network_comes_from_weights_and_a_name_or_a_built_model_never_a_default(random_vgg):
    with pytest.raises(ValueError, match="give the weights and network to build, or a built vgg"):
        FeatureExtractor(["block1_conv1"], **EXACT)
    with pytest.raises(ValueError, match="give the weights and network to build, or a built vgg"):
        FeatureExtractor(["block1_conv1"], weights="random", network="vgg19", vgg=random_vgg, **EXACT)
    with pytest.raises(ValueError, match="weights 'random': give the network to build"):
        FeatureExtractor(["block1_conv1"], weights="random", **EXACT)
    with pytest.raises(ValueError, match="the model given is vgg19, not vgg16"):
        FeatureExtractor(["block1_conv1"], vgg=random_vgg, network="vgg16", **EXACT)
    with pytest.raises(TypeError, match="precision"):
        FeatureExtractor(["block1_conv1"], vgg=random_vgg, pooling="max", convolution="direct")


@pytest.mark.parametrize("network", NETWORKS)
def test_average_pooling_replaces_every_pool_and_shares_the_conv_weights(random_vgg_of, photo, network):
    layers = ["block1_conv1", "block3_conv1", "block5_conv1"]
    vgg = random_vgg_of(network)
    extractor = FeatureExtractor(layers, vgg=vgg, **{**EXACT, "pooling": "avg"})
    kinds = [type(layer).__name__ for layer in extractor.model.layers if "pool" in layer.name]
    assert kinds == ["AveragePooling2D"] * 4
    assert extractor.model.get_layer("block5_conv1") is vgg.get_layer("block5_conv1")
    plain = FeatureExtractor(layers, vgg=vgg, **EXACT)
    assert {type(layer).__name__ for layer in plain.model.layers if "pool" in layer.name} == {"MaxPooling2D"}
    # Before the first pool nothing differs; after it, averaging changes the activations.
    np.testing.assert_array_equal(extractor(photo)["block1_conv1"], plain(photo)["block1_conv1"])
    assert not np.allclose(extractor(photo)["block3_conv1"], plain(photo)["block3_conv1"])


@pytest.mark.parametrize("network", NETWORKS)
def test_calibration_gives_average_pooling_the_activation_scale_of_max_pooling(random_vgg_of, photo, network):
    layers = ["block1_conv1", "block3_conv1", "block5_conv1"]
    extractor = FeatureExtractor(layers, vgg=random_vgg_of(network), **{**EXACT, "pooling": "avg"})
    plain = FeatureExtractor(layers, vgg=random_vgg_of(network), **EXACT)
    uncalibrated = {name: float(np.mean(value)) for name, value in extractor(photo).items()}
    scales = extractor.calibrate(photo)
    assert scales["block1_conv1"] == 1.0
    assert 1.05 < scales["block3_conv1"] < scales["block5_conv1"]  # averaging shrinks more with every pool
    for name, value in extractor(photo).items():
        np.testing.assert_allclose(np.mean(value), np.mean(plain(photo)[name]), rtol=1e-4)
        np.testing.assert_allclose(np.mean(value), uncalibrated[name] * scales[name], rtol=1e-4)
    assert plain.calibrate(photo) == {name: 1.0 for name in layers}  # max pooling needs none
    # With size buckets both networks run padded and masked: the same scales, to float rounding.
    odd = tf.image.resize(photo, [37, 53])
    exact = extractor.calibrate(odd)
    np.testing.assert_allclose(list(extractor.calibrate(odd, size_bucket=32).values()), list(exact.values()),
                               rtol=1e-5)


def test_calibration_is_traced_once_for_every_picture_size(random_vgg, photo):
    """Run eagerly, calibration traced the Winograd layers' and fused pools' XLA functions again for every
    layer's shape and every picture size (TensorFlow's retracing warnings in every run with average pooling)."""
    layers = ["block1_conv1", "block3_conv1", "block4_conv1"]
    extractor = FeatureExtractor(layers, vgg=random_vgg, pooling="avg", precision="float32", convolution="winograd")
    compiled = (winograd._input_rows, winograd._input_columns, winograd._compiled_products, winograd._output_rows,
                pooling._first_maxima)
    extractor.calibrate(tf.image.resize(photo, [40, 56]))
    traced = [function.experimental_get_tracing_count() for function in compiled]
    for size in ([33, 47], [56, 24]):
        assert extractor.calibrate(tf.image.resize(photo, size))["block4_conv1"] > 1.05
    assert [function.experimental_get_tracing_count() for function in compiled] == traced
    assert extractor.compiled_means[0].experimental_get_tracing_count() == 1


def test_unknown_pooling_is_refused(random_vgg):
    with pytest.raises(ValueError, match="unknown pooling 'min'"):
        FeatureExtractor(["block1_conv1"], vgg=random_vgg, **{**EXACT, "pooling": "min"})


@pytest.mark.parametrize("network", NETWORKS)
def test_bfloat16_features_are_float32_and_close_to_float32s(random_vgg_of, photo, network):
    layers = ["block1_conv1", "block3_conv1", "block5_conv2"]
    exact = FeatureExtractor(layers, vgg=random_vgg_of(network), **EXACT)(photo)
    extractor = FeatureExtractor(layers, vgg=random_vgg_of(network), **{**EXACT, "precision": "bfloat16"})
    assert extractor.precision == "bfloat16"
    assert {layer.compute_dtype for layer in extractor.model.layers if "conv" in layer.name} == {"bfloat16"}
    rounded = extractor(photo)
    for name in layers:
        assert rounded[name].dtype == tf.float32
        error = np.linalg.norm(rounded[name] - exact[name]) / np.linalg.norm(exact[name])
        assert 1e-5 < error < 0.03, name  # rounded (so really bfloat16), but only by bfloat16's 8 bits


def test_auto_precision_picks_bfloat16_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(devices.tf.config, "list_physical_devices", lambda kind=None: [])
    for variable in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2", "fma", "avx512_bf16"})
    monkeypatch.setattr(devices, "onednn_enabled", lambda: True)
    assert devices.resolve_precision("auto") == "bfloat16"
    for variable, cap, expected in [("ONEDNN_MAX_CPU_ISA", "AVX2", "float32"),  # oneDNN kept off the instructions
                                    ("DNNL_MAX_CPU_ISA", "avx512_core", "float32"),
                                    ("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16", "bfloat16"),
                                    ("ONEDNN_MAX_CPU_ISA", "ALL", "bfloat16")]:
        monkeypatch.setenv(variable, cap)
        assert devices.resolve_precision("auto") == expected, (variable, cap)
        monkeypatch.delenv(variable)
    monkeypatch.setattr(devices, "onednn_enabled", lambda: False)  # Eigen's kernels emulate it: slower
    assert devices.resolve_precision("auto") == "float32"
    monkeypatch.setattr(devices, "onednn_enabled", lambda: True)
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2", "fma"})  # bfloat16 would be emulated: slower
    assert devices.resolve_precision("auto") == "float32"
    assert devices.resolve_precision("bfloat16") == "bfloat16"
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"amx_bf16"})
    monkeypatch.setattr(devices.tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"])
    assert devices.resolve_precision("auto") == "float32"


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("height, width, padded, pooling", [(37, 53, (64, 64), "max"), (64, 32, (64, 32), "max"),
                                                             (37, 53, (64, 64), "avg")])
def test_size_buckets_pad_the_input_and_mask_every_layer(random_vgg_of, photo, height, width, padded, pooling,
                                                          network):
    extractor = FeatureExtractor(TUTORIAL_LAYERS, vgg=random_vgg_of(network), **{**EXACT, "pooling": pooling})
    image = tf.image.resize(photo, [height, width])
    exact = extractor(image)
    seen = {}

    def keep(name):
        def reduce(activation, size):
            seen[name] = (activation, tuple(size.numpy()))
            return activation[:, : size[0], : size[1], :]

        return reduce

    bucketed = extractor.reduce(image, {name: keep(name) for name in TUTORIAL_LAYERS}, size_bucket=32)
    for name in TUTORIAL_LAYERS:
        activation, size = seen[name]
        pools = int(name[len("block")]) - 1
        assert tuple(activation.shape[1:3]) == (padded[0] // 2 ** pools, padded[1] // 2 ** pools)
        assert size == tuple(exact[name].shape[1:3]) == (height // 2 ** pools, width // 2 ** pools)
        outside = np.asarray(activation).copy()
        outside[:, : size[0], : size[1], :] = 0
        assert not outside.any()  # zero outside the picture, as the unpadded network's own padding
        # Inside, the unpadded network's activation, to float rounding (the deepest layers see the border).
        np.testing.assert_allclose(bucketed[name], exact[name], rtol=1e-4, atol=1e-4 * float(np.max(exact[name])))


def test_unknown_precision_is_refused(random_vgg):
    with pytest.raises(ValueError, match="unknown precision 'float16'"):
        FeatureExtractor(["block1_conv1"], vgg=random_vgg, **{**EXACT, "precision": "float16"})


def test_onednn_switched_off_is_seen():
    # TF_ENABLE_ONEDNN_OPTS is read when TensorFlow loads, so each setting needs a process of its own.
    code = "from style_transfer.kernels import devices; print(devices.onednn_enabled())"
    answers = {}
    for setting in ("0", "1"):
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": setting, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        answers[setting] = done.stdout.split()[-1]
    assert answers == {"0": "False", "1": "True"}
