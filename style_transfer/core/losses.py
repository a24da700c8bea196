"""The objective: pure tensor functions of features and targets, no state and no globals.

Shapes: features are [1, h, w, c] float32 activations; Gram matrices [1, c, c]; images [1, H, W, 3] in [0, 1].
"""

from __future__ import annotations

from typing import Mapping

import tensorflow as tf


def gram_matrix(features: tf.Tensor, normalization: str, locations: tf.Tensor | None = None) -> tf.Tensor:
    """[B, h, w, c] -> [B, c, c] float32: channel correlations averaged over the h*w locations (as the tutorial).

    Gatys et al. sum over locations instead; averaging makes the style weight independent of image size.
    normalization "chw" also divides by c, so layers with more channels do not get larger Gram entries.
    bfloat16 features give the float32 Gram matrix of their exact values (a product of two bfloat16 numbers is
    exact in float32). The gradient keeps only `features` and is one product, F (dG + dG^T) / N, computed in
    the features' dtype: automatic differentiation of the einsum would keep a float32 copy of bfloat16
    features and compute two products. `locations` (a scalar of any number type) replaces h*w: the count of
    locations that are the picture's when the rest are zeros of padding.
    """

    @tf.custom_gradient
    def gram(features):
        exact = tf.cast(features, tf.float32)  # a transient copy for bfloat16 (none for float32)
        shape = tf.shape(features)
        count = tf.cast(shape[1] * shape[2] if locations is None else locations, tf.float32)
        if normalization == "chw":
            count = count * tf.cast(shape[3], tf.float32)
        result = tf.linalg.einsum("bijc,bijd->bcd", exact, exact) / count

        def gradient(upstream):
            symmetric = (upstream + tf.linalg.matrix_transpose(upstream)) / count
            return tf.linalg.einsum("bijc,bcd->bijd", features, tf.cast(symmetric, features.dtype))

        return result, gradient

    return gram(features)


def guided_gram_matrices(features: tf.Tensor, masks: tf.Tensor, normalization: str) -> tf.Tensor:
    """[1, h, w, c] features and [R, h, w, 1] region masks in [0, 1] -> [R, c, c] guided Gram matrices.

    Gatys et al. 2017: each region's Gram matrix of the masked features, averaged over the region's
    (mask-weighted) locations, so a mask of ones gives exactly `gram_matrix`. An empty region gives zeros.
    """
    masked = features * masks
    gram = tf.linalg.einsum("bijc,bijd->bcd", masked, masked)
    area = tf.reduce_sum(tf.square(masks), axis=[1, 2, 3])
    if normalization == "chw":
        area = area * tf.cast(tf.shape(features)[3], features.dtype)
    return gram / tf.maximum(area, 1e-8)[:, None, None]


def weighted_mse(outputs: Mapping[str, tf.Tensor], targets: Mapping[str, tf.Tensor],
                 layer_weights: Mapping[str, float], weight: float, *, per_example: bool = False,
                 ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """`weight` * sum_l w_l * mean((outputs_l - targets_l)^2) / sum_l w_l, and each layer's share of it.

    With equal layer weights this is the tutorial's `add_n(means) * weight / num_layers`, computed in that
    order so its float results are reproduced. `per_example`: means over all but the batch axis, so every
    result is [B] (targets broadcast: one [1, ...] target serves a whole batch).
    """
    scale = weight / sum(layer_weights.values())

    def mean(difference):
        return tf.reduce_mean(tf.square(difference), axis=list(range(1, difference.shape.rank)) if per_example
                              else None)

    means = {name: mean(outputs[name] - targets[name]) for name in layer_weights}
    loss = tf.add_n([means[name] if w == 1.0 else means[name] * w for name, w in layer_weights.items()]) * scale
    per_layer = {name: means[name] * (w * scale) for name, w in layer_weights.items()}
    return loss, per_layer


def total_variation_loss(image: tf.Tensor, smoothing: float, per_example: bool = False) -> tf.Tensor:
    """Total variation of [B, H, W, C] images: a scalar, or [B] with `per_example`.

    `smoothing` 0 is tf.image.total_variation's (the tutorial's): the sum of absolute differences between
    horizontally and vertically neighbouring values. Above 0 each difference d costs
    sqrt(d^2 + smoothing^2) - smoothing instead (Charbonnier's smoothed absolute value): about |d| - smoothing
    for differences much larger than `smoothing`, so edges are pulled as L1 pulls them, but quadratic below it. The
    absolute value's gradient keeps its full size however small a difference is, so gradient descent settles
    with neighbouring pixels exactly equal: flat blocks and steps where the picture should shade smoothly
    (the staircasing of L1 total variation); the smoothed cost lets small differences be.
    """
    if smoothing == 0.0:
        variation = tf.image.total_variation(image)
    else:
        def cost(difference):
            return tf.reduce_sum(tf.sqrt(tf.square(difference) + smoothing ** 2) - smoothing, axis=[1, 2, 3])

        variation = cost(image[:, 1:] - image[:, :-1]) + cost(image[:, :, 1:] - image[:, :, :-1])
    return variation if per_example else tf.reduce_sum(variation)


def total_loss(features: Mapping[str, tf.Tensor], image: tf.Tensor, *,
               content_targets: Mapping[str, tf.Tensor], style_targets: Mapping[str, tf.Tensor],
               content_layers: Mapping[str, float], style_layers: Mapping[str, float],
               content_weight: float, style_weight: float, tv_weight: float, gram_norm: str, tv_smoothing: float,
               style_masks: Mapping[str, tf.Tensor] | None = None, region_weights: tf.Tensor | None = None,
               per_example: bool = False) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """The weighted objective of Gatys et al. with the tutorial's normalisations.

    `features` holds the image's activations for every content and style layer; `style_targets` are Gram
    matrices, [1, c, c] each, or [R, c, c] with `style_masks` ({layer: [R, h, w, 1]}): then each region's
    guided Gram matrix is compared with its own target, weighted by `region_weights` ([R], the regions'
    shares of the picture). Returns (total, terms) where terms has "total", "content", "style", "tv" and one
    entry per layer ("style/block1_conv1", "content/block5_conv2": that layer's weighted share). `terms` is
    exactly what gets logged.

    `per_example` (for training a network on batches, without masks): every term is [B], one value per
    picture of the batch, with the [1, c, c] style targets shared by all of them.
    """
    if per_example and style_masks is not None:
        raise ValueError("per_example losses do not take style masks")
    if style_masks is None:
        grams = {name: gram_matrix(features[name], gram_norm) for name in style_layers}
    else:
        grams = {name: guided_gram_matrices(features[name], style_masks[name], gram_norm) for name in style_layers}
    return loss_of_grams(grams, features, image, content_targets=content_targets, style_targets=style_targets,
                         content_layers=content_layers, style_layers=style_layers, content_weight=content_weight,
                         style_weight=style_weight, tv_weight=tv_weight, tv_smoothing=tv_smoothing,
                         region_weights=region_weights,
                         per_example=per_example)


def loss_of_grams(grams: Mapping[str, tf.Tensor], features: Mapping[str, tf.Tensor], image: tf.Tensor, *,
                  content_targets: Mapping[str, tf.Tensor], style_targets: Mapping[str, tf.Tensor],
                  content_layers: Mapping[str, float], style_layers: Mapping[str, float],
                  content_weight: float, style_weight: float, tv_weight: float, tv_smoothing: float,
                  region_weights: tf.Tensor | None = None, per_example: bool = False,
                  ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """`total_loss` from the image's Gram matrices already computed: `grams` {style layer: [B, c, c]}, or
    [R, c, c] guided ones with `region_weights`, and `features` holding the content layers' activations.

    So the activations of style layers need not be kept until the loss (see FeatureExtractor.reduce).
    """
    if region_weights is None:
        style, style_per_layer = weighted_mse(grams, style_targets, style_layers, style_weight,
                                              per_example=per_example)
    else:
        style, style_per_layer = _guided_style_loss(grams, style_targets, style_layers, style_weight,
                                                    region_weights)
    content, content_per_layer = weighted_mse(features, content_targets, content_layers, content_weight,
                                              per_example=per_example)
    tv = tv_weight * total_variation_loss(image, tv_smoothing, per_example)
    total = style + content + tv  # the tutorial's order of summation
    terms = {"total": total, "content": content, "style": style, "tv": tv}
    terms.update({f"style/{name}": value for name, value in style_per_layer.items()})
    terms.update({f"content/{name}": value for name, value in content_per_layer.items()})
    return total, terms


def _guided_style_loss(grams, style_targets, style_layers, style_weight,
                       region_weights) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    scale = style_weight / sum(style_layers.values())
    per_layer = {}
    for name, weight in style_layers.items():
        per_region = tf.reduce_mean(tf.square(grams[name] - style_targets[name]), axis=[1, 2])
        per_layer[name] = tf.reduce_sum(per_region * region_weights) * (weight * scale)
    return tf.add_n(list(per_layer.values())), per_layer


def temporal_loss(image: tf.Tensor, warped_previous: tf.Tensor, reliable: tf.Tensor, weight: float) -> tf.Tensor:
    """Ruder, Dosovitskiy and Brox (2016)'s short-term temporal loss: a scalar float32.

    `image` and `warped_previous` (the previous frame's result moved by the optical flow onto this frame) are
    [1, H, W, 3] in [0, 1]; `reliable` ([1, H, W, 1] in [0, 1]) is 1 where the flow is trusted and 0 at
    occlusions and motion boundaries. `weight` * the mean of reliable * (image - warped_previous)^2 over the
    reliable pixels' values: the paper divides by every value of the picture (D), here by the reliable ones,
    so the pull on a pixel does not weaken when much of the frame is occluded. No reliable pixel: 0.
    """
    squared = tf.square(image - warped_previous) * reliable
    count = tf.reduce_sum(reliable) * tf.cast(tf.shape(image)[-1], tf.float32)
    return weight * tf.reduce_sum(squared) / tf.maximum(count, 1e-8)
