"""The compiled objective: the loss terms of an image and their gradient, and the whole Adam step, traced once
per feature extractor and loss settings for every image size.

Split from optimization.py (which keeps the optimiser's state and loop) when the temporal term for video
frames was added: the graph and the loop change for different reasons.
"""

from __future__ import annotations

import math
from typing import Mapping

import tensorflow as tf

from style_transfer.core import losses
from style_transfer.core.config import StyleConfig
from style_transfer.core.features import FeatureExtractor
from style_transfer.kernels.buckets import picture_float32

# With config.recompute: VGG19 blocks whose activations the backward pass recomputes. Blocks 1 and 2 hold the
# largest activations (full and half resolution); recomputing more blocks saves no more memory and costs time.
RECOMPUTED_BLOCKS = 2
# Where those blocks' layers give Gram matrices only (no content layer, no style masks, exact sizes), they run
# in horizontal bands of at most about this many pixels (FeatureExtractor.reduce), forward and backward, so
# at most one band's activations is held: a lower peak than recomputing the blocks whole. The size was chosen
# by measured peaks.
BAND_PIXELS = 2 ** 19


class Objective:
    """The compiled objective of one feature extractor and one set of loss settings: terms and gradient.

    The function is traced once for every image size: its signature leaves height and width open, so
    pictures of any size (and every scale of a multi-scale run) reuse one graph instead of tracing a new one
    each, which would cost seconds and memory per picture. `for_extractor` keeps one per extractor and
    settings, so successive runs share it too.
    """

    def __init__(self, extractor: FeatureExtractor, config: StyleConfig, masked: bool = False,
                 temporal: bool = False):
        """`masked`: with style masks and region weights. `temporal`: with a video frame's temporal term, whose
        inputs (after the targets, and the masks if any) are the previous result warped onto this frame
        [1, H, W, 3] and where the flow is reliable [1, H, W, 1] (weight `config.temporal_weight`). With
        `config.recompute` the backward pass recomputes the first RECOMPUTED_BLOCKS VGG19 blocks instead of
        keeping their activations (FeatureExtractor.reduce)."""
        self.extractor, self.config, self.masked, self.temporal = extractor, config, masked, temporal
        self.recompute_blocks = RECOMPUTED_BLOCKS if config.recompute else 0
        channels = extractor.channels
        image = tf.TensorSpec([1, None, None, 3], tf.float32, name="image")
        signature = [
            image,
            {name: tf.TensorSpec([1, None, None, channels[name]], tf.float32) for name in config.content_layers},
            {name: tf.TensorSpec([None, channels[name], channels[name]], tf.float32)
             for name in config.style_layers},
        ]
        if masked:
            signature += [{name: tf.TensorSpec([None, None, None, 1], tf.float32) for name in config.style_layers},
                          tf.TensorSpec([None], tf.float32)]
        if temporal:
            signature += [image, tf.TensorSpec([1, None, None, 1], tf.float32, name="reliable")]
        self.loss_and_gradient = tf.function(self._loss_and_gradient, input_signature=signature)
        # The whole Adam step: image, momentum, velocity, hyperparameters, keep mask (1 where free) and kept
        # pixels, then the objective's targets. One trace serves every StyleOptimizer of this objective.
        self.adam_step = tf.function(self._adam_step, input_signature=[
            image, image, image, tf.TensorSpec([8], tf.float32), tf.TensorSpec([1, None, None, 1], tf.float32),
            tf.TensorSpec([1, None, None, 3], tf.float32), *signature[1:]])
        # Compiled, so no layer's activation outlives its Gram matrix: eagerly every activation of a large
        # picture would be held at once.
        self.targets = tf.function(self._targets, input_signature=[image])

    def tracing_count(self) -> int:
        """How many times this objective's functions (targets, loss and gradient, Adam step) were traced."""
        return sum(function.experimental_get_tracing_count()
                   for function in (self.targets, self.loss_and_gradient, self.adam_step))

    @classmethod
    def for_extractor(cls, extractor: FeatureExtractor, config: StyleConfig, masked: bool = False,
                      temporal: bool = False) -> "Objective":
        """The extractor's Objective for `config`'s loss settings (and recomputation and size bucket), built on
        first use."""
        key = (tuple(config.content_layers.items()), tuple(config.style_layers.items()), config.content_weight,
               config.style_weight, config.tv_weight, config.tv_smoothing, config.gram_norm, masked, config.recompute,
               config.size_bucket)
        if temporal:  # only then does the temporal weight matter, so stills keep sharing one objective
            key += ("temporal", config.temporal_weight)
        cache = extractor.__dict__.setdefault("compiled_objectives", {})
        if key not in cache:
            cache[key] = cls(extractor, config, masked, temporal)
        return cache[key]

    def _targets(self, image):
        """The image's content activations and (unguided) Gram matrices: ({layer: [1, h, w, c]}, {layer: [1, c, c]})."""
        grams, content = layer_statistics(self.extractor, image, self.config,
                                          recompute_blocks=self.recompute_blocks)
        return content, grams

    def _loss_and_gradient(self, image, content_targets, style_targets, *extra):
        """`extra`: the style masks and region weights (if `masked`), then the warped previous result and its
        reliability (if `temporal`)."""
        config = self.config
        style_masks, region_weights = extra[:2] if self.masked else (None, None)
        with tf.GradientTape() as tape:
            tape.watch(image)
            grams, content = layer_statistics(self.extractor, image, config, style_masks=style_masks,
                                              recompute_blocks=self.recompute_blocks)
            loss, terms = losses.loss_of_grams(
                grams, content, image, content_targets=content_targets, style_targets=style_targets,
                content_layers=config.content_layers, style_layers=config.style_layers,
                content_weight=config.content_weight, style_weight=config.style_weight,
                tv_weight=config.tv_weight, tv_smoothing=config.tv_smoothing, region_weights=region_weights)
            if self.temporal:
                warped_previous, reliable = extra[-2:]
                terms["temporal"] = losses.temporal_loss(image, warped_previous, reliable, config.temporal_weight)
                loss = terms["total"] = loss + terms["temporal"]
        return terms, tape.gradient(loss, image)

    def _adam_step(self, image, momentum, velocity, hyper, free, kept, *targets):
        """Keras' Adam update (its formula and order of operations), then the projection onto [0, 1] and
        onto the kept pixels; returns the terms before the step, the new image and moments, and whether the
        loss and the new image are finite. `hyper` holds the learning rate, beta_1, 1 - beta_1, beta_2,
        1 - beta_2, epsilon, the step number (from 1) and the stiffness of the pull towards 8-bit levels."""
        terms, gradient = self._loss_and_gradient(image, *targets)
        rate, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, epsilon, local_step, pull = tf.unstack(hyper)
        # The gradient of pull * (1 - cos(2 pi 255 x)) / (2 pi 255)^2 per pixel: near a level k/255 a spring
        # pull * (x - k/255). Where pull is 0 this adds zeros: the objective's gradient, bit for bit.
        gradient = gradient + pull * tf.sin(GRID_FREQUENCY * image) / GRID_FREQUENCY
        alpha = rate * tf.sqrt(1.0 - tf.pow(beta_2, local_step)) / (1.0 - tf.pow(beta_1, local_step))
        momentum = momentum + (gradient - momentum) * one_minus_beta_1
        velocity = velocity + (tf.square(gradient) - velocity) * one_minus_beta_2
        updated = image - (momentum * alpha) / (tf.sqrt(velocity) + epsilon)
        # Projected gradient descent: pixels stay valid after every step, as in the tutorial; kept pixels
        # are the content's.
        updated = kept + free * tf.clip_by_value(updated, 0.0, 1.0)
        finite = tf.math.is_finite(terms["total"]) & tf.reduce_all(tf.math.is_finite(updated))
        return terms, updated, momentum, velocity, finite


GRID_FREQUENCY = 2.0 * math.pi * 255.0  # 8-bit levels are 1/255 apart


def layer_statistics(extractor: FeatureExtractor, image: tf.Tensor, config: StyleConfig, *,
                     style_masks: Mapping[str, tf.Tensor] | None = None, recompute_blocks: int = 0,
                     ) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    """What the objective needs of `image` ([1, H, W, 3] in [0, 1]), float32: ({style layer: [1, c, c] Gram
    matrix, or [R, c, c] guided ones with `style_masks`}, {content layer: [1, h, w, c] activation}).

    Each style layer's activation is reduced to its Gram matrix as soon as it is computed, so it is held only
    as long as the backward pass needs it (or, in a recomputed block, not at all).
    """

    def reducer(name):
        def reduce(activation, size):
            # With config.size_bucket, `activation` is padded with zeros around the picture's [h, w] = `size`.
            # Gram matrices keep the padded (bucketed) shape, as zeros add nothing to them (region masks are
            # padded with zeros to match); the content activation is cropped.
            reduced = {}
            if name in config.style_layers and style_masks is None:
                reduced["gram"] = losses.gram_matrix(activation, config.gram_norm,
                                                     locations=None if size is None else size[0] * size[1])
            elif name in config.style_layers:
                masks = style_masks[name]
                if size is not None:
                    extra = tf.shape(activation)[1:3] - tf.shape(masks)[1:3]
                    masks = tf.pad(masks, [[0, 0], [0, extra[0]], [0, extra[1]], [0, 0]])
                reduced["gram"] = losses.guided_gram_matrices(tf.cast(activation, tf.float32), masks,
                                                              config.gram_norm)
            if name in config.content_layers:
                reduced["content"] = picture_float32(activation, size)
            return reduced

        return reduce

    layers = dict.fromkeys([*config.style_layers, *config.content_layers])
    recomputed = [name for name in layers if int(name[5]) <= recompute_blocks]  # "blockN_..."
    banded = (recompute_blocks and style_masks is None and not config.size_bucket
              and not any(name in config.content_layers for name in recomputed))
    reduced = extractor.reduce(image, {name: reducer(name) for name in layers}, recompute_blocks=recompute_blocks,
                               size_bucket=config.size_bucket, band_pixels=BAND_PIXELS if banded else 0)
    return ({name: reduced[name]["gram"] for name in config.style_layers},
            {name: reduced[name]["content"] for name in config.content_layers})
