"""The optimisation: targets computed once, a compiled Adam step on a `tf.Variable` image, and the loop.

No file I/O and no printing here: every step's result goes to callbacks (see callbacks.py).
"""

from __future__ import annotations

import math
import threading
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from style_transfer.core import preprocessing
from style_transfer.core.config import StyleConfig
from style_transfer.core.errors import NumericalError
from style_transfer.core.features import FeatureExtractor
# Re-exported: the objective lived here before it had its own module.
from style_transfer.optimize.objective import (BAND_PIXELS, GRID_FREQUENCY, RECOMPUTED_BLOCKS,  # noqa: F401
                                               Objective, layer_statistics)


class Callback:
    """Receives the optimisation's progress. Images are [1, H, W, 3] float32 in [0, 1]."""

    def on_start(self, image: tf.Variable, config: StyleConfig) -> None:
        """Before the first step; `image` is the initial image."""

    def on_step(self, step: int, image: tf.Variable, terms: Mapping[str, float]) -> None:
        """After step `step` (1-based). `terms` are the losses of the image *before* this step's update
        (as the tutorial reports them); `image` is the image after it."""

    def on_end(self, image: tf.Variable) -> None:
        """After the last step, with the final image."""


class StyleOptimizer:
    """One content picture and its style(s): the fixed targets, the image variable, Adam and the compiled step.

    `content_image`, each of `style_images` and `init_image` are float32 [1, H, W, 3] in [0, 1]; `init_image`
    must have the content image's shape. Several styles are blended: the Gram targets are their weighted sum
    (weights `config.style_blend_weights`, normalised; default equal), so one objective is optimised. With
    `regions` ([R, H, W, 1] soft masks at the content's size, one per style) each region instead follows its
    own style through guided Gram matrices (Gatys et al. 2017); `keep` ([1, H, W, 1]) marks pixels that stay
    the content's: after every step they are put back. `saved`: whether this image, as it is, becomes the
    saved picture (not an earlier scale, nor a luminance to be recoloured); only then do the last
    `config.grid_steps` steps pull it towards 8-bit levels (`grid_pull`). `temporal`, for a video frame after
    the first: (the previous frame's result warped onto this one [1, H, W, 3], where that warp is reliable
    [1, H, W, 1] in [0, 1]); a temporal term (`config.temporal_weight`, losses.temporal_loss) then holds the
    image to it. The objective is compiled once per extractor and loss settings (`Objective`), for every
    image size.
    """

    def __init__(self, extractor: FeatureExtractor, content_image: tf.Tensor, style_images, init_image: tf.Tensor,
                 config: StyleConfig, *, regions: tf.Tensor | None = None, keep: tf.Tensor | None = None,
                 saved: bool = True, temporal: tuple[tf.Tensor, tf.Tensor] | None = None):
        if tuple(init_image.shape) != tuple(content_image.shape):
            raise ValueError(f"init image shape {tuple(init_image.shape)} differs from the content image's "
                             f"{tuple(content_image.shape)}")
        style_images = [style_images] if isinstance(style_images, (tf.Tensor, np.ndarray)) else list(style_images)
        blend = blend_weights(config, len(style_images))
        self.config = config
        self.saved = saved
        self.extractor = extractor
        self.objective = Objective.for_extractor(extractor, config, masked=regions is not None,
                                                 temporal=temporal is not None)
        self.temporal = ()
        if temporal is not None:
            warped_previous, reliable = (tf.convert_to_tensor(value, tf.float32) for value in temporal)
            shape = tuple(content_image.shape)
            if tuple(warped_previous.shape) != shape or tuple(reliable.shape) != (*shape[:3], 1):
                raise ValueError(f"temporal target {tuple(warped_previous.shape)} and mask {tuple(reliable.shape)} "
                                 f"do not fit the content image {tuple(content_image.shape)}")
            self.temporal = (warped_previous, reliable)
        # The targets never change, so they are computed once here, not in every step.
        self.content_targets, _ = self.objective.targets(tf.convert_to_tensor(content_image, tf.float32))
        per_style = [self.objective.targets(tf.convert_to_tensor(style_image, tf.float32))[1]
                     for style_image in style_images]
        self.style_masks = self.region_weights = None
        if regions is not None:
            if regions.shape[0] != len(style_images):
                raise ValueError(f"{regions.shape[0]} mask regions for {len(style_images)} styles")
            # Each region keeps its own style's Gram matrix: [R, c, c] per layer.
            self.style_targets = {name: tf.concat([grams[name] for grams in per_style], axis=0)
                                  for name in config.style_layers}
            size = tuple(content_image.shape[1:3])
            self.style_masks = {name: preprocessing.resize_regions(regions, extractor.feature_size(name, size))
                                for name in config.style_layers}
            # Each region's share of the picture, so a mask of ones gives exactly the unmasked loss.
            self.region_weights = tf.reduce_mean(tf.convert_to_tensor(regions, tf.float32), axis=[1, 2, 3])
        elif len(per_style) == 1:
            self.style_targets = per_style[0]  # no arithmetic: the tutorial's targets, bit for bit
        else:
            self.style_targets = {name: tf.add_n([weight * grams[name] for weight, grams in zip(blend, per_style)])
                                  for name in config.style_layers}
        # The projection onto kept pixels is `kept + free * image`: without a keep mask nothing is kept (and
        # 0 + 1 * image is the image, bit for bit).
        if keep is None:
            self.free, self.kept = tf.ones([1, 1, 1, 1]), tf.zeros([1, 1, 1, 3])
        else:
            keep = tf.constant(keep, tf.float32)
            self.free, self.kept = 1.0 - keep, keep * tf.convert_to_tensor(content_image, tf.float32)
        self.image = tf.Variable(init_image, dtype=tf.float32, name="image")
        self.adam = AdamState(self.image, config)

    @property
    def optimizer(self) -> AdamState:
        """The former name of `adam`, kept for code written before: in this project "the optimiser" is this
        class, the product, and Adam is `adam`."""
        return self.adam

    @property
    def steps_done(self) -> int:
        """Steps applied so far (Adam's iteration count, so it survives a checkpoint)."""
        return int(self.adam.iterations.numpy())

    def checkpoint(self) -> tf.train.Checkpoint:
        """What a checkpoint holds: the image and every Adam variable (iteration count, moments)."""
        return tf.train.Checkpoint(image=self.image, adam=list(self.adam.variables))

    def loss_and_gradient(self, image: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """The objective's terms at `image` ([1, H, W, 3]) and the gradient of the total with respect to it."""
        return self.objective.loss_and_gradient(image, self.content_targets, self.style_targets, *self._extra())

    def _extra(self) -> tuple:
        """The objective's optional inputs after the targets: style masks and region weights, temporal target."""
        masks = () if self.style_masks is None else (self.style_masks, self.region_weights)
        return (*masks, *self.temporal)

    def step(self) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """One Adam step on the image; returns the terms before it and whether everything stayed finite.

        The objective, its gradient, Adam's update and the projection are one compiled call
        (`Objective.adam_step`); here only its results are stored. A step that makes the loss or the image
        non-finite stores nothing of the image: it stays the last finite one.
        """
        adam, config = self.adam, self.config
        rate = learning_rate(config, self.steps_done)
        adam.learning_rate.assign(rate)
        pull = grid_pull(config, self.steps_done) if self.saved else 0.0
        hyper = tf.constant([rate, config.beta_1, 1.0 - config.beta_1, config.beta_2,
                             1.0 - config.beta_2, config.epsilon, self.steps_done + 1, pull], tf.float32)
        terms, image, momentum, velocity, finite = self.objective.adam_step(
            self.image, adam.momentum, adam.velocity, hyper, self.free, self.kept, self.content_targets,
            self.style_targets, *self._extra())
        adam.momentum.assign(momentum)
        adam.velocity.assign(velocity)
        adam.iterations.assign_add(1)
        if finite:  # a NaN survives clipping; keep the last good image instead
            self.image.assign(image)
        return terms, finite

    def run(self, steps: int, callbacks: Sequence[Callback] = (), *, stop: threading.Event | None = None,
            step_offset: int = 0, notify: bool = True) -> tf.Tensor:
        """Runs up to step `steps` (continuing after `steps_done`), handing each step's losses to `callbacks`.

        Returns the image. Stops early, after a whole step, once `stop` is set. Raises NumericalError if the
        loss or the image becomes non-finite; the image is then the last finite one (also on the error).
        Callbacks see step numbers plus `step_offset` (the steps of earlier scales); `notify=False` leaves
        on_start/on_end to the caller (one call each for a whole multi-scale run).
        """
        if notify:
            for callback in callbacks:
                callback.on_start(self.image, self.config)
        if self.config.optimizer == "lbfgs":
            self._run_lbfgs(steps, callbacks, stop, step_offset)
        else:
            self._run_adam(steps, callbacks, stop, step_offset)
        if notify:
            for callback in callbacks:
                callback.on_end(self.image)
        return tf.convert_to_tensor(self.image)

    def _run_adam(self, steps, callbacks, stop, step_offset) -> None:
        for local_step in range(self.steps_done + 1, steps + 1):
            step = local_step + step_offset
            terms, finite = self.step()
            if not finite:
                raise self._diverged(step)
            terms = {name: float(value) for name, value in terms.items()}
            for callback in callbacks:
                callback.on_step(step, self.image, terms)
            if stop is not None and stop.is_set():
                break

    def _run_lbfgs(self, steps, callbacks, stop, step_offset) -> None:
        # SciPy's L-BFGS-B (Byrd et al. 1995) in float64 on the host: its bounds keep pixels in [0, 1] (and
        # kept pixels at the content's) without the projection Adam needs. Each iteration is one or a few
        # evaluations of the compiled objective; the host round trip costs milliseconds against a step's
        # hundreds. Its curvature memory is not checkpointed: a resumed run rebuilds it from the image.
        from scipy import optimize as scipy_optimize

        if steps <= self.steps_done:
            return
        shape = tuple(self.image.shape)
        # The range Adam's projection maps [0, 1] onto: [0, 1], fixed at the content where pixels are kept.
        lower = np.broadcast_to(self.kept.numpy(), shape).astype(np.float64)
        upper = lower + np.broadcast_to(self.free.numpy(), shape)
        evaluated = {}

        def loss_and_gradient(pixels):
            terms, gradient = self.loss_and_gradient(tf.constant(pixels.reshape(shape), tf.float32))
            terms = {name: float(value) for name, value in terms.items()}
            gradient = gradient.numpy().astype(np.float64).ravel()
            if not np.isfinite(terms["total"]) or not np.all(np.isfinite(gradient)):
                raise self._diverged(self.steps_done + 1 + step_offset)
            evaluated.update(pixels=pixels.copy(), terms=terms)
            return terms["total"], gradient

        def after_iteration(intermediate_result):
            pixels = intermediate_result.x
            if not np.array_equal(pixels, evaluated["pixels"]):  # the line search ended elsewhere
                loss_and_gradient(pixels)
            self.image.assign(pixels.reshape(shape).astype(np.float32))
            self.adam.iterations.assign_add(1)  # steps_done, as for Adam (and in checkpoints)
            for callback in callbacks:
                callback.on_step(self.steps_done + step_offset, self.image, evaluated["terms"])
            if stop is not None and stop.is_set():
                raise StopIteration

        # No tolerance stops it early: it runs `steps` iterations unless the line search cannot go on.
        wanted = steps - self.steps_done
        outcome = scipy_optimize.minimize(
            loss_and_gradient, self.image.numpy().astype(np.float64).ravel(), jac=True, method="L-BFGS-B",
            bounds=scipy_optimize.Bounds(lower.ravel(), upper.ravel()), callback=after_iteration,
            options={"maxiter": wanted, "maxfun": 4 * wanted + 20, "maxcor": 10, "ftol": 0.0, "gtol": 0.0})
        if self.steps_done < steps and not (stop is not None and stop.is_set()):
            # Typically the line search failing on an inexact gradient (bfloat16 is too coarse for it).
            logging.warning("L-BFGS-B stopped after %d of %d iterations: %s", self.steps_done, steps,
                            outcome.message)

    def _diverged(self, step: int) -> NumericalError:
        if self.config.optimizer == "lbfgs":
            cause = "a loss weight is probably far too large"
        else:
            cause = f"the learning rate ({self.config.learning_rate:g}) or a loss weight is probably far too large"
        return NumericalError(f"the loss or the image became non-finite (NaN or infinity) at step {step}; {cause}",
                              step=step, image=self.image.numpy())


class AdamState:
    """Adam's variables for one image: `iterations`, `learning_rate`, `momentum` and `velocity`.

    The update itself is `Objective.adam_step`. `variables` lists them in the order of Keras' Adam, so a
    checkpoint written with `keras.optimizers.Adam` restores into this, and this into that.
    """

    def __init__(self, image: tf.Variable, config: StyleConfig):
        self.iterations = tf.Variable(0, dtype=tf.int64, name="iteration", trainable=False)
        self.learning_rate = tf.Variable(config.learning_rate, dtype=tf.float32, name="learning_rate",
                                         trainable=False)
        self.momentum = tf.Variable(tf.zeros_like(image), name="momentum", trainable=False)
        self.velocity = tf.Variable(tf.zeros_like(image), name="velocity", trainable=False)
        self.variables = [self.iterations, self.learning_rate, self.momentum, self.velocity]


def grid_pull(config: StyleConfig, steps_done: int) -> float:
    """The stiffness of the pull towards 8-bit levels in the step after `steps_done` steps of a scale: 0, then
    rising linearly over the last `config.grid_steps` of `config.steps` to `config.grid_strength`.

    Saving rounds every pixel to the nearest of 256 levels, up to half a level from where the optimisation
    left it, which raises the objective, mostly its content term. Pulled to a level during the last steps,
    while the other pixels can still compensate, a pixel is not moved by rounding.
    """
    window = min(config.grid_steps, config.steps)
    first = config.steps - window
    if window == 0 or steps_done < first:
        return 0.0
    return config.grid_strength * (steps_done - first + 1) / window


def learning_rate(config: StyleConfig, steps_done: int) -> float:
    """Adam's learning rate for the step after `steps_done` steps of a scale, under `config.schedule`.

    'cosine' falls from `learning_rate` (first step) to `final_learning_rate` (last step, `config.steps`)
    along a half cosine (Loshchilov and Hutter 2017, without restarts). 'cooldown' holds `learning_rate`, then
    falls to `final_learning_rate` over the last `cooldown_fraction` of the steps along 1 - sqrt (Hägele et al.
    2024). With `warmup_steps` (at most a tenth of `config.steps`, so a short run is not all warm-up), the
    first `warmup` steps scale the rate by 1/warmup, 2/warmup, ... 1.
    """
    rate = config.learning_rate
    if config.schedule != "constant" and config.steps > 1:
        progress = min(steps_done / (config.steps - 1), 1.0)
        if config.schedule == "cosine":
            fall = 0.5 * (1.0 - math.cos(math.pi * progress))
        else:  # cooldown
            fall = math.sqrt(max(0.0, progress - (1.0 - config.cooldown_fraction)) / config.cooldown_fraction)
        rate = config.final_learning_rate + (config.learning_rate - config.final_learning_rate) * (1.0 - fall)
    warmup = min(config.warmup_steps, config.steps // 10)
    if steps_done < warmup:
        rate *= (steps_done + 1) / warmup
    return rate


def blend_weights(config: StyleConfig, styles: int) -> tuple[float, ...]:
    """The styles' blend weights, normalised to sum to 1 (equal unless `config.style_blend_weights`)."""
    weights = config.style_blend_weights or (1.0,) * styles
    if len(weights) != styles:
        raise ValueError(f"{len(weights)} style blend weights for {styles} styles")
    return tuple(weight / sum(weights) for weight in weights)
