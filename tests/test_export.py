import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from style_transfer.kernels import devices
from style_transfer.fast import export
from style_transfer.core.errors import ModelError, OutputExistsError
from style_transfer.fast.transformer import one_hot, transformer_network


def paint(network, images, style=0):
    return network([images, one_hot(style, export.style_count(network), len(images))]).numpy()


@pytest.fixture(scope="module")
def network():
    keras.utils.set_random_seed(3)
    return transformer_network(filters=4, residual_blocks=1)


def test_the_loaded_export_computes_what_the_network_computes(network, tmp_path):
    directory = export.save(network, tmp_path / "model", metadata={"style": "starry_night.jpg", "steps": 7})
    images = np.random.default_rng(0).random((2, 37, 21, 3), dtype=np.float32)
    stylizer = export.load(directory)
    np.testing.assert_array_equal(stylizer(images), paint(network, images))
    assert stylizer.metadata == {"style": "starry_night.jpg", "steps": 7, "style_count": 1}
    assert (stylizer.styles, stylizer.style_names) == (1, ["style"])
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".")]  # no staging left


def test_the_bfloat16_signature_rounds_but_stays_close(network, tmp_path, monkeypatch):
    directory = export.save(network, tmp_path / "model")
    images = np.random.default_rng(2).random((2, 33, 29, 3), dtype=np.float32)
    exact = export.load(directory, "float32")
    rounded = export.load(directory, "bfloat16")
    assert (exact.precision, rounded.precision) == ("float32", "bfloat16")
    difference = np.abs(rounded(images) - exact(images))
    assert rounded(images).dtype == np.float32
    assert 1e-4 < difference.mean() < 0.01 and difference.max() < 0.08
    monkeypatch.setattr(devices, "resolve_precision", lambda precision: "bfloat16")
    assert export.load(directory, "auto").precision == "bfloat16"
    monkeypatch.setattr(devices, "resolve_precision", lambda precision: "float32")
    assert export.load(directory, "auto").precision == "float32"


def test_an_export_without_the_bfloat16_signature_runs_in_float32(network, tmp_path, monkeypatch):
    module = tf.Module()
    module.model = network
    module.serve = tf.function(lambda images: {export.OUTPUT_NAME: network([images, tf.ones([tf.shape(images)[0], 1])])},
                               input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "old"), signatures={export.SIGNATURE: module.serve})
    with pytest.raises(ModelError, match="exported without the serving_bfloat16 signature; use precision float32"):
        export.load(tmp_path / "old", "bfloat16")
    monkeypatch.setattr(devices, "resolve_precision", lambda precision: "bfloat16")
    old = export.load(tmp_path / "old", "auto")
    assert old.precision == "float32" and old.styles == 1  # written before networks had several styles
    images = np.random.default_rng(6).random((1, 12, 16, 3), dtype=np.float32)
    np.testing.assert_array_equal(old(images), paint(network, images))
    with pytest.raises(ValueError, match="style 1 is out of range"):
        old(images, 1)
    with pytest.raises(ValueError, match="precision must be one of auto, float32, bfloat16, got 'half'"):
        export.load(tmp_path / "old", "half")


def test_the_tflite_network_computes_what_the_network_computes(network, tmp_path):
    directory = export.save(network, tmp_path / "model", metadata={"style": "x"}, tflite=True)
    stylizer = export.load(directory / export.TFLITE_FILE, "auto")
    assert isinstance(stylizer, export.TFLiteStylizer) and stylizer.precision == "float32"
    assert stylizer.metadata["style"] == "x"
    rng = np.random.default_rng(4)
    for shape in [(1, 37, 21, 3), (2, 16, 40, 3), (1, 37, 21, 3)]:  # the interpreter is resized each time
        images = rng.random(shape, dtype=np.float32)
        np.testing.assert_allclose(stylizer(images), paint(network, images), atol=1e-5)
    with pytest.raises(ValueError, match="at least 5 pixels a side, got 4x9"):
        stylizer(np.zeros((1, 9, 4, 3), np.float32))
    with pytest.raises(ModelError, match="TensorFlow Lite networks compute in float32"):
        export.load(directory / export.TFLITE_FILE, "bfloat16")
    assert not (export.save(network, tmp_path / "plain") / export.TFLITE_FILE).exists()  # only when asked


def test_damaged_tflite_files_are_refused_before_the_interpreter_reads_them(network, tmp_path):
    directory = export.save(network, tmp_path / "model", tflite=True)
    flat_buffer = (directory / export.TFLITE_FILE).read_bytes()
    for cut in (64, 1000, len(flat_buffer) - 100):  # such prefixes crashed the interpreter (segmentation fault)
        (directory / export.TFLITE_FILE).write_bytes(flat_buffer[:cut])
        with pytest.raises(ModelError, match=f"{export.TFLITE_FILE}: damaged or incomplete \\({cut} bytes"):
            export.load(directory / export.TFLITE_FILE)
    (tmp_path / "broken.tflite").write_bytes(b"not a flat buffer")
    with pytest.raises(ModelError, match="broken.tflite: not a TensorFlow Lite network"):
        export.load(tmp_path / "broken.tflite")


def test_a_failed_tflite_conversion_keeps_the_saved_model(network, tmp_path, monkeypatch):
    def refuse(model):
        raise ModelError("TensorFlow Lite cannot convert the network (an unsupported op)")

    monkeypatch.setattr(export, "tflite_bytes", refuse)
    with pytest.raises(ModelError, match="an unsupported op\\); the SavedModel was written to .*model"):
        export.save(network, tmp_path / "model", tflite=True)
    assert export.load(tmp_path / "model").precision == "float32"
    assert not (tmp_path / "model" / export.TFLITE_FILE).exists()


def test_a_fresh_process_loads_it_without_the_training_code(network, tmp_path):
    directory = export.save(network, tmp_path / "model")
    images = np.random.default_rng(1).random((1, 40, 30, 3), dtype=np.float32)
    np.save(tmp_path / "in.npy", images)
    script = (f"import sys, numpy as np; from style_transfer.fast import export; "
              f"out = export.load({str(directory)!r})(np.load({str(tmp_path / 'in.npy')!r})); "
              f"np.save({str(tmp_path / 'out.npy')!r}, out); "
              f"assert 'style_transfer.fast.transformer' not in sys.modules, 'training code'")
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), paint(network, images))


def test_a_run_directory_finds_its_export_and_existing_exports_are_kept(network, tmp_path):
    run_dir = tmp_path / "run"
    export.save(network, run_dir / "export", metadata={"a": 1})
    assert export.load(run_dir).directory == run_dir / "export"
    before = (run_dir / "export" / "saved_model.pb").read_bytes()
    with pytest.raises(OutputExistsError):
        export.save(network, run_dir / "export")
    assert (run_dir / "export" / "saved_model.pb").read_bytes() == before
    export.save(network, run_dir / "export", metadata={"a": 2}, overwrite=True)
    assert json.loads((run_dir / "export" / export.METADATA_FILE).read_text()) == {"a": 2, "style_count": 1}


def test_pictures_too_small_for_the_network_are_refused_by_name(network, tmp_path):
    stylizer = export.load(export.save(network, tmp_path / "model"))
    assert stylizer(np.zeros((1, 5, 5, 3), np.float32)).shape == (1, 5, 5, 3)
    with pytest.raises(ValueError, match="at least 5 pixels a side, got 4x9"):
        stylizer(np.zeros((1, 9, 4, 3), np.float32))


def test_what_is_not_an_export_is_named(tmp_path):
    with pytest.raises(ModelError, match="no such model directory"):
        export.load(tmp_path / "missing")
    with pytest.raises(ModelError, match="not a SavedModel export"):
        export.load(tmp_path)
    (tmp_path / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(ModelError, match="cannot load the SavedModel"):
        export.load(tmp_path)


@pytest.fixture(scope="module")
def three_styles():
    keras.utils.set_random_seed(8)
    network = transformer_network(filters=4, residual_blocks=1, styles=3)
    rng = np.random.default_rng(8)
    for layer in network.layers:
        if hasattr(layer, "styles"):
            layer.offset.assign(rng.normal(0, 0.5, layer.offset.shape).astype("float32"))
    return network


@pytest.mark.parametrize("tflite", [False, True])
def test_styles_are_picked_by_name_index_or_blend_in_the_saved_model_and_tflite(three_styles, tmp_path, tflite):
    names = ["starry_night", "the_scream", "woman-with-hat-matisse"]
    directory = export.save(three_styles, tmp_path / "model", metadata={"style_names": names}, tflite=tflite)
    stylizer = export.load(directory / export.TFLITE_FILE if tflite else directory)
    assert (stylizer.styles, stylizer.style_names) == (3, names)
    images = np.random.default_rng(9).random((2, 20, 28, 3), dtype=np.float32)
    tolerance = 1e-5 if tflite else 0
    for style, index in [(None, 0), ("the_scream", 1), ("scream", 1), ("woman", 2), (2, 2), ("1", 1)]:
        np.testing.assert_allclose(stylizer(images, style), paint(three_styles, images, index), atol=tolerance)
    blend = np.array([0.7, 0.3, 0.0], np.float32)
    expected = three_styles([images, np.tile(blend, (2, 1))]).numpy()
    np.testing.assert_allclose(stylizer(images, {"starry": 0.7, "scream": 0.3}), expected, atol=1e-5)
    np.testing.assert_allclose(stylizer(images, {0: 7, 1: 3}), expected, atol=1e-5)  # scaled to sum to 1
    per_picture = stylizer(images, np.eye(3, dtype=np.float32)[[2, 0]])
    np.testing.assert_allclose(per_picture[0], paint(three_styles, images, 2)[0], atol=1e-5)
    np.testing.assert_allclose(per_picture[1], paint(three_styles, images, 0)[1], atol=1e-5)
    for style, message in [("cubism", "'cubism' is not one of the network's styles: 0: starry_night, 1: the_scream"),
                           ("a", "'a' matches several styles"), (3, "style 3 is out of range"),
                           ({"starry": -1, "scream": 2}, "must be finite, >= 0 and not all 0"),
                           ([1.0, 0.0], r"expected 3 style weight\(s\) per picture")]:
        with pytest.raises(ValueError, match=message):
            stylizer(images, style)


def test_strength_mixes_the_photograph_with_the_style_and_luminance_keeps_its_colours(three_styles, tmp_path):
    from style_transfer.core import color

    stylizer = export.load(export.save(three_styles, tmp_path / "model"))
    images = np.random.default_rng(10).random((1, 24, 24, 3), dtype=np.float32)
    np.testing.assert_allclose(stylizer(images, 1, strength=0.0), images, atol=1e-7)
    full = stylizer(images, 1)
    distances = [np.abs(stylizer(images, 1, strength=s) - images).mean() for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(a < b for a, b in zip(distances, distances[1:]))  # monotone from the photograph to the full style
    np.testing.assert_allclose(distances[2], np.abs(full - images).mean() / 2, rtol=1e-4)
    kept = stylizer(images, 1, preserve_colors="luminance")
    np.testing.assert_allclose(color.rgb_to_yiq(kept)[..., 1:], color.rgb_to_yiq(images)[..., 1:], atol=2e-3)
    np.testing.assert_allclose(kept, color.with_chrominance(full, images), atol=1e-6)  # the optimiser's combination
    with pytest.raises(ValueError, match=r"strength must be in \[0, 1\], got 1.5"):
        stylizer(images, strength=1.5)
    with pytest.raises(ValueError, match="preserve_colors must be one of none, luminance"):
        stylizer(images, preserve_colors="histogram")
