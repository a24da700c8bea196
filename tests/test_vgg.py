import os
import warnings

import keras
import numpy as np
import pytest

from conftest import write_official_layout
from style_transfer.core import vgg
from style_transfer.core.errors import WeightsError


def all_weights(model, network="vgg19"):
    return [np.asarray(w) for name in vgg.conv_layers(network) for w in model.get_layer(name).get_weights()]


def assert_same_weights(model_a, model_b, network="vgg19"):
    for a, b in zip(all_weights(model_a, network), all_weights(model_b, network), strict=True):
        np.testing.assert_array_equal(a, b)


def test_random_weights_are_he_normal_with_zero_biases_and_seeded(random_vgg):
    for name in vgg.conv_layers("vgg19"):
        kernel, bias = random_vgg.get_layer(name).get_weights()
        fan_in = np.prod(kernel.shape[:-1])
        assert abs(kernel.mean()) < 0.02 * np.sqrt(2 / fan_in)
        np.testing.assert_allclose(kernel.std(), np.sqrt(2 / fan_in), rtol=0.05)
        assert not bias.any()
    assert_same_weights(random_vgg, vgg.build_vgg("random:0", "vgg19"))
    other = vgg.build_vgg("random:1", "vgg19")
    assert not np.array_equal(all_weights(other)[0], all_weights(random_vgg)[0])



def test_official_layout_file_loads_by_layer_name(random_vgg, weights_file):
    assert_same_weights(random_vgg, vgg.build_vgg(str(weights_file), "vgg19"))


def test_official_file_with_the_classifier_also_loads(random_vgg, tmp_path):
    classifier = {"fc1": [np.zeros((4, 2), np.float32), np.zeros(2, np.float32)]}
    path = write_official_layout(random_vgg, tmp_path / "with_top.h5", extra_layers=classifier)
    assert_same_weights(random_vgg, vgg.build_vgg(str(path), "vgg19"))


def test_keras_loads_the_official_layout_we_write(random_vgg, weights_file):
    # Keras' own reader of the official file accepts ours: the layout written by the tests is the real one.
    model = keras.applications.VGG19(include_top=False, weights=str(weights_file))
    assert_same_weights(random_vgg, model)


@pytest.mark.parametrize("name", ["vgg19.weights.h5", "vgg19_saved.h5", "weights"])
def test_keras_weights_h5_files_load_whatever_their_name(random_vgg, tmp_path, name):
    random_vgg.save_weights(tmp_path / "saved.weights.h5")
    os.replace(tmp_path / "saved.weights.h5", tmp_path / name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same_weights(random_vgg, vgg.build_vgg(str(tmp_path / name), "vgg19"))


def test_wrong_shapes_name_the_layer(random_vgg, tmp_path):
    path = write_official_layout(random_vgg, tmp_path / "bad.h5")
    import h5py

    with h5py.File(path, "a") as weights_file:
        del weights_file["block3_conv2/block3_conv2_W_1:0"]
        weights_file["block3_conv2"].create_dataset("block3_conv2_W_1:0", data=np.zeros((3, 3, 256, 8), np.float32))
    with pytest.raises(WeightsError, match=r"layer block3_conv2 has weights of shapes \[\(3, 3, 256, 8\), \(256,\)\]"):
        vgg.build_vgg(str(path), "vgg19")


def test_a_keras_weights_file_for_another_model_is_refused(tmp_path):
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(WeightsError, match="does not fit VGG19"):
        vgg.build_vgg(str(tmp_path / "other.weights.h5"), "vgg19")


@pytest.mark.parametrize("saved, network", [("vgg16", "vgg19"), ("vgg19", "vgg16")])
@pytest.mark.parametrize("layout", ["official", "keras"])
def test_the_other_networks_weights_file_is_one_line_naming_both(tmp_path, saved, network, layout):
    model = vgg.build_vgg("random", saved)
    path = tmp_path / ("saved.weights.h5" if layout == "keras" else "saved.h5")
    if layout == "keras":
        model.save_weights(path)
    else:
        write_official_layout(model, path)
    with pytest.raises(WeightsError) as raised:
        vgg.build_vgg(str(path), network)
    message = str(raised.value)
    assert "\n" not in message
    assert f"holds {saved.upper()} weights, but the network is {network}" in message
    assert f"--network {saved}" in message


@pytest.mark.parametrize("network, convolutions", [("vgg19", 16), ("vgg16", 13)])
def test_each_network_builds_from_its_own_files_and_random_weights(tmp_path, network, convolutions):
    model = vgg.build_vgg("random:3", network)
    assert vgg.network_of(model) == network
    assert len(vgg.conv_layers(network)) == convolutions
    for path, save in [(tmp_path / "official.h5", lambda path: write_official_layout(model, path)),
                       (tmp_path / "saved.weights.h5", model.save_weights)]:
        save(path)
        assert_same_weights(model, vgg.build_vgg(str(path), network), network)
    assert_same_weights(model, vgg.build_vgg("random:3", network), network)




@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("directory", "not a file"),
    (b"", "not a readable VGG weights file"),
    (os.urandom(4096), "not a readable VGG weights file"),
    ("hdf5-other", "neither the official VGG layout nor a Keras .weights.h5"),
])
def test_unusable_weights_files_give_one_clear_error(tmp_path, content, message):
    path = tmp_path / "vgg.h5"
    if content == "directory":
        path.mkdir()
    elif content == "hdf5-other":
        import h5py

        with h5py.File(path, "w") as weights_file:
            weights_file["x"] = np.zeros(3)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match=message) as raised:
        vgg.build_vgg(str(path), "vgg19")
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_random_seed_must_be_a_number():
    with pytest.raises(WeightsError, match="must be an integer"):
        vgg.build_vgg("random:abc", "vgg19")


def test_keras_cache_dir_follows_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert vgg.keras_cache_dir() == tmp_path / "models"
    monkeypatch.delenv("KERAS_HOME")
    assert vgg.keras_cache_dir().name == "models" and vgg.keras_cache_dir().parent.name == ".keras"


