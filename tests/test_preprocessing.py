import numpy as np
import pytest
import tensorflow as tf

from style_transfer.core import image_io, preprocessing


def tutorial_size(height, width, max_dim):
    # The tutorial's load_img, verbatim in its arithmetic.
    shape = tf.cast(tf.constant([height, width]), tf.float32)
    scale = max_dim / max(shape)
    return tuple(tf.cast(shape * scale, tf.int32).numpy())


SIZES = [(768, 1024), (734, 979), (400, 760), (1475, 960), (197, 197), (1331, 1054), (3, 1000), (5000, 7)]


@pytest.mark.parametrize("height, width", SIZES)
@pytest.mark.parametrize("max_dim", [16, 64, 511, 512, 1000])
def test_tutorial_sizes_are_reproduced_exactly(height, width, max_dim):
    expected = tuple(max(int(v), 1) for v in tutorial_size(height, width, max_dim))
    assert preprocessing.target_size(height, width, max_dim, tutorial=True) == expected


@pytest.mark.parametrize("height, width", SIZES)
@pytest.mark.parametrize("max_dim", [16, 64, 511, 512, 1000])
def test_default_sizes_hit_max_dim_exactly_and_keep_the_aspect_ratio(height, width, max_dim):
    new_height, new_width = preprocessing.target_size(height, width, max_dim)
    assert max(new_height, new_width) == max_dim and min(new_height, new_width) >= 1
    short, long_ = sorted((height, width))
    assert abs(min(new_height, new_width) - short * max_dim / long_) <= 0.5 or min(new_height, new_width) == 1


def test_the_tutorials_truncation_can_lose_a_pixel_which_the_default_does_not():
    assert preprocessing.target_size(734, 979, 1000, tutorial=True) == (749, 999)
    assert preprocessing.target_size(734, 979, 1000) == (750, 1000)


def test_plain_resize_is_tf_image_resize_and_antialiased_resize_stays_in_range(content_path):
    image = image_io.load_image(content_path)
    plain = preprocessing.resize_to_max_dim(image, 64, method="tutorial")
    np.testing.assert_array_equal(plain, tf.image.resize(image, (48, 64)))
    smooth = preprocessing.resize_to_max_dim(image, 64, method="antialias")
    assert smooth.shape == (1, 48, 64, 3)
    assert 0 <= float(tf.reduce_min(smooth)) and float(tf.reduce_max(smooth)) <= 1
    # Antialiasing averages over the ~16 source pixels per output pixel; plain bilinear samples 4 of them,
    # so its result keeps more of the photograph's fine texture (aliasing) as high-frequency energy.
    assert float(tf.image.total_variation(plain)[0]) > float(tf.image.total_variation(smooth)[0])


def test_initial_images():
    content = tf.constant(np.random.default_rng(0).random((1, 6, 8, 3), np.float32))
    rows = np.linspace(0, 1, 12, dtype=np.float32)[:, None, None] * np.ones((12, 9, 3), np.float32)
    style = tf.constant(rows[None])  # dark at the top, bright at the bottom
    np.testing.assert_array_equal(preprocessing.initial_image("content", content, style, seed=0), content)
    from_style = preprocessing.initial_image("style", content, style, seed=0).numpy()
    assert from_style.shape == content.shape
    assert from_style[0, 0].mean() < 0.15 and from_style[0, -1].mean() > 0.85  # the style, resized
    noise = preprocessing.initial_image("noise", content, style, seed=1).numpy()
    assert noise.shape == content.shape and 0 <= noise.min() and noise.max() < 1 and noise.std() > 0.2
    np.testing.assert_array_equal(noise, preprocessing.initial_image("noise", content, style, seed=1))
    assert not np.array_equal(noise, preprocessing.initial_image("noise", content, style, seed=2))


def test_init_noise_blends_seeded_noise_into_the_start():
    content = tf.fill([1, 8, 8, 3], 0.5)
    noise = preprocessing.initial_image("noise", content, content, seed=4).numpy()
    half = preprocessing.initial_image("content", content, content, seed=4, init_noise=0.5).numpy()
    np.testing.assert_allclose(half, 0.25 + 0.5 * noise, atol=1e-6)
    np.testing.assert_array_equal(preprocessing.initial_image("content", content, content, seed=4, init_noise=1.0),
                                  noise)
    np.testing.assert_array_equal(preprocessing.initial_image("content", content, content, seed=4), content)


def test_an_init_picture_is_resized_to_the_content():
    content = tf.zeros([1, 6, 8, 3])
    picture = np.linspace(0, 1, 12 * 16 * 3, dtype=np.float32).reshape(1, 12, 16, 3)
    start = preprocessing.initial_image("my.png", content, content, seed=0, init_picture=picture).numpy()
    np.testing.assert_allclose(start, preprocessing.resize(picture, (6, 8), antialias=True), atol=1e-6)
    with pytest.raises(ValueError, match="names a picture, but none was given"):
        preprocessing.initial_image("my.png", content, content, seed=0)


def mask_of(grey, opacity=None):
    grey = np.asarray(grey, np.float32)
    opacity = np.ones_like(grey) if opacity is None else np.asarray(opacity, np.float32)
    return np.stack([grey, opacity], -1)[None]


@pytest.mark.parametrize("styles, grey, expected", [
    (2, [0.0, 1.0, 0.4, 0.6], [0, 1, 0, 1]),     # black and white, and the nearest of them
    (3, [0.0, 0.5, 1.0, 0.2], [0, 1, 2, 0]),     # three evenly spaced levels
    (1, [1.0, 0.0, 0.7, 0.3], [0, "keep", 0, "keep"]),  # one style: white styled, black kept
])
def test_mask_grey_levels_select_styles(styles, grey, expected):
    regions, keep = preprocessing.mask_regions(mask_of([grey]), styles, (1, 4))
    regions, keep = regions.numpy()[..., 0, :, 0], keep.numpy()[0, 0, :, 0]
    for column, label in enumerate(expected):
        if label == "keep":
            assert keep[column] == 1 and regions[:, column].sum() == 0
        else:
            assert regions[label, column] == 1 and keep[column] == 0


def test_transparent_mask_pixels_keep_the_content_and_regions_resize_softly():
    grey = np.zeros((8, 8), np.float32)
    grey[:, 4:] = 1
    opacity = np.ones((8, 8), np.float32)
    opacity[:4] = 0
    regions, keep = preprocessing.mask_regions(mask_of(grey, opacity), 2, (4, 4))
    regions, keep = regions.numpy()[..., 0], keep.numpy()[0, ..., 0]
    np.testing.assert_allclose(regions.sum(0) + keep, 1, atol=1e-6)
    assert keep[0].min() > 0.8 and keep[3].max() == 0  # the top half is kept, softly at its border
    assert 0 < keep[1:3].min() and keep[1:3].max() < 1
    np.testing.assert_allclose([regions[0, 3, 0], regions[1, 3, 3]], 1, atol=1e-6)
    assert 0 < regions[0, 3, 1] < 1  # a soft border between the styles
    assert preprocessing.resize_regions(regions[..., None], (2, 2)).shape == (2, 2, 2, 1)
