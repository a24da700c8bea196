import threading

import numpy as np
import pytest
import tensorflow as tf

from conftest import EXACT, NETWORKS
from style_transfer.kernels import devices
from style_transfer.core import image_io, losses, preprocessing
from style_transfer.optimize import objective as objective_lib
from style_transfer.optimize import optimization as optimize
from style_transfer.core.config import TUTORIAL
from style_transfer.core.errors import NumericalError
from style_transfer.core.features import FeatureExtractor
from style_transfer.optimize.optimization import Callback, StyleOptimizer, grid_pull, learning_rate

CONFIG = TUTORIAL.replace(max_dim=48, steps=12)


@pytest.fixture(scope="module")
def extractor(random_vgg):
    return FeatureExtractor([*CONFIG.style_layers, *CONFIG.content_layers], vgg=random_vgg, **EXACT)


@pytest.fixture(scope="module")
def pair(content_path, style_path):
    return [preprocessing.resize_to_max_dim(image_io.load_image(path), 48) for path in (content_path, style_path)]


def make(extractor, pair, config=CONFIG, init="content"):
    content, style = pair
    return StyleOptimizer(extractor, content, style, preprocessing.initial_image(init, content, style, seed=3),
                          config)


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_start(self, image, config):
        self.events.append(("start", None))

    def on_step(self, step, image, terms):
        self.events.append((step, dict(terms)))

    def on_end(self, image):
        self.events.append(("end", None))


def test_one_trace_serves_every_step_and_every_image_size(extractor, pair):
    content, style = pair
    first = make(extractor, pair)
    first.run(3)
    assert first.objective.adam_step.experimental_get_tracing_count() == 1
    traces = first.objective.tracing_count()
    assert traces == 2  # the targets and the step
    for size in (40, 56, 33):  # other sizes and aspects, new optimisers on the same extractor
        resized = preprocessing.resize_to_max_dim(content, size)
        other = StyleOptimizer(extractor, resized, style, resized, CONFIG)
        assert other.objective is first.objective
        other.run(2)
        assert other.image.shape[1:3] != first.image.shape[1:3]
    assert first.objective.tracing_count() == traces
    # A different objective is a different graph, traced on its own.
    other = StyleOptimizer(extractor, content, style, content, CONFIG.replace(style_weight=1.0))
    assert other.objective is not first.objective


def test_targets_are_computed_once_not_per_step(random_vgg, pair, monkeypatch):
    # Nothing traced yet.
    extractor = FeatureExtractor([*CONFIG.style_layers, *CONFIG.content_layers], vgg=random_vgg, **EXACT)
    traced = []
    reduce = extractor.reduce

    def counting(image, reducers, **options):  # runs when a compiled function is traced
        traced.append(options)
        return reduce(image, reducers, **options)

    monkeypatch.setattr(extractor, "reduce", counting)
    optimizer = make(extractor, pair)
    assert len(traced) == 1  # one compiled targets function, for the content and the style picture
    optimizer.run(6)
    assert len(traced) == 2  # plus one trace of the step; the six steps run the traced graph
    style_features = extractor(pair[1])
    for name, target in optimizer.style_targets.items():
        np.testing.assert_allclose(target, losses.gram_matrix(style_features[name], CONFIG.gram_norm), rtol=1e-6)


def test_callbacks_see_every_step_in_order_with_every_term(extractor, pair):
    recorder = Recorder()
    make(extractor, pair).run(3, [recorder])
    assert [event for event, _ in recorder.events] == ["start", 1, 2, 3, "end"]
    terms = recorder.events[1][1]
    assert {"total", "content", "style", "tv", "style/block1_conv1", "content/block5_conv2"} <= set(terms)
    assert terms["content"] == 0  # starts from the content image: nothing to lose yet


def test_the_objective_falls(extractor, pair):
    recorder = Recorder()
    make(extractor, pair, init="noise").run(CONFIG.steps, [recorder])
    totals = [terms["total"] for step, terms in recorder.events if isinstance(step, int)]
    assert totals[-1] < 0.7 * totals[0]
    assert totals[-1] < min(totals[:3])


def test_pixels_stay_in_range_even_with_the_largest_learning_rate(extractor, pair):
    optimizer = make(extractor, pair, CONFIG.replace(learning_rate=1.0))
    image = optimizer.run(3).numpy()
    assert image.min() == 0 and image.max() == 1  # pushed hard, clipped back


def test_the_cosine_schedule_falls_from_the_learning_rate_to_the_final_one():
    config = CONFIG.replace(schedule="cosine", learning_rate=0.02, final_learning_rate=0.001, steps=11)
    rates = [learning_rate(config, done) for done in range(config.steps)]
    assert rates[0] == pytest.approx(0.02) and rates[-1] == pytest.approx(0.001)
    assert rates[5] == pytest.approx((0.02 + 0.001) / 2)  # half way, half way down
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert {learning_rate(CONFIG, done) for done in range(CONFIG.steps)} == {CONFIG.learning_rate}


def test_the_cooldown_schedule_holds_the_learning_rate_then_falls_to_the_final_one():
    config = CONFIG.replace(schedule="cooldown", learning_rate=0.02, final_learning_rate=0.001, steps=11,
                            cooldown_fraction=0.4)
    rates = [learning_rate(config, done) for done in range(config.steps)]
    assert rates[:7] == [0.02] * 7  # progress 0 to 0.6: held
    assert rates[-1] == pytest.approx(0.001)
    assert all(a > b for a, b in zip(rates[6:], rates[7:]))
    # 1 - sqrt: a quarter of the way into the cooldown, half of the fall is done.
    quarter = config.replace(steps=401)
    assert learning_rate(quarter, 280) == pytest.approx((0.02 + 0.001) / 2)
    shorter = quarter.replace(cooldown_fraction=0.2)  # held to step 320 of 400, half way down at step 340
    assert learning_rate(shorter, 320) == 0.02 and learning_rate(shorter, 321) < 0.02
    assert learning_rate(shorter, 340) == pytest.approx(0.001 + 0.019 * 0.5)


@pytest.mark.parametrize("schedule", ["constant", "cosine", "cooldown"])
def test_the_warmup_scales_the_first_steps_of_any_schedule(schedule):
    config = CONFIG.replace(schedule=schedule, learning_rate=0.02, final_learning_rate=0.001, steps=40)
    warmed = config.replace(warmup_steps=4)
    factors = [learning_rate(warmed, done) / learning_rate(config, done) for done in range(6)]
    assert factors == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    # At most a tenth of the steps: a short run is not all warm-up.
    short = warmed.replace(steps=20)
    assert [learning_rate(short, done) / learning_rate(config.replace(steps=20), done) for done in range(3)] == \
        pytest.approx([0.5, 1.0, 1.0])
    assert learning_rate(warmed.replace(steps=9), 0) == learning_rate(config.replace(steps=9), 0)


def applied_learning_rates(optimizer, steps):
    """Runs `steps` steps; the learning rate Adam held at each, and the largest pixel move of each."""
    seen, moves = [], []
    for _ in range(steps):
        before = optimizer.image.numpy()
        optimizer.step()
        seen.append(float(optimizer.adam.learning_rate.numpy()))
        moves.append(float(np.abs(optimizer.image.numpy() - before).max()))
    return seen, moves


def test_the_warmup_reaches_adam_even_with_the_constant_schedule(extractor, pair):
    config = CONFIG.replace(schedule="constant", learning_rate=0.03, warmup_steps=3, steps=30)
    seen, moves = applied_learning_rates(make(extractor, pair, config), 5)
    assert seen == pytest.approx([0.01, 0.02, 0.03, 0.03, 0.03])
    # Adam applies the rate it holds: its first step moves pixels by at most the rate, and nearly by it where
    # the gradient is large against epsilon.
    assert 0.009 < moves[0] <= 0.01 + 1e-7


def test_each_adam_step_uses_the_scheduled_learning_rate(extractor, pair):
    config = CONFIG.replace(schedule="cosine", learning_rate=0.05, final_learning_rate=0.002, steps=5)
    seen, _ = applied_learning_rates(make(extractor, pair, config), config.steps)
    assert seen == pytest.approx([learning_rate(config, done) for done in range(config.steps)])
    # The last steps are small: the image moves far less in the last step than in the first.
    first, last = make(extractor, pair, config), make(extractor, pair, config)
    first.run(1)
    last.run(config.steps - 1)
    before = last.image.numpy()
    last.run(config.steps)
    assert np.abs(last.image.numpy() - before).max() < 0.5 * np.abs(first.image.numpy() - pair[0].numpy()).max()


def test_the_grid_pull_is_zero_then_rises_linearly_to_its_strength_over_the_last_steps():
    config = CONFIG.replace(steps=10, grid_steps=4, grid_strength=8.0)
    assert [grid_pull(config, done) for done in range(10)] == [0.0] * 6 + [2.0, 4.0, 6.0, 8.0]
    longer = config.replace(grid_steps=40)  # a window longer than the run: all of it
    assert [grid_pull(longer, done) for done in range(10)] == pytest.approx([0.8 * (done + 1) for done in range(10)])
    assert {grid_pull(config.replace(grid_steps=0), done) for done in range(10)} == {0.0}


def _off_grid(image) -> float:
    """Mean distance of the pixels from the nearest 8-bit level, in levels: 0 on the levels, 0.25 if unrelated."""
    levels = np.asarray(image) * 255
    return float(np.mean(np.abs(levels - np.rint(levels))))


def test_the_last_steps_pull_pixels_onto_8_bit_levels_so_rounding_costs_less(extractor, pair):
    config = CONFIG.replace(steps=40, schedule="cooldown", beta_1=0.9, beta_2=0.9, warmup_steps=4)
    # A small picture's gradient is larger per pixel (its means are over fewer values): a stiffer pull.
    plain, pulled = make(extractor, pair, config), make(extractor, pair, config.replace(grid_steps=10,
                                                                                         grid_strength=1e7))
    plain.run(30)
    pulled.run(30)
    np.testing.assert_array_equal(pulled.image.numpy(), plain.image.numpy())  # no pull before its window
    plain.run(40)
    pulled.run(40)
    assert _off_grid(plain.image) > 0.2 and _off_grid(pulled.image) < 0.4 * _off_grid(plain.image)

    def rounding_cost(optimizer):
        rounded = np.rint(optimizer.image.numpy() * 255) / 255
        return (float(optimizer.loss_and_gradient(tf.constant(rounded, tf.float32))[0]["total"])
                - float(optimizer.loss_and_gradient(optimizer.image)[0]["total"]))

    assert rounding_cost(pulled) < 0.5 * rounding_cost(plain), (rounding_cost(pulled), rounding_cost(plain))


def test_an_image_that_is_not_saved_as_it_is_is_not_pulled(extractor, pair):
    config = CONFIG.replace(steps=6, grid_steps=6)
    content, style = pair
    unsaved = StyleOptimizer(extractor, content, style, content, config, saved=False)
    unsaved.run(6)
    plain = StyleOptimizer(extractor, content, style, content, config.replace(grid_steps=0))
    plain.run(6)
    np.testing.assert_array_equal(unsaved.image.numpy(), plain.image.numpy())
    pulled = StyleOptimizer(extractor, content, style, content, config)
    pulled.run(6)
    assert not np.array_equal(pulled.image.numpy(), plain.image.numpy())  # the comparison can fail


def _convolutions(optimizer, image):
    """Conv2D ops in the compiled objective's graph (forward passes, not their gradients)."""
    graph = optimizer.objective.loss_and_gradient.get_concrete_function(
        image, optimizer.content_targets, optimizer.style_targets).graph.as_graph_def()
    return [node.op for node in graph.node].count("Conv2D")


def _while_loops(optimizer, image):
    """While loops in the compiled objective's graph (the banded blocks' forward and backward passes)."""
    graph = optimizer.objective.loss_and_gradient.get_concrete_function(
        image, optimizer.content_targets, optimizer.style_targets).graph.as_graph_def()
    return sum(node.op in ("While", "StatelessWhile") for node in graph.node)


# bfloat16 keeps 8 significant bits, and CPUs round its products and sums their own way (AVX512_BF16 and AMX
# natively, Eigen by emulation), so no fixed tolerance between two bfloat16 computations holds on every CPU.
# What must hold is that computing in another order adds no error of its own: measured against the same
# network in float32, the reordered result is off by about as much as the plain one (at most twice, the spread
# of independent roundings), or by one bfloat16 rounding of the result where the plain one is nearly exact.
BFLOAT16_ROUNDOFF = 2.0 ** -8


def assert_no_more_bfloat16_error(reordered, plain, reference):
    reordered, plain, reference = (np.asarray(value, np.float64) for value in (reordered, plain, reference))
    scale = np.linalg.norm(reference)
    errors = [np.linalg.norm(value - reference) for value in (reordered, plain)]
    assert errors[0] <= 2 * max(errors[1], BFLOAT16_ROUNDOFF * scale), [error / scale for error in errors]


# The bands cover blocks 1 and 2, the same in both networks: one bfloat16 case for them (test_features.py
# compares VGG16's bfloat16 features).
@pytest.mark.parametrize("network, convolutions, precision", [("vgg19", 14, "float32"), ("vgg16", 12, "float32"),
                                                              ("vgg19", 14, "bfloat16")])
def test_recompute_runs_the_first_two_blocks_again_band_by_band_for_the_same_objective(
        random_vgg_of, pair, precision, network, convolutions, monkeypatch):
    # Bands of 4 rows: a 48x36 picture (odd band counts, a short last band) runs in 9 bands, each reading 8 more
    # rows either side.
    monkeypatch.setattr(objective_lib, "BAND_PIXELS", 4 * 48)
    extractor = FeatureExtractor([*CONFIG.style_layers, *CONFIG.content_layers], vgg=random_vgg_of(network),
                                 **{**EXACT, "precision": precision})
    config = CONFIG.replace(precision=precision, network=network)
    plain, banded = make(extractor, pair, config), make(extractor, pair, config.replace(recompute=True))
    assert banded.objective is not plain.objective  # its own graph
    image = tf.clip_by_value(pair[0] + tf.random.stateless_normal(pair[0].shape, [1, 2], stddev=0.1), 0.0, 1.0)
    # The network to block5_conv2 (VGG19: 14 convolutions, VGG16: 12; the first band's outside the loops); blocks
    # 1 and 2 run again in two loops over the bands, one forward and one in the backward pass.
    assert [(_convolutions(run, image), _while_loops(run, image)) for run in (plain, banded)] == [
        (convolutions, 0), (convolutions, 2)]
    (terms, gradient), (banded_terms, banded_gradient) = (
        optimizer.loss_and_gradient(image) for optimizer in (plain, banded))
    if precision == "float32":  # the same values summed in another order
        for name in ("total", "content", "style", "tv"):
            np.testing.assert_allclose(float(banded_terms[name]), float(terms[name]), rtol=1e-6)
        np.testing.assert_allclose(banded_gradient, gradient, atol=1e-5 * float(np.max(np.abs(gradient))))
    else:  # the bands' convolutions round otherwise, as this CPU rounds bfloat16
        exact = FeatureExtractor([*CONFIG.style_layers, *CONFIG.content_layers], vgg=random_vgg_of(network),
                                 **EXACT)
        reference_terms, reference_gradient = make(exact, pair, config.replace(precision="float32")).loss_and_gradient(
            image)
        for name in ("total", "content", "style", "tv"):
            assert_no_more_bfloat16_error(banded_terms[name], terms[name], reference_terms[name])
        assert_no_more_bfloat16_error(banded_gradient, gradient, reference_gradient)
    if precision == "float32":  # bfloat16's rounding alone moves 4 Adam steps' objective by 2-3%
        finals = [float(run.loss_and_gradient(run.run(4))[0]["total"]) for run in (plain, banded)]
        np.testing.assert_allclose(finals[1], finals[0], rtol=0.02)


def _allocator_peak_bytes():
    try:
        return tf.config.experimental.get_memory_info("CPU:0")["peak"]
    except ValueError:  # "Allocator stats not available for device 'CPU:0'"
        return None


def test_recompute_holds_less_than_the_whole_picture_pass(random_vgg, monkeypatch):
    """The effect recomputation is for: the backward pass's peak allocation falls by more than two of block 1's
    full-resolution activations."""
    if _allocator_peak_bytes() is None:
        pytest.skip("TensorFlow's CPU allocator keeps no statistics in this build (oneDNN's does)")
    monkeypatch.setattr(objective_lib, "BAND_PIXELS", 2048)
    extractor = FeatureExtractor([*CONFIG.style_layers, *CONFIG.content_layers], vgg=random_vgg, **EXACT)
    content = tf.random.stateless_uniform([1, 150, 203, 3], [4, 5])
    peaks = []
    for config in (CONFIG, CONFIG.replace(recompute=True)):
        optimizer = StyleOptimizer(extractor, content, content, content, config)
        optimizer.loss_and_gradient(optimizer.image)  # traced and compiled
        tf.config.experimental.reset_memory_stats("CPU:0")
        optimizer.loss_and_gradient(optimizer.image)
        peaks.append(_allocator_peak_bytes())
    activation = 150 * 203 * 64 * 4
    assert peaks[1] < peaks[0] - 2 * activation, [peak / 2 ** 20 for peak in peaks]


# Where the CPU has no bfloat16 (AVX2 only), Eigen emulates it and the image gradient rounds so coarsely that
# padded and unpadded runs differ by 5-50% per pixel (measured on a Zen 3; the terms still agree to 1e-5).
# 'auto' never picks bfloat16 there, so the comparison is made only where bfloat16 is native.
NATIVE_BFLOAT16 = devices.resolve_precision("auto") == "bfloat16"


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("precision", ["float32", pytest.param("bfloat16", marks=pytest.mark.skipif(
    not NATIVE_BFLOAT16, reason="bfloat16 is emulated on this CPU"))])
def test_size_buckets_give_the_same_objective_gradient_and_run(random_vgg_of, pair, precision, network):
    extractor = FeatureExtractor([*CONFIG.style_layers, *CONFIG.content_layers], vgg=random_vgg_of(network),
                                 **{**EXACT, "precision": precision})
    config = CONFIG.replace(precision=precision, network=network)
    content = tf.image.resize(pair[0], [37, 45])  # odd sizes: every pool floors; padded to 48x48
    pair = [content, pair[1]]
    plain, bucketed = make(extractor, pair, config), make(extractor, pair, config.replace(size_bucket=16))
    assert bucketed.objective is not plain.objective  # its own graph
    image = tf.clip_by_value(content + tf.random.stateless_normal(content.shape, [1, 2], stddev=0.1), 0.0, 1.0)
    (terms, gradient), (bucketed_terms, bucketed_gradient) = (
        optimizer.loss_and_gradient(image) for optimizer in (plain, bucketed))
    assert bucketed_gradient.shape == gradient.shape == (1, 37, 45, 3)
    for name in ("total", "content", "style", "tv"):
        np.testing.assert_allclose(float(bucketed_terms[name]), float(terms[name]), rtol=1e-5)
    np.testing.assert_allclose(bucketed_gradient, gradient, atol=1e-5 * float(np.max(np.abs(gradient))))
    recomputed = make(extractor, pair, config.replace(size_bucket=16, recompute=True))
    np.testing.assert_array_equal(recomputed.loss_and_gradient(image)[1], bucketed_gradient)
    # Runs agree in the objective, not pixel by pixel in float32: Adam's first steps move pixels by about
    # the rate whatever their gradient, so rounding flips the way pixels with a near-zero gradient go.
    finals = [float(run.loss_and_gradient(run.run(4))[0]["total"]) for run in (plain, bucketed)]
    np.testing.assert_allclose(finals[1], finals[0], rtol=0.02)


def test_size_buckets_keep_guided_gram_matrices(random_vgg, pair):
    extractor = FeatureExtractor([*CONFIG.style_layers, *CONFIG.content_layers], vgg=random_vgg, **EXACT)
    content, style = pair
    regions = np.zeros((2, *content.shape[1:3], 1), np.float32)
    regions[0, :, : content.shape[2] // 3] = 1.0
    regions[1, :, content.shape[2] // 3:] = 1.0

    def make_guided(config):
        return StyleOptimizer(extractor, content, [style, tf.image.flip_left_right(style)], content, config,
                              regions=tf.constant(regions))

    plain, bucketed = make_guided(CONFIG), make_guided(CONFIG.replace(size_bucket=32))
    image = tf.convert_to_tensor(content)
    (terms, gradient), (bucketed_terms, bucketed_gradient) = (run.loss_and_gradient(image) for run in (plain, bucketed))
    np.testing.assert_allclose(float(bucketed_terms["style"]), float(terms["style"]), rtol=1e-5)
    assert float(terms["style"]) > 0
    np.testing.assert_allclose(bucketed_gradient, gradient, atol=1e-5 * float(np.max(np.abs(gradient))))


def test_same_inputs_give_bit_identical_results(extractor, pair):
    first = make(extractor, pair, init="noise").run(4).numpy()
    second = make(extractor, pair, init="noise").run(4).numpy()
    np.testing.assert_array_equal(first, second)


def test_zero_steps_return_the_initial_image(extractor, pair):
    np.testing.assert_array_equal(make(extractor, pair).run(0), pair[0])


def test_init_must_match_the_content_shape(extractor, pair):
    with pytest.raises(ValueError, match="differs from the content image"):
        StyleOptimizer(extractor, pair[0], pair[1], tf.zeros([1, 8, 8, 3]), CONFIG)


@pytest.fixture(scope="module")
def second_style(grey_style_path):
    return preprocessing.resize_to_max_dim(image_io.load_image(grey_style_path), 48)


def test_several_styles_blend_their_gram_targets_with_normalised_weights(extractor, pair, second_style):
    content, style = pair
    one = make(extractor, pair).style_targets
    other = make(extractor, (content, second_style)).style_targets
    blended = StyleOptimizer(extractor, content, [style, second_style], content,
                             CONFIG.replace(style_blend_weights="3,7")).style_targets
    for name in CONFIG.style_layers:
        np.testing.assert_allclose(blended[name], 0.3 * one[name] + 0.7 * other[name], rtol=1e-5, atol=1e-3)
    only_first = StyleOptimizer(extractor, content, [style, second_style], content,
                                CONFIG.replace(style_blend_weights="1,0")).style_targets
    for name in CONFIG.style_layers:
        np.testing.assert_allclose(only_first[name], one[name], rtol=1e-6)


def test_one_mask_region_covering_everything_is_the_plain_objective(extractor, pair):
    content, style = pair
    regions = tf.ones([1, *content.shape[1:3], 1])
    masked = StyleOptimizer(extractor, content, [style], content, CONFIG, regions=regions)
    plain = make(extractor, pair)
    masked_terms, _ = masked.step()
    plain_terms, _ = plain.step()
    np.testing.assert_allclose(float(masked_terms["style"]), float(plain_terms["style"]), rtol=1e-5)


def test_kept_pixels_stay_the_contents_and_the_rest_is_stylised(extractor, pair):
    content, style = pair
    keep = np.zeros([1, *content.shape[1:3], 1], np.float32)
    keep[:, :, : content.shape[2] // 2] = 1
    optimizer = StyleOptimizer(extractor, content, [style], content, CONFIG,
                               regions=tf.constant(1 - keep), keep=tf.constant(keep))
    image = optimizer.run(8).numpy()
    half = content.shape[2] // 2
    np.testing.assert_array_equal(image[:, :, :half], content.numpy()[:, :, :half])
    assert np.abs(image[:, :, half:] - content.numpy()[:, :, half:]).mean() > 0.01


def test_each_mask_region_follows_its_own_style(extractor, pair, second_style):
    # Left half painted after the first style, right half after the second, and the same with the styles
    # swapped: each half's Gram statistics must lean towards the style its region was given.
    content, style = pair
    width = content.shape[2]
    grey = np.zeros(content.shape[1:3], np.float32)
    grey[:, width // 2:] = 1
    regions, keep = preprocessing.mask_regions(np.stack([grey, np.ones_like(grey)], -1)[None], 2,
                                               tuple(content.shape[1:3]))
    config = CONFIG.replace(style_weight=0.1)

    def grams(image):
        activations = extractor(image)
        return {name: losses.gram_matrix(activations[name], config.gram_norm).numpy()
                for name in config.style_layers}

    def distance(image, target):
        found = grams(image)
        return sum(np.mean((found[n] - target[n]) ** 2) / np.mean(target[n] ** 2) for n in config.style_layers)

    first, second = grams(style), grams(second_style)
    painted = StyleOptimizer(extractor, content, [style, second_style], content, config, regions=regions,
                             keep=keep).run(40).numpy()
    swapped = StyleOptimizer(extractor, content, [second_style, style], content, config, regions=regions,
                             keep=keep).run(40).numpy()
    for columns, own, other in ((slice(0, width // 2), first, second), (slice(width // 2, width), second, first)):
        lean = distance(painted[:, :, columns], own) - distance(painted[:, :, columns], other)
        lean_swapped = distance(swapped[:, :, columns], own) - distance(swapped[:, :, columns], other)
        assert lean < lean_swapped


LBFGS = CONFIG.replace(optimizer="lbfgs")


def test_lbfgs_lowers_the_objective_further_than_as_many_adam_steps_from_noise(extractor, pair):
    adam, lbfgs = Recorder(), Recorder()
    make(extractor, pair, init="noise").run(10, [adam])
    optimizer = make(extractor, pair, LBFGS, init="noise")
    image = optimizer.run(10, [lbfgs]).numpy()
    steps = [step for step, _ in lbfgs.events if isinstance(step, int)]
    assert steps == list(range(1, 11)) and optimizer.steps_done == 10
    totals = [terms["total"] for step, terms in lbfgs.events if isinstance(step, int)]
    assert all(later <= earlier for earlier, later in zip(totals, totals[1:]))  # a descent method
    assert totals[-1] < [terms["total"] for step, terms in adam.events if isinstance(step, int)][-1]
    assert 0 <= image.min() and image.max() <= 1  # the bounds hold without clipping
    # The terms reported are those of the image handed over.
    terms, _ = optimizer.loss_and_gradient(optimizer.image)
    np.testing.assert_allclose(float(terms["total"]), totals[-1], rtol=1e-6)


def test_lbfgs_keeps_kept_pixels_through_its_bounds(extractor, pair):
    content, style = pair
    keep = np.zeros([1, *content.shape[1:3], 1], np.float32)
    keep[:, : content.shape[1] // 2] = 1
    optimizer = StyleOptimizer(extractor, content, [style], content, LBFGS, regions=tf.constant(1 - keep),
                               keep=tf.constant(keep))
    image = optimizer.run(6).numpy()
    half = content.shape[1] // 2
    np.testing.assert_array_equal(image[:, :half], content.numpy()[:, :half])
    assert np.abs(image[:, half:] - content.numpy()[:, half:]).mean() > 0.002  # the rest moves


def test_lbfgs_stops_after_the_iteration_in_which_stop_is_set(extractor, pair):
    stop = threading.Event()

    class StopAtTwo(Callback):
        def on_step(self, step, image, terms):
            if step == 2:
                stop.set()

    optimizer = make(extractor, pair, LBFGS)
    optimizer.run(10, [StopAtTwo()], stop=stop)
    assert optimizer.steps_done == 2


def test_lbfgs_divergence_is_a_numerical_error_keeping_a_finite_image(extractor, pair):
    optimizer = make(extractor, pair, LBFGS.replace(style_weight=3e38))
    with pytest.raises(NumericalError, match="non-finite.*at step 1; a loss weight") as caught:
        optimizer.run(3)
    assert np.all(np.isfinite(caught.value.image))
