import numpy as np
import pytest
from PIL import Image

from style_transfer import api, image_io
from style_transfer.config import DEFAULT, TUTORIAL
from style_transfer.errors import ConfigError, ImageError, OutputError
from style_transfer.features import FeatureExtractor

TINY = dict(max_dim=32, steps=2)


@pytest.fixture(scope="module")
def extractor(weights_file):
    return api.build_extractor(DEFAULT.replace(weights=str(weights_file)))


def test_paths_pil_images_and_arrays_give_the_same_result(content_path, style_path, extractor, weights_file):
    by_path = api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file), **TINY)
    content_pil = Image.open(content_path)
    style_array = np.asarray(Image.open(style_path))
    by_objects = api.stylize(content_pil, style_array, extractor=extractor, weights=str(weights_file), **TINY)
    np.testing.assert_array_equal(by_path.image, by_objects.image)
    assert by_path.image.shape == (1, 24, 32, 3) and by_path.image.dtype == np.float32
    assert len(by_path.losses["total"]) == 2 and by_path.config.steps == 2


def test_overrides_replace_config_fields_and_are_validated(content_path, style_path, extractor, weights_file):
    result = api.stylize(content_path, style_path, TUTORIAL, extractor=extractor, weights=str(weights_file),
                         tv_weight=0.0, **TINY)
    assert (result.config.tv_weight, result.config.jpeg_dct) == (0.0, "fast")
    assert result.losses["tv"] == [0.0, 0.0]
    with pytest.raises(ConfigError, match="steps: must be >= 0"):
        api.stylize(content_path, style_path, steps=-1)


def test_an_extractor_must_fit_the_config(content_path, style_path, extractor, weights_file):
    with pytest.raises(ConfigError, match="does not compute layers block2_conv2"):
        api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file),
                    style_layers="block2_conv2", **TINY)
    with pytest.raises(ConfigError, match="asks for 'random:5' but the extractor was built with"):
        api.stylize(content_path, style_path, extractor=extractor, weights="random:5", **TINY)


def test_an_extractor_built_from_a_model_is_not_checked_for_weights(content_path, style_path, random_vgg):
    layers = [*DEFAULT.style_layers, *DEFAULT.content_layers]
    result = api.stylize(content_path, style_path, extractor=FeatureExtractor(layers, vgg=random_vgg),
                         weights="random", **TINY)
    assert result.image.shape == (1, 24, 32, 3)


@pytest.mark.parametrize("size, max_dim, message", [
    ((400, 300), 16, "16x12 at max_dim 16 is too small .* at least 16 px .* max_dim of at least 22"),
    ((800, 80), 64, "64x6 at max_dim 64 .* max_dim of at least 160"),
])
def test_pictures_too_small_for_the_deepest_layer_are_refused_with_the_minimum(size, max_dim, message, extractor):
    picture = Image.new("RGB", size, (120, 80, 40))
    with pytest.raises(ImageError, match=message):
        api.load_inputs(picture, picture, DEFAULT.replace(max_dim=max_dim))


def test_the_minimum_follows_the_deepest_layer():
    assert api.smallest_side(DEFAULT) == 16  # block5_conv2: four pools before it
    assert api.smallest_side(DEFAULT.replace(content_layers="block2_conv2", style_layers="block1_conv1")) == 2
    assert api.smallest_side(DEFAULT.replace(style_layers="block5_pool")) == 32


def test_zero_steps_return_the_resized_content_and_no_losses(content_path, style_path, extractor, weights_file):
    result = api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file), max_dim=32, steps=0)
    content, _ = api.load_inputs(content_path, style_path, DEFAULT.replace(max_dim=32))
    np.testing.assert_array_equal(result.image, content)
    assert result.losses == {}


def test_logdir_runs_get_their_own_directories(content_path, style_path, extractor, weights_file, tmp_path):
    runs = [api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file),
                        logdir=tmp_path / "tb", run_name="pair", **TINY).run_dir for _ in range(2)]
    assert [run.name for run in runs] == ["pair", "pair-2"]
    assert all(any(run.glob("events.out.tfevents.*")) for run in runs)


def test_an_uncreatable_log_directory_is_an_output_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="cannot create"):
        api.new_run_dir(tmp_path / "afile", "run")


def test_results_save_with_their_config_and_refuse_to_overwrite(content_path, style_path, extractor, weights_file,
                                                                tmp_path):
    result = api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file), **TINY)
    path = result.save(tmp_path / "out.png")
    assert '"steps": 2' in Image.open(path).text["style_transfer:config"]
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image_io.to_uint8(result.image))
    with pytest.raises(ImageError, match="already exists"):
        result.save(path)
    assert result.to_pil().size == (32, 24)
