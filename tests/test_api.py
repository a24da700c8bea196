import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import EXACT
from style_transfer.optimize import api
from style_transfer.core import image_io
from style_transfer.core.config import DEFAULT, TUTORIAL
from style_transfer.core.errors import ConfigError, ImageError, OutputError, ResumeError
from style_transfer.core.features import FeatureExtractor

TINY = dict(max_dim=32, steps=2)


@pytest.fixture(scope="module")
def extractor(weights_file):
    return api.build_extractor(DEFAULT.replace(weights=str(weights_file)))


def test_paths_pil_images_and_arrays_give_the_same_result(content_path, style_path, extractor, weights_file,
                                                          tmp_path):
    # Files small enough to be decoded whole (larger ones: the next test).
    content_file, style_file = tmp_path / "content.png", tmp_path / "style.png"
    Image.open(content_path).resize((240, 180)).save(content_file)
    Image.open(style_path).resize((240, 150)).save(style_file)
    by_path = api.stylize(content_file, style_file, extractor=extractor, weights=str(weights_file), **TINY)
    content_pil = Image.open(content_file)
    style_array = np.asarray(Image.open(style_file))
    by_objects = api.stylize(content_pil, style_array, extractor=extractor, weights=str(weights_file), **TINY)
    np.testing.assert_array_equal(by_path.image, by_objects.image)
    assert by_path.image.shape == (1, 24, 32, 3) and by_path.image.dtype == np.float32
    assert len(by_path.losses["total"]) == 2 and by_path.config.steps == 2


@pytest.mark.parametrize("preset, reduced", [(DEFAULT, True), (TUTORIAL, False)])
def test_files_far_larger_than_the_output_are_decoded_smaller_to_the_same_pixels(content_path, style_path, preset,
                                                                                reduced):
    config = preset.replace(max_dim=32)
    pictures = api.read_pictures(content_path, style_path, config)
    # 1024x768 and 1024x640 files for a 32 px output: DCT-scaled to 1/8, still 4x the output. The tutorial's
    # plain bilinear resize samples the files' own pixels, so its preset decodes them whole.
    expected = [(96, 128), (80, 128)] if reduced else [(768, 1024), (640, 1024)]
    assert [picture.shape[1:3] for picture in (pictures.content, *pictures.styles)] == expected
    if not reduced:  # the tutorial's own JPEG decoder is not Pillow's: pixels are compared for the defaults
        return
    from_files = api.load_inputs(content_path, style_path, config)
    from_objects = api.load_inputs(Image.open(content_path), np.asarray(Image.open(style_path)), config)
    for by_file, by_object in zip(from_files, from_objects):
        assert by_file.shape == by_object.shape
        levels = np.abs(by_file.numpy() - by_object.numpy()) * 255
        # Resampling noise: under a level on average, a few at edges.
        assert levels.mean() < 1 and levels.max() < 8, (levels.mean(), levels.max())


def test_overrides_replace_config_fields_and_are_validated(content_path, style_path, extractor, weights_file):
    result = api.stylize(content_path, style_path, TUTORIAL, extractor=extractor, weights=str(weights_file),
                         tv_weight=0.0, precision=DEFAULT.precision, **TINY)
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
    result = api.stylize(content_path, style_path, weights="random", **TINY,
                         extractor=FeatureExtractor(layers, vgg=random_vgg,
                                                    **{**EXACT, "precision": DEFAULT.precision}))
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
    assert [run.name for run in runs] == ["pair", "pair_2"]
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


def chrominance(image):
    from style_transfer.core import color

    return color.rgb_to_yiq(image)[..., 1:]


def test_luminance_preservation_keeps_the_contents_chrominance_to_rounding(content_path, style_path, extractor,
                                                                            weights_file, tmp_path):
    result = api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file), max_dim=48,
                         steps=5, preserve_colors="luminance")
    saved = image_io.load_image(result.save(tmp_path / "out.png"))
    assert np.abs(chrominance(saved) - chrominance(result.content_image)).max() < 2.5 / 255
    # The optimisation saw grey pictures, and the luminance did change.
    assert np.abs(saved - result.content_image).mean() > 0.005
    plain = api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file), max_dim=48,
                        steps=5)
    assert np.abs(chrominance(plain.image) - chrominance(plain.content_image)).max() > 10 / 255


def test_only_a_picture_saved_as_it_is_is_pulled_to_8_bit_levels(content_path, style_path, extractor,
                                                                  weights_file):
    def run(grid_steps, max_dim=48, **changes):
        return api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file),
                           max_dim=max_dim, steps=4, grid_steps=grid_steps, grid_strength=1e7, **changes)

    assert not np.array_equal(run(4).image, run(0).image)  # the comparisons below can fail
    # A luminance is recoloured after the optimisation: not pulled, the same pixels as without the pull.
    np.testing.assert_array_equal(run(4, preserve_colors="luminance").image,
                                  run(0, preserve_colors="luminance").image)
    # Two scales: only the last is pulled. The losses before each step are the same up to the first step of the
    # last scale (its starting image is the first scale's result); after it they differ.
    pulled, plain = run(4, scales=2, max_dim=64), run(0, scales=2, max_dim=64)
    assert pulled.losses["total"][:5] == plain.losses["total"][:5]
    assert pulled.losses["total"][5] != plain.losses["total"][5]


def test_histogram_preservation_gives_the_style_the_contents_colour_statistics(content_path, style_path,
                                                                             extractor, weights_file):
    result = api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file), max_dim=48,
                         steps=0, preserve_colors="histogram")
    style, content = (image.reshape(-1, 3).astype(np.float64) for image in (result.style_image, result.content_image))
    np.testing.assert_allclose(style.mean(0), content.mean(0), atol=0.02)
    np.testing.assert_allclose(np.cov(style, rowvar=False), np.cov(content, rowvar=False), atol=3e-3)


@pytest.mark.parametrize("changes, long_side", [
    ({}, 64), ({"style_scale": 0.5}, 32), ({"style_scale": 2.0}, 128), ({"style_scale": 2.0, "style_max_dim": 80}, 80),
])
def test_style_scale_and_bound_set_the_style_targets_size(content_path, style_path, changes, long_side):
    content, style = api.load_inputs(content_path, style_path, DEFAULT.replace(max_dim=64, **changes))
    assert max(style.shape[1:3]) == long_side and max(content.shape[1:3]) == 64


def test_a_style_too_small_after_scaling_names_the_fix(content_path, style_path):
    with pytest.raises(ImageError, match="style size 16 is too small .* raise style_scale or style_max_dim"):
        api.load_inputs(content_path, style_path, DEFAULT.replace(max_dim=64, style_scale=0.25))


def test_style_scale_changes_the_result(content_path, style_path, extractor, weights_file):
    common = dict(extractor=extractor, weights=str(weights_file), max_dim=64, steps=4)
    small = api.stylize(content_path, style_path, style_scale=0.5, **common)
    large = api.stylize(content_path, style_path, style_scale=2.0, **common)
    assert np.abs(small.image - large.image).mean() > 1e-3


def test_scales_run_coarse_to_fine_with_steps_at_each_and_continuous_step_numbers(content_path, style_path,
                                                                                extractor, weights_file):
    from style_transfer.optimize.optimization import Callback

    class Shapes(Callback):
        def __init__(self):
            self.seen, self.starts, self.ends = [], 0, 0

        def on_start(self, image, config):
            self.starts += 1

        def on_step(self, step, image, terms):
            self.seen.append((step, tuple(image.shape[1:3])))

        def on_end(self, image):
            self.ends += 1

    shapes = Shapes()
    result = api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file), max_dim=64,
                         steps=3, scales=2, callbacks=[shapes])
    assert shapes.seen == [(1, (24, 32)), (2, (24, 32)), (3, (24, 32)), (4, (48, 64)), (5, (48, 64)), (6, (48, 64))]
    assert (shapes.starts, shapes.ends) == (1, 1)
    assert result.image.shape == (1, 48, 64, 3) and len(result.losses["total"]) == 6 and result.steps_done == 6
    assert not result.interrupted and not result.resumable
    # The fine scale starts from the coarse result, not from the content.
    single = api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file), max_dim=64,
                         steps=3)
    assert abs(result.losses["total"][3] - single.losses["total"][0]) > 1e-3 * single.losses["total"][0]
    with pytest.raises(ConfigError, match="multi-scale run cannot be resumed"):
        api.stylize(content_path, style_path, max_dim=64, scales=2, resume="somewhere")


def test_an_init_picture_is_the_start_and_init_noise_blends_noise_in(content_path, style_path, grey_style_path,
                                                                   extractor, weights_file, tmp_path):
    common = dict(extractor=extractor, weights=str(weights_file), max_dim=48, steps=0)
    start = api.stylize(content_path, style_path, init=str(grey_style_path), **common).image
    # Decoded at a quarter of its size (DCT scaling), the picture differs from the whole one by resampling noise.
    levels = np.abs(start - tf_resize(image_io.load_image(grey_style_path), start.shape[1:3])) * 255
    assert levels.mean() < 1 and levels.max() < 8, (levels.mean(), levels.max())
    noisy = api.stylize(content_path, style_path, init_noise=0.5, **common)
    assert 0.05 < np.abs(noisy.image - noisy.content_image).mean() < 0.3
    with pytest.raises(ImageError, match="notes.txt: not an image"):
        (tmp_path / "notes.txt").write_text("not a picture")
        api.stylize(content_path, style_path, init=str(tmp_path / "notes.txt"), **common)


def tf_resize(image, size):
    from style_transfer.core import preprocessing

    return preprocessing.resize(image, tuple(size), antialias=True).numpy()


def test_average_pooling_runs_end_to_end_and_the_extractor_must_match(content_path, style_path, extractor,
                                                                    weights_file):
    with pytest.raises(ConfigError, match="asks for avg pooling but the extractor was built with max"):
        api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file), pooling="avg", **TINY)
    config = DEFAULT.replace(weights=str(weights_file), pooling="avg", max_dim=48, steps=6)
    averaged = api.stylize(content_path, style_path, config)
    maxed = api.stylize(content_path, style_path, config.replace(pooling="max"), extractor=extractor)
    # Calibration keeps the terms on max pooling's scale: same order of magnitude, not the same values.
    ratio = averaged.losses["style"][0] / maxed.losses["style"][0]
    assert 0.1 < ratio < 10 and ratio != 1
    # Six steps on random weights need not lower the style term (the first step raises the total eightfold
    # here): the run moved the picture and every term stayed finite.
    assert np.isfinite([value for terms in averaged.losses.values() for value in terms]).all()
    assert np.abs(averaged.image - averaged.content_image).mean() > 1e-3


def test_several_styles_from_a_list_or_commas_and_their_weights_are_checked(content_path, style_path,
                                                                          grey_style_path, extractor, weights_file):
    common = dict(extractor=extractor, weights=str(weights_file), **TINY)
    by_list = api.stylize(content_path, [style_path, grey_style_path], **common)
    by_commas = api.stylize(content_path, f"{style_path},{grey_style_path}", **common)
    np.testing.assert_array_equal(by_list.image, by_commas.image)
    assert len(by_list.style_images) == 2
    assert by_list.summary_figure() is not None
    first_only = api.stylize(content_path, [style_path, grey_style_path], style_blend_weights="1,0", **common)
    alone = api.stylize(content_path, style_path, **common)
    np.testing.assert_allclose(first_only.image, alone.image, atol=1e-5)
    with pytest.raises(ConfigError, match="3 weights for 2 styles"):
        api.stylize(content_path, [style_path, grey_style_path], style_blend_weights="1,2,3", **common)


def test_masks_are_checked_against_the_content_and_the_blend_weights(content_path, style_path, grey_style_path,
                                                                   extractor, weights_file, tmp_path):
    common = dict(extractor=extractor, weights=str(weights_file), **TINY)
    Image.new("L", (100, 100), 255).save(tmp_path / "square.png")
    with pytest.raises(ImageError, match="square.png: the mask is 100x100, the content 1024x768"):
        api.stylize(content_path, style_path, mask=str(tmp_path / "square.png"), **common)
    Image.new("L", (400, 300), 255).save(tmp_path / "mask.png")
    with pytest.raises(ConfigError, match="does not apply with a mask"):
        api.stylize(content_path, [style_path, grey_style_path], mask=str(tmp_path / "mask.png"),
                    style_blend_weights="1,1", **common)


def test_a_mask_paints_only_its_region(content_path, style_path, extractor, weights_file, tmp_path):
    mask = Image.new("L", (400, 300), 0)
    mask.paste(255, (200, 0, 400, 300))  # right half white: styled; left half black: kept
    mask.save(tmp_path / "right.png")
    result = api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file), max_dim=64,
                         steps=6, mask=str(tmp_path / "right.png"))
    left, right = slice(0, 28), slice(36, 64)  # clear of the soft border
    np.testing.assert_array_equal(result.image[:, :, left], result.content_image[:, :, left])
    assert np.abs(result.image[:, :, right] - result.content_image[:, :, right]).mean() > 0.01


def test_a_multi_scale_run_stopped_midway_reports_its_steps_and_keeps_the_colours(content_path, style_path,
                                                                                extractor, weights_file):
    import threading

    from style_transfer.core import color
    from style_transfer.optimize.optimization import Callback

    stop = threading.Event()

    class StopAt(Callback):
        def on_step(self, step, image, terms):
            if step == 5:
                stop.set()

    result = api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file), max_dim=128,
                         steps=3, scales=3, preserve_colors="luminance", stop=stop, callbacks=[StopAt()])
    assert result.interrupted and not result.resumable and result.steps_done == 5
    assert result.image.shape == (1, 48, 64, 3) and len(result.losses["total"]) == 5  # stopped in the second scale
    # The picture of the second scale (64 px) has the colour content's chrominance at that size (the content
    # as decoded for the largest scale, 128 px: at half its size).
    expected = tf_resize_to(image_io.load_image(content_path, max_dim=128), 64)
    assert np.abs(color.rgb_to_yiq(result.image)[..., 1:] - color.rgb_to_yiq(expected)[..., 1:]).max() < 1e-4
    with pytest.raises(ResumeError, match="multi-scale run cannot be checkpointed"):
        result.save_checkpoint("anywhere")


def tf_resize_to(image, max_dim):
    from style_transfer.core import preprocessing

    return preprocessing.resize_to_max_dim(image, max_dim).numpy()


def test_bad_style_lists_and_init_names_are_config_errors(content_path, style_path):
    with pytest.raises(ConfigError, match="style: expected one picture or several as A,B"):
        api.stylize(content_path, f"{style_path},", max_dim=32)
    with pytest.raises(ConfigError, match="init: must be content, noise, style or the path of a picture"):
        api.stylize(content_path, style_path, max_dim=32, init="nosie")


def test_pictures_of_many_sizes_and_every_scale_share_one_trace(content_path, style_path, weights_file):
    extractor = api.build_extractor(DEFAULT.replace(weights=str(weights_file)))
    shapes = set()
    for max_dim, scales in ((32, "1"), (40, "1"), (64, "32,64"), (36, "1"), (56, "1")):
        result = api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file),
                             max_dim=max_dim, scales=scales, steps=2)
        shapes.add(result.image.shape)
        assert not np.array_equal(result.image, result.content_image)  # it did optimise
    (objective,) = extractor.compiled_objectives.values()
    assert len(shapes) == 5
    assert objective.tracing_count() == 2  # the targets and the Adam step
    for max_dim in (40, 36, 56):  # with size buckets, too: one more objective, traced once, the same losses
        runs = [api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file),
                            max_dim=max_dim, steps=2, size_bucket=bucket) for bucket in (0, 32)]
        np.testing.assert_allclose(runs[1].losses["total"][0], runs[0].losses["total"][0], rtol=1e-5)
    assert [o.tracing_count() for o in extractor.compiled_objectives.values()] == [2, 2]


def test_an_extractor_of_another_precision_is_refused(content_path, style_path, extractor, weights_file):
    other = "float32" if extractor.precision == "bfloat16" else "bfloat16"  # 'auto' decides the extractor's
    with pytest.raises(ConfigError, match=f"asks for {other} precision but the extractor computes in "
                                          f"{extractor.precision}"):
        api.stylize(content_path, style_path, extractor=extractor, weights=str(weights_file), precision=other, **TINY)


def test_the_api_keeps_tensorflows_start_up_banner_off_stderr_as_the_commands_do():
    # Fresh processes, with TensorFlow's own logging at its default level: importing it prints its banner.
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    plain = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True,
                           env=environment)
    if not plain.stderr:
        pytest.skip("this TensorFlow prints nothing when imported, so there is nothing to keep off stderr")
    quiet = subprocess.run([sys.executable, "-c", "from style_transfer import stylize; print(stylize.__name__)"],
                           capture_output=True, text=True, env=environment)
    assert quiet.returncode == 0 and quiet.stdout == "stylize\n"
    assert quiet.stderr == ""
