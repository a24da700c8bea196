"""The frozen VGG feature extractor (VGG19 or VGG16): [1, H, W, 3] RGB in [0, 1] -> {keras_layer_name: activation}.

VGG's Caffe-style preprocessing (RGB->BGR, ImageNet mean subtracted, 0-255 scale) happens here and nowhere
else. Only the layers up to the deepest one asked for are built into the model, so nothing past it is
computed. The networks and their weights are core/vgg.py's, the Keras model core/feature_model.py's; how the
layers run (size buckets, bands) is kernels/'.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Mapping

import keras
import tensorflow as tf

from style_transfer.core.config import (CONVOLUTION_CHOICES, DEFAULT, POOLING_CHOICES, PRECISION_CHOICES,
                                        network_layers, pools_through)
from style_transfer.core.feature_model import feature_model
from style_transfer.core.vgg import build_vgg, layer_channels, network_of
from style_transfer.kernels.banding import banded_blocks
from style_transfer.kernels.buckets import mean_activations, pad_to_bucket, picture_float32, run_layer
from style_transfer.kernels.devices import resolve_convolution, resolve_precision
from style_transfer.kernels.winograd import WINOGRAD_MIN_CHANNELS


class FeatureExtractor:
    """Maps [1, H, W, 3] float32 RGB in [0, 1] to {layer_name: [1, h, w, c] activations} of VGG19 or VGG16.

    The model is cut at the deepest requested layer: Keras builds only the part of the graph the outputs
    need, so layers past it are neither built nor run.

    pooling "avg" replaces max-pooling with average-pooling (same weights). Averaging lowers the activations
    after each pool, which would silently shrink the content and style terms; `calibrate(image)` measures, per
    layer, the ratio of mean activations under max and average pooling on a picture, and the features are
    multiplied by it, so the loss weights keep their meaning.
    """

    def __init__(self, layer_names: Iterable[str], *, pooling: str, precision: str, convolution: str,
                 weights: str | None = None, network: str | None = None, vgg: keras.Model | None = None):
        """`pooling`, `precision` and `convolution` as in StyleConfig, which holds their defaults ('auto' is
        resolved here; `self.precision` and `self.convolution` tell the outcome). The network: `weights` and
        `network` as for build_vgg, or a built `vgg` (`network`, if given, must be its network; `self.weights`
        is then None: unknown). ValueError for anything else."""
        self.layer_names = tuple(dict.fromkeys(layer_names))  # ordered, without repeats
        if (weights is None) == (vgg is None):
            raise ValueError("give the weights and network to build, or a built vgg (not both)")
        if vgg is None and network is None:
            raise ValueError(f"weights {weights!r}: give the network to build (vgg19 or vgg16)")
        self.weights = weights
        self.pooling = pooling
        if vgg is not None and network is not None and network_of(vgg) != network:
            raise ValueError(f"the model given is {network_of(vgg)}, not {network}")
        self.network = network_of(vgg) if vgg is not None else network
        all_layers = network_layers(self.network)
        unknown = [name for name in self.layer_names if name not in all_layers]
        if unknown:
            raise ValueError(f"{self.network} has no layers {unknown}")
        if pooling not in POOLING_CHOICES:
            raise ValueError(f"unknown pooling {pooling!r}")
        if precision not in PRECISION_CHOICES:
            raise ValueError(f"unknown precision {precision!r}")
        if convolution not in CONVOLUTION_CHOICES:
            raise ValueError(f"unknown convolution {convolution!r}")
        self.requested_precision = precision
        self.precision = resolve_precision(precision)
        self.convolution = resolve_convolution(convolution, self.precision)
        vgg = vgg if vgg is not None else build_vgg(weights, self.network)
        deepest = max(all_layers.index(name) for name in self.layer_names)
        # Winograd where it is faster than TensorFlow's direct convolution: from WINOGRAD_MIN_CHANNELS input
        # channels on.
        self.winograd_layers = tuple(
            name for name in all_layers[: deepest + 1] if self.convolution == "winograd" and "_conv" in name
            and vgg.get_layer(name).kernel.shape[2] >= WINOGRAD_MIN_CHANNELS)
        self.model = feature_model(vgg, self.layer_names, pooling, self.precision, self.winograd_layers)
        self.max_pooling_model = (feature_model(vgg, self.layer_names, "max", self.precision, self.winograd_layers)
                                  if pooling == "avg" else None)
        # Per-layer activation scales (1 until calibrated); variables, so a compiled step sees new values.
        self.activation_scales = {name: tf.Variable(1.0, trainable=False, name=f"{name}_scale")
                                  for name in self.layer_names}
        self.compiled_means = {}  # calibrate's compiled functions, by size bucket
        # The model's layers as VGG's blocks, each ending with its pool (the last at the deepest layer used):
        # the units whose activations a backward pass can recompute instead of keeping.
        used = all_layers[: deepest + 1]
        self.blocks = [[self.model.get_layer(name) for name in used if name.startswith(f"block{block}_")]
                       for block in range(1, 6)]
        self.blocks = [block for block in self.blocks if block]
        self.channels = {name: layer_channels(name) for name in self.layer_names}

    def __call__(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        # The losses (Gram matrices, means of squares) are float32 whatever the convolutions compute in.
        return self.reduce(image, {name: picture_float32 for name in self.layer_names})

    def reduce(self, image: tf.Tensor, reducers: Mapping[str, Callable[[tf.Tensor, tf.Tensor | None], Any]], *,
               recompute_blocks: int = 0, size_bucket: int = DEFAULT.size_bucket,
               band_pixels: int = 0) -> dict[str, Any]:
        """{layer: reducers[layer](activation, size)} for `image` ([1, H, W, 3] float32 in [0, 1]).

        Each reducer gets its layer's [1, h, w, c] activation in the convolutions' dtype (bfloat16 with that
        precision; scaled with average pooling) as soon as the layer is computed, and returns tensors; only
        those are kept. So a reducer that returns a Gram matrix lets the activation go at once.
        `recompute_blocks`: under a GradientTape, the first this many VGG19 blocks keep nothing for the
        backward pass but their input; it runs them again (gradient checkpointing: the largest activations,
        at full and half resolution, are never all held at once, for one more forward pass of those blocks).
        `size_bucket`: the network runs on the image padded up to a multiple of this many pixels per side,
        and every layer's output is zeroed outside the picture's part of it, which is exactly what VGG19's zero
        ('same') padding and flooring 2x2 pools see without the padding. Reducers then get the padded
        activation (zeros outside the picture) and, as `size`, the picture's [h, w] ([2] int32) at its top left
        (without buckets `size` is None). So results are those of the unpadded image, to float rounding, while
        the kernels (and a reducer that keeps the padded shape) meet only bucketed shapes.
        `band_pixels` (with `recompute_blocks`, without `size_bucket`): the recomputed blocks run on horizontal
        bands of the picture of about this many pixels each, forward and again in the backward pass, so their
        activations are never held for more than one band (banded_blocks). Their layers' reducers must then be
        sums over locations, as a Gram matrix is: each gets one band's rows of its activation and, as `size`,
        the whole activation's [h, w], and the results of all bands are added.
        """
        unknown = [name for name in reducers if name not in self.layer_names]
        if unknown:
            raise ValueError(f"the extractor does not compute layers {unknown}")
        all_layers = network_layers(self.network)
        deepest = max(all_layers.index(name) for name in reducers)
        inputs, valid = pad_to_bucket(_preprocess(image), size_bucket)
        outputs, first = {}, 0
        blocks = [block for block in self.blocks if all_layers.index(block[0].name) <= deepest]
        if band_pixels and recompute_blocks:
            if size_bucket:
                raise ValueError("banded recomputation needs exact sizes (size_bucket 0)")
            first = min(recompute_blocks, len(blocks))
            inputs, reduced = banded_blocks(
                [layer for block in blocks[:first] for layer in block], self._activation, reducers, inputs,
                band_pixels)
            outputs.update(reduced)
        for index, block in enumerate(blocks[first:], first):
            run = functools.partial(self._run_block, block, reducers, valid, index)
            inputs, reduced = (tf.recompute_grad(run) if index < recompute_blocks else run)(inputs)
            outputs.update(reduced)
        return outputs

    def _run_block(self, block, reducers, valid, pools, inputs):
        # `valid`: the picture's [H, W] within a padded input (None: not padded); `pools`: pools before the block.
        reduced = {}
        for layer in block:
            inputs, pools, size = run_layer(layer, inputs, valid, pools)
            if layer.name in reducers:
                reduced[layer.name] = reducers[layer.name](self._activation(layer.name, inputs), size)
        return inputs, reduced

    def _activation(self, name: str, outputs: tf.Tensor) -> tf.Tensor:
        """A layer's outputs as its reducer sees them: scaled with average pooling."""
        if self.pooling == "avg":
            return outputs * tf.cast(self.activation_scales[name], outputs.dtype)
        return outputs

    def feature_size(self, name: str, size: tuple[int, int]) -> tuple[int, int]:
        """The [h, w] of layer `name`'s activation for an image of [H, W] = `size` (each 2x2 pool floors)."""
        pools = pools_through(name)
        return size[0] // 2 ** pools, size[1] // 2 ** pools

    def calibrate(self, image: tf.Tensor, size_bucket: int = DEFAULT.size_bucket) -> dict[str, float]:
        """With average pooling: sets each layer's scale to mean max-pooled / mean average-pooled activation
        on `image` ([1, H, W, 3] in [0, 1]); returns the scales. Layers before the first pool get 1.
        `size_bucket` as for `reduce`: the same means, with both networks run on the padded picture."""
        if self.pooling == "max":
            return {name: 1.0 for name in self.layer_names}
        # Compiled, once per size bucket, for every picture size: run eagerly, the models called the Winograd
        # layers' and fused pools' XLA functions eagerly, which traced them again for every layer's shape and
        # every picture size (six "triggered tf.function retracing" warnings per run).
        if size_bucket not in self.compiled_means:
            def means(image):
                preprocessed = _preprocess(image)
                return tuple(mean_activations(model, preprocessed, size_bucket, self.layer_names)
                             for model in (self.max_pooling_model, self.model))

            self.compiled_means[size_bucket] = tf.function(
                means, input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
        reference, averaged = self.compiled_means[size_bucket](tf.convert_to_tensor(image, tf.float32))
        for name in self.layer_names:
            ratio = float(reference[name] / tf.maximum(averaged[name], 1e-12))
            self.activation_scales[name].assign(ratio if ratio > 0 else 1.0)
        return {name: float(scale.numpy()) for name, scale in self.activation_scales.items()}


def _preprocess(image: tf.Tensor) -> tf.Tensor:
    # VGG19 and VGG16 were trained on Caffe-style inputs: BGR, 0-255, ImageNet mean subtracted.
    return keras.applications.vgg19.preprocess_input(image * 255.0)
