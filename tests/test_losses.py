import numpy as np
import pytest
import tensorflow as tf

from style_transfer.core import losses

RNG = np.random.default_rng(0)


def features(*shape):
    return tf.constant(RNG.standard_normal(shape).astype(np.float32))


def test_gram_matrix_matches_numpy_and_is_symmetric_positive_semidefinite():
    activations = features(1, 5, 7, 4)
    gram = losses.gram_matrix(activations, "hw").numpy()
    flat = activations.numpy().reshape(35, 4).astype(np.float64)
    np.testing.assert_allclose(gram[0], flat.T @ flat / 35, rtol=1e-5)
    np.testing.assert_array_equal(gram[0], gram[0].T)
    assert np.linalg.eigvalsh(gram[0].astype(np.float64)).min() > -1e-5


def test_gram_matrix_ignores_where_features_are_and_averages_over_locations():
    activations = features(1, 6, 6, 3)
    shuffled = tf.reshape(tf.random.shuffle(tf.reshape(activations, [36, 3]), seed=1), [1, 6, 6, 3])
    np.testing.assert_allclose(losses.gram_matrix(shuffled, "hw"), losses.gram_matrix(activations, "hw"), rtol=1e-5)
    tiled = tf.tile(activations, [1, 2, 3, 1])  # six copies: a sum would grow six-fold, a mean does not
    np.testing.assert_allclose(losses.gram_matrix(tiled, "hw"), losses.gram_matrix(activations, "hw"), rtol=1e-5)


def test_weighted_mse_is_zero_on_identical_inputs_and_matches_a_reference():
    outputs = {"a": features(1, 4, 4, 2), "b": features(1, 2, 2, 3)}
    targets = {"a": features(1, 4, 4, 2), "b": features(1, 2, 2, 3)}
    layer_weights = {"a": 1.0, "b": 3.0}
    zero, zero_parts = losses.weighted_mse(outputs, outputs, layer_weights, weight=5.0)
    assert float(zero) == 0 and all(float(v) == 0 for v in zero_parts.values())
    loss, parts = losses.weighted_mse(outputs, targets, layer_weights, weight=5.0)
    means = {k: np.mean((outputs[k].numpy() - targets[k].numpy()) ** 2) for k in outputs}
    expected = 5.0 * (1 * means["a"] + 3 * means["b"]) / 4
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    np.testing.assert_allclose(sum(float(v) for v in parts.values()), float(loss), rtol=1e-5)


def test_total_variation_is_zero_on_a_constant_image_and_sums_absolute_neighbour_differences():
    assert float(losses.total_variation_loss(tf.fill([1, 9, 7, 3], 0.3), 0.0)) == 0
    image = RNG.random((1, 9, 7, 3)).astype(np.float32)
    expected = np.abs(np.diff(image, axis=1)).sum() + np.abs(np.diff(image, axis=2)).sum()
    np.testing.assert_allclose(float(losses.total_variation_loss(tf.constant(image), 0.0)), expected, rtol=1e-5)


def objective(image, features_, content_targets, style_targets, **weights):
    kwargs = dict(content_layers={"c": 1.0}, style_layers={"s1": 1.0, "s2": 1.0},
                  content_weight=1e4, style_weight=1e-2, tv_weight=30.0, gram_norm="hw", tv_smoothing=0.0)
    kwargs.update(weights)
    return losses.total_loss(features_, image, content_targets=content_targets, style_targets=style_targets,
                             **kwargs)


@pytest.fixture
def problem():
    image = tf.constant(RNG.random((1, 8, 8, 3)).astype(np.float32))
    feats = {"c": features(1, 2, 2, 4), "s1": features(1, 8, 8, 3), "s2": features(1, 4, 4, 5)}
    content_targets = {"c": features(1, 2, 2, 4)}
    style_targets = {name: losses.gram_matrix(features(*feats[name].shape), "hw") for name in ("s1", "s2")}
    return image, feats, content_targets, style_targets


def test_total_loss_terms_add_up_and_are_what_gets_logged(problem):
    total, terms = objective(*problem)
    assert set(terms) == {"total", "content", "style", "tv", "style/s1", "style/s2", "content/c"}
    np.testing.assert_allclose(float(total), float(terms["content"] + terms["style"] + terms["tv"]), rtol=1e-6)
    np.testing.assert_allclose(float(terms["style"]), float(terms["style/s1"] + terms["style/s2"]), rtol=1e-5)
    assert float(terms["total"]) == float(total)


def test_each_weight_scales_only_its_own_term(problem):
    _, base = objective(*problem)
    _, scaled = objective(*problem, content_weight=2e4, style_weight=3e-2, tv_weight=0.0)
    np.testing.assert_allclose(float(scaled["content"]), 2 * float(base["content"]), rtol=1e-6)
    np.testing.assert_allclose(float(scaled["style"]), 3 * float(base["style"]), rtol=1e-6)
    assert float(scaled["tv"]) == 0


def test_content_loss_vanishes_when_features_equal_their_targets(problem):
    image, feats, _, style_targets = problem
    _, terms = objective(image, feats, {"c": feats["c"]}, style_targets)
    assert float(terms["content"]) == 0 and float(terms["style"]) > 0


def test_chw_normalisation_divides_each_layer_by_its_channel_count():
    activations = features(1, 5, 5, 8)
    np.testing.assert_allclose(losses.gram_matrix(activations, "chw"), losses.gram_matrix(activations, "hw") / 8,
                               rtol=1e-6)


def test_a_guided_gram_matrix_with_a_mask_of_ones_is_the_plain_one_and_only_sees_its_region():
    activations = features(1, 6, 8, 4)
    ones = tf.ones([1, 6, 8, 1])
    np.testing.assert_allclose(losses.guided_gram_matrices(activations, ones, "hw"),
                               losses.gram_matrix(activations, "hw"), rtol=1e-5)
    left = np.zeros([2, 6, 8, 1], np.float32)
    left[0, :, :4] = 1
    left[1, :, 4:] = 1
    grams = losses.guided_gram_matrices(activations, tf.constant(left), "hw").numpy()
    np.testing.assert_allclose(grams[0], losses.gram_matrix(activations[:, :, :4], "hw")[0], rtol=1e-5)
    np.testing.assert_allclose(grams[1], losses.gram_matrix(activations[:, :, 4:], "hw")[0], rtol=1e-5)
    empty = losses.guided_gram_matrices(activations, tf.zeros([1, 6, 8, 1]), "hw")
    np.testing.assert_array_equal(empty, 0)


def test_the_masked_style_loss_with_one_full_region_equals_the_unmasked_loss():
    layers = {"block1_conv1": 1.0, "block2_conv1": 0.5}
    outputs = {"block1_conv1": features(1, 8, 8, 3), "block2_conv1": features(1, 4, 4, 5)}
    targets = {name: losses.gram_matrix(features(*value.shape), "hw") for name, value in outputs.items()}
    grams = {name: losses.gram_matrix(outputs[name], "hw") for name in layers}
    plain, _ = losses.weighted_mse(grams, targets, layers, 2.0)
    masks = {name: tf.ones([1, *value.shape[1:3], 1]) for name, value in outputs.items()}
    guided_grams = {name: losses.guided_gram_matrices(outputs[name], masks[name], "hw") for name in layers}
    guided, terms = losses._guided_style_loss(guided_grams, targets, layers, 2.0, tf.constant([1.0]))
    np.testing.assert_allclose(guided, plain, rtol=1e-5)
    np.testing.assert_allclose(sum(terms.values()), guided, rtol=1e-5)
    half, _ = losses._guided_style_loss(guided_grams, targets, layers, 2.0, tf.constant([0.5]))
    np.testing.assert_allclose(half, plain / 2, rtol=1e-5)



def test_per_example_terms_are_each_pictures_own_loss():
    # Training a network averages total_loss(per_example=True) over a batch: each entry must be exactly the
    # loss that picture alone would get, with one style target shared by the batch.
    rng = np.random.default_rng(5)
    features = {"a": tf.constant(rng.random((3, 4, 5, 6), dtype=np.float32)),
                "b": tf.constant(rng.random((3, 2, 3, 8), dtype=np.float32))}
    content = {"a": tf.constant(rng.random((3, 4, 5, 6), dtype=np.float32))}
    style = {name: losses.gram_matrix(tf.constant(rng.random((1, 4, 4, value.shape[-1]), dtype=np.float32)), "hw")
             for name, value in features.items()}
    images = tf.constant(rng.random((3, 8, 10, 3), dtype=np.float32))
    settings = dict(style_targets=style, content_layers={"a": 1.0}, style_layers={"a": 1.0, "b": 0.5},
                    content_weight=2.0, style_weight=3.0, tv_weight=0.1, gram_norm="hw", tv_smoothing=0.0)
    _, batch = losses.total_loss(features, images, content_targets=content, per_example=True, **settings)
    for index in range(3):
        _, alone = losses.total_loss({name: value[index:index + 1] for name, value in features.items()},
                                     images[index:index + 1], content_targets={"a": content["a"][index:index + 1]},
                                     **settings)
        for name, value in alone.items():
            assert batch[name].shape == (3,)
            np.testing.assert_allclose(batch[name][index], value, rtol=1e-5)


def test_smoothed_total_variation_is_the_tutorials_at_zero_and_charbonnier_above():
    images = tf.random.stateless_uniform([2, 5, 6, 3], [3, 4])
    np.testing.assert_allclose(losses.total_variation_loss(images, 0.0),
                               tf.reduce_sum(tf.image.total_variation(images)), rtol=1e-6)
    per_picture = losses.total_variation_loss(images, 0.03, per_example=True)
    assert per_picture.shape == (2,)
    np.testing.assert_allclose(tf.reduce_sum(per_picture), losses.total_variation_loss(images, 0.03), rtol=1e-6)
    # One step of height d between two halves: W * C pairs each cost sqrt(d^2 + s^2) - s.
    step = tf.concat([tf.zeros([1, 2, 4, 3]), tf.fill([1, 2, 4, 3], 0.5)], axis=1)
    np.testing.assert_allclose(losses.total_variation_loss(step, 0.03), 12 * (np.hypot(0.5, 0.03) - 0.03), rtol=1e-5)
    # A large difference d costs nearly |d| - s (L1's pull on it, less a constant); small ones far less than L1
    # charges, and a flat picture nothing.
    np.testing.assert_allclose(losses.total_variation_loss(step, 0.03), 12 * (0.5 - 0.03), rtol=2e-3)
    ramp = step * 0.02
    assert float(losses.total_variation_loss(ramp, 0.03)) < 0.2 * float(losses.total_variation_loss(ramp, 0.0))
    assert float(losses.total_variation_loss(tf.zeros([1, 4, 4, 3]), 0.03)) == 0.0


def test_smoothed_total_variation_lets_equal_neighbours_be_where_l1_pulls_them_together():
    # The cause of flat blocks: L1's gradient on a nearly equal pair keeps its full size (sign of d), so an
    # optimiser drives the pair to exactly equal; the smoothed one vanishes with the difference.
    pair = tf.Variable([[[[0.5, 0.5, 0.5]], [[0.501, 0.501, 0.501]]]])
    gradients = {}
    for smoothing in (0.0, 0.03):
        with tf.GradientTape() as tape:
            loss = losses.total_variation_loss(pair, smoothing)
        gradients[smoothing] = float(tf.reduce_max(tf.abs(tape.gradient(loss, pair))))
    assert gradients[0.0] == pytest.approx(1.0)
    assert gradients[0.03] < 0.05
