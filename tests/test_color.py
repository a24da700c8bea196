import numpy as np
import pytest

from style_transfer.core import color, image_io


@pytest.fixture(scope="module")
def photo(content_path):
    return image_io.load_image(content_path)[:, ::8, ::8]


@pytest.fixture(scope="module")
def painting(style_path):
    return image_io.load_image(style_path)[:, ::8, ::8]


def test_yiq_round_trips_and_grey_has_no_chrominance(photo):
    np.testing.assert_allclose(color.yiq_to_rgb(color.rgb_to_yiq(photo)), photo, atol=1e-6)
    grey = np.full((1, 2, 2, 3), 0.4, np.float32)
    yiq = color.rgb_to_yiq(grey)
    np.testing.assert_allclose(yiq[..., 0], 0.4, atol=1e-6)
    np.testing.assert_allclose(yiq[..., 1:], 0, atol=1e-6)


def test_luminance_image_is_grey_and_can_take_another_pictures_luminance_statistics(photo, painting):
    grey = color.luminance_image(photo)
    assert grey.shape == photo.shape and grey.dtype == np.float32
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])
    np.testing.assert_allclose(grey[..., 0], np.clip(color.rgb_to_yiq(photo)[..., 0], 0, 1), atol=1e-6)
    matched = color.luminance_image(painting, like=photo)[..., 0]
    target = color.rgb_to_yiq(photo)[..., 0]
    assert abs(matched.mean() - target.mean()) < 0.01 and abs(matched.std() - target.std()) < 0.01


def test_with_chrominance_keeps_the_second_pictures_chrominance_exactly_and_stays_in_range(photo, painting):
    height, width = min(photo.shape[1], painting.shape[1]), min(photo.shape[2], painting.shape[2])
    photo, painting = photo[:, :height, :width], painting[:, :height, :width]
    combined = color.with_chrominance(painting, photo)
    assert combined.min() >= 0 and combined.max() <= 1
    np.testing.assert_allclose(color.rgb_to_yiq(combined)[..., 1:], color.rgb_to_yiq(photo)[..., 1:], atol=1e-5)
    # Where no clamping was needed the luminance is the first picture's: a mid grey fits every chrominance
    # of this photograph.
    mid = np.full_like(photo, 0.5)
    np.testing.assert_allclose(color.rgb_to_yiq(color.with_chrominance(mid, photo))[..., 0], 0.5, atol=1e-5)
    bright = np.ones_like(photo)
    clamped = color.rgb_to_yiq(color.with_chrominance(bright, photo))
    assert np.all(clamped[..., 0] <= 1 + 1e-6)
    np.testing.assert_allclose(clamped[..., 1:], color.rgb_to_yiq(photo)[..., 1:], atol=1e-5)


def test_colour_statistics_matching_gives_the_targets_mean_and_covariance(photo, painting):
    matched = color.match_color_statistics(painting, photo)
    assert matched.shape == painting.shape
    pixels, target = matched.reshape(-1, 3).astype(np.float64), photo.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(pixels.mean(0), target.mean(0), atol=0.01)  # clipping moves a few pixels
    np.testing.assert_allclose(np.cov(pixels, rowvar=False), np.cov(target, rowvar=False), atol=2e-3)
    before = painting.reshape(-1, 3).astype(np.float64)
    assert np.abs(np.cov(before, rowvar=False) - np.cov(target, rowvar=False)).max() > 5e-3  # it did change


def test_a_grey_picture_does_not_break_colour_matching(photo):
    grey = np.full((1, 8, 8, 3), 0.5, np.float32)
    grey[:, :4] = 0.2
    matched = color.match_color_statistics(grey, photo)
    assert np.all(np.isfinite(matched)) and matched.min() >= 0 and matched.max() <= 1
