"""The optimisation: targets computed once, a compiled Adam step on a `tf.Variable` image, and the loop.

No file I/O and no printing here: every step's result goes to callbacks (see callbacks.py).
"""

from __future__ import annotations

import threading
from typing import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from style_transfer import losses, preprocessing
from style_transfer.config import StyleConfig
from style_transfer.errors import NumericalError
from style_transfer.features import FeatureExtractor


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
    the content's: after every step they are put back. The step is traced once per image shape.
    """

    def __init__(self, extractor: FeatureExtractor, content_image: tf.Tensor, style_images, init_image: tf.Tensor,
                 config: StyleConfig, *, regions: tf.Tensor | None = None, keep: tf.Tensor | None = None):
        if tuple(init_image.shape) != tuple(content_image.shape):
            raise ValueError(f"init image shape {tuple(init_image.shape)} differs from the content image's "
                             f"{tuple(content_image.shape)}")
        style_images = [style_images] if isinstance(style_images, (tf.Tensor, np.ndarray)) else list(style_images)
        blend = blend_weights(config, len(style_images))
        self.config = config
        self.extractor = extractor
        # The targets never change, so they are computed once here, not in every step.
        content_features = extractor(content_image)
        self.content_targets = {name: content_features[name] for name in config.content_layers}
        per_style = []
        for style_image in style_images:
            style_features = extractor(style_image)
            per_style.append({name: losses.gram_matrix(style_features[name], config.gram_norm)
                              for name in config.style_layers})
        self.style_masks = self.region_weights = None
        if regions is not None:
            if regions.shape[0] != len(style_images):
                raise ValueError(f"{regions.shape[0]} mask regions for {len(style_images)} styles")
            # Each region keeps its own style's Gram matrix: [R, c, c] per layer.
            self.style_targets = {name: tf.concat([grams[name] for grams in per_style], axis=0)
                                  for name in config.style_layers}
            self.style_masks = {name: preprocessing.resize_regions(regions, content_features[name].shape[1:3])
                                for name in config.style_layers}
            # Each region's share of the picture, so a mask of ones gives exactly the unmasked loss.
            self.region_weights = tf.reduce_mean(tf.convert_to_tensor(regions, tf.float32), axis=[1, 2, 3])
        elif len(per_style) == 1:
            self.style_targets = per_style[0]  # no arithmetic: the tutorial's targets, bit for bit
        else:
            self.style_targets = {name: tf.add_n([weight * grams[name] for weight, grams in zip(blend, per_style)])
                                  for name in config.style_layers}
        self.keep = self.kept_content = None
        if keep is not None:
            self.keep = tf.constant(keep, tf.float32)
            self.kept_content = self.keep * tf.convert_to_tensor(content_image, tf.float32)
        self.image = tf.Variable(init_image, dtype=tf.float32, name="image")
        # The image before the current step, put back if the step makes anything non-finite.
        self.last_finite = tf.Variable(init_image, dtype=tf.float32, name="last_finite_image", trainable=False)
        self.optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, beta_1=config.beta_1,
                                               beta_2=config.beta_2, epsilon=config.epsilon)
        self.optimizer.build([self.image])  # create Adam's slots eagerly, not inside the traced step
        self.step = tf.function(self._step)

    @property
    def steps_done(self) -> int:
        """Steps applied so far (Adam's iteration count, so it survives a checkpoint)."""
        return int(self.optimizer.iterations.numpy())

    def checkpoint(self) -> tf.train.Checkpoint:
        """What a checkpoint holds: the image and every Adam variable (iteration count, moments)."""
        return tf.train.Checkpoint(image=self.image, adam=list(self.optimizer.variables))

    def _step(self) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        config = self.config
        self.last_finite.assign(self.image)
        with tf.GradientTape() as tape:
            features = self.extractor(self.image)
            loss, terms = losses.total_loss(
                features, self.image, content_targets=self.content_targets, style_targets=self.style_targets,
                content_layers=config.content_layers, style_layers=config.style_layers,
                content_weight=config.content_weight, style_weight=config.style_weight,
                tv_weight=config.tv_weight, gram_norm=config.gram_norm, style_masks=self.style_masks,
                region_weights=self.region_weights)
        gradient = tape.gradient(loss, self.image)
        self.optimizer.apply_gradients([(gradient, self.image)])
        # Projected gradient descent: pixels stay valid after every step, as in the tutorial.
        self.image.assign(tf.clip_by_value(self.image, 0.0, 1.0))
        if self.keep is not None:  # likewise projected: kept pixels are the content's
            self.image.assign(self.kept_content + (1.0 - self.keep) * self.image)
        finite = tf.math.is_finite(loss) & tf.reduce_all(tf.math.is_finite(self.image))
        if not finite:  # a NaN survives clipping; keep the last good image instead
            self.image.assign(self.last_finite)
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
        for local_step in range(self.steps_done + 1, steps + 1):
            step = local_step + step_offset
            terms, finite = self.step()
            if not finite:
                raise NumericalError(
                    f"the loss or the image became non-finite (NaN or infinity) at step {step}; the learning "
                    f"rate ({self.config.learning_rate:g}) or a loss weight is probably far too large",
                    step=step, image=self.image.numpy())
            terms = {name: float(value) for name, value in terms.items()}
            for callback in callbacks:
                callback.on_step(step, self.image, terms)
            if stop is not None and stop.is_set():
                break
        if notify:
            for callback in callbacks:
                callback.on_end(self.image)
        return tf.convert_to_tensor(self.image)


def blend_weights(config: StyleConfig, styles: int) -> tuple[float, ...]:
    """The styles' blend weights, normalised to sum to 1 (equal unless `config.style_blend_weights`)."""
    weights = config.style_blend_weights or (1.0,) * styles
    if len(weights) != styles:
        raise ValueError(f"{len(weights)} style blend weights for {styles} styles")
    return tuple(weight / sum(weights) for weight in weights)
