"""The frozen VGG feature extractor (VGG19 or VGG16): [1, H, W, 3] RGB in [0, 1] -> {keras_layer_name: activation}.

VGG's Caffe-style preprocessing (RGB->BGR, ImageNet mean subtracted, 0-255 scale) happens here and nowhere
else. Only the layers up to the deepest one asked for are built into the model, so nothing past it is
computed.
"""

from __future__ import annotations

import functools
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import h5py
import keras
import numpy as np
import tensorflow as tf

from style_transfer.core.config import (CONVOLUTION_CHOICES, NETWORK_LAYERS, POOLING_CHOICES, PRECISION_CHOICES,
                                   network_layers, pools_through)
from style_transfer.kernels.devices import resolve_convolution, resolve_precision
from style_transfer.core.errors import WeightsError
from style_transfer.kernels.pooling import FusedMaxPooling2D
from style_transfer.kernels.winograd import (TRANSPOSED_GRADIENT_MIN_CHANNELS, WINOGRAD_MIN_CHANNELS, DirectConv2D,
                                     WinogradConv2D)

# The files keras.applications.VGG19/VGG16(include_top=False, weights="imagenet") download (80 and 59 MB),
# verified by Keras against their hashes and cached under $KERAS_HOME/models (default ~/.keras/models).
APPLICATIONS = {"vgg19": keras.applications.VGG19, "vgg16": keras.applications.VGG16}


def imagenet_notop_file(network: str) -> str:
    """The name of the notop ImageNet weights file Keras downloads for `network`."""
    return f"{network}_weights_tf_dim_ordering_tf_kernels_notop.h5"


def imagenet_notop_url(network: str) -> str:
    """Where Keras downloads `network`'s notop ImageNet weights from."""
    return f"https://storage.googleapis.com/tensorflow/keras-applications/{network}/{imagenet_notop_file(network)}"


def conv_layers(network: str) -> tuple[str, ...]:
    """`network`'s convolution layers, input to output."""
    return tuple(name for name in network_layers(network) if "_conv" in name)


def network_of(vgg: keras.Model) -> str:
    """Which network a built VGG model is ("vgg19" or "vgg16"), by its layers: only VGG19 has block3_conv4 (so a
    model cut after block 3 is told apart too). ValueError for a model that is neither."""
    names = {layer.name for layer in vgg.layers}
    if "block1_conv1" not in names:
        raise ValueError(f"model {vgg.name!r} is neither VGG19 nor VGG16 (it has no layer block1_conv1)")
    return "vgg19" if "block3_conv4" in names else "vgg16"


def keras_cache_dir() -> Path:
    """Where Keras caches downloaded weights: $KERAS_HOME/models, else ~/.keras/models.

    Mirrors Keras' own rule (keras.src.backend.config) without importing its private module.
    """
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home) / "models"


def build_vgg(weights: str, network: str = "vgg19") -> keras.Model:
    """`network` ("vgg19" or "vgg16") without its classifier, any input size, frozen, with the weights
    `weights` names.

    `weights`: "imagenet" (Keras' verified download and cache), "random" or "random:SEED" (He-normal
    kernels with std sqrt(2 / fan_in) and zero biases, seeded), or the path of a local .h5 file in the
    network's official notop layout or a Keras `.weights.h5` saved from VGG19/VGG16(include_top=False).
    Raises WeightsError (also for a file of the other network).
    """
    network_layers(network)  # ConfigError for an unknown network
    if weights == "imagenet":
        model = _imagenet_vgg(network)
    else:
        model = APPLICATIONS[network](include_top=False, weights=None)
        if weights == "random" or weights.startswith("random:"):
            seed = weights.partition(":")[2] or "0"
            if not seed.isdigit():
                raise WeightsError(f"weights {weights!r}: the seed after 'random:' must be an integer")
            _set_random_weights(model, int(seed))
        else:
            load_weights_file(model, Path(weights))
    model.trainable = False
    return model


def _imagenet_vgg(network: str) -> keras.Model:
    try:
        return APPLICATIONS[network](include_top=False, weights="imagenet")
    except Exception as error:  # Keras raises a bare Exception for a failed download
        cached = keras_cache_dir() / imagenet_notop_file(network)
        # Keras' message is "URL fetch failure on <url>: <code> -- <reason>"; the reason is what matters.
        reason = _one_line(error).rpartition(" -- ")[2]
        raise WeightsError(
            f"could not download the {network.upper()} ImageNet weights from {imagenet_notop_url(network)} "
            f"({reason}). Keras caches that file at {cached}: put a copy there (or set KERAS_HOME), or give the "
            f"path of a local copy as the weights (--weights PATH); --weights random runs without it, for "
            f"testing only") from None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _set_random_weights(model: keras.Model, seed: int) -> None:
    # He-normal (std sqrt(2 / fan_in)) keeps activations at the scale of trained VGG19 through the ReLUs;
    # Keras' default Glorot-uniform shrinks them layer by layer until the TV term dominates and every
    # result is a blur. NumPy's generator keeps the weights identical across TensorFlow versions.
    rng = np.random.default_rng(seed)
    for name in conv_layers(network_of(model)):
        layer = model.get_layer(name)
        kernel_shape = tuple(layer.kernel.shape)
        fan_in = int(np.prod(kernel_shape[:-1]))
        kernel = rng.standard_normal(kernel_shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        layer.set_weights([kernel, np.zeros(kernel_shape[-1], np.float32)])


def load_weights_file(model: keras.Model, path: Path) -> None:
    """Loads a local weights file into a notop VGG19 or VGG16 `model`; WeightsError if it is absent, holds
    the other network's weights or does not fit."""
    if not path.exists():
        raise WeightsError(f"weights file {path}: no such file (weights are 'imagenet', 'random' or a .h5 file)")
    if not path.is_file():
        raise WeightsError(f"weights file {path}: not a file")
    try:
        with h5py.File(path, "r") as weights_file:
            legacy = "layer_names" in weights_file.attrs
            if legacy:
                _load_legacy_h5(model, weights_file, path)
            elif "layers" not in weights_file or "vars" not in weights_file:
                raise WeightsError(f"weights file {path}: an HDF5 file, but neither the official VGG layout "
                                   "nor a Keras .weights.h5")
            else:
                _check_keras_weights_network(model, weights_file, path)
    except WeightsError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as error:  # h5py: not HDF5, truncated, odd structure
        raise WeightsError(f"weights file {path}: not a readable VGG weights file ({_one_line(error)})") from None
    if not legacy:
        _load_keras_weights_h5(model, path)


def _load_legacy_h5(model: keras.Model, weights_file: h5py.File, path: Path) -> None:
    # The Keras 2 layout of the official file: root attribute `layer_names`, one group per layer whose
    # attribute `weight_names` lists its arrays in order (kernel, bias). Read by layer name, so the file
    # with the classifier (include_top=True) works too; the layout is frozen, so reading it is safe.
    names = {_decode(name) for name in weights_file.attrs["layer_names"]}
    network = network_of(model)
    saved = "vgg19" if "block3_conv4" in names else "vgg16" if "block3_conv3" in names else network
    if saved != network:
        raise _network_mismatch(path, saved, network)
    for layer_name in conv_layers(network):
        if layer_name not in names:
            raise WeightsError(f"weights file {path}: layer {layer_name} is missing from the file")
        group = weights_file[layer_name]
        arrays = [np.asarray(group[_decode(name)]) for name in group.attrs["weight_names"]]
        layer = model.get_layer(layer_name)
        expected = [tuple(variable.shape) for variable in layer.weights]
        found = [array.shape for array in arrays]
        if found != expected:
            raise WeightsError(f"weights file {path}: layer {layer_name} has weights of shapes {found}, "
                               f"{network.upper()} needs {expected}")
        layer.set_weights(arrays)


def _check_keras_weights_network(model: keras.Model, weights_file: h5py.File, path: Path) -> None:
    # A Keras .weights.h5 names its groups by layer class (conv2d_7): the number of convolutions tells the
    # network (16 in VGG19, 13 in VGG16).
    counts = {len(conv_layers(network)): network for network in NETWORK_LAYERS}
    found = sum(1 for name, group in weights_file["layers"].items()
                if "conv" in name and isinstance(group, h5py.Group) and len(group.get("vars", ())) == 2)
    network = network_of(model)
    if counts.get(found, network) != network:
        raise _network_mismatch(path, counts[found], network)


def _network_mismatch(path: Path, found: str, wanted: str) -> WeightsError:
    return WeightsError(f"weights file {path}: holds {found.upper()} weights, but the network is {wanted} "
                        f"(pass --network {found}, or a {wanted.upper()} weights file)")


def _decode(name) -> str:
    return name.decode("utf8") if isinstance(name, bytes) else str(name)


def _load_keras_weights_h5(model: keras.Model, path: Path) -> None:
    # Keras 3's own format, read by Keras: its group names follow layer classes (conv2d_7), not layer names.
    # Keras insists on the .weights.h5 suffix, so a file named otherwise is read through a link that has it.
    with tempfile.TemporaryDirectory() as directory:
        if not path.name.endswith(".weights.h5"):
            link = Path(directory) / "vgg.weights.h5"
            os.symlink(path.resolve(), link)
            path_for_keras = link
        else:
            path_for_keras = path
        try:
            # On a partial mismatch Keras only warns and leaves layers at their random initialisation,
            # which would silently ruin every result; such a warning is an error here.
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                model.load_weights(path_for_keras)
        except Exception as error:  # Keras raises ValueError, KeyError or OSError depending on the mismatch
            raise WeightsError(f"weights file {path}: does not fit {network_of(model).upper()}(include_top=False): "
                               f"{_one_line(error)}") from None


def feature_model(vgg: keras.Model, layer_names: Iterable[str], pooling: str = "max",
                  dtype: str = "float32", winograd: Iterable[str] = ()) -> keras.Model:
    """A frozen model of `vgg`'s layers up to the deepest of `layer_names`, output {name: activation}.

    pooling "avg" rebuilds the graph with every 2x2 max-pool an average-pool, sharing the conv layers (and
    so the weights) with `vgg`. dtype "bfloat16" rebuilds it with bfloat16 layers holding `vgg`'s weights
    rounded to bfloat16 (outputs are bfloat16; oneDNN and cuDNN accumulate in float32). The conv layers named
    in `winograd` (float32 only) are computed by Winograd F(4x4, 3x3) instead (see winograd.py); with any,
    the other conv layers from 64 input channels compute their input gradient as a forward convolution
    (winograd.DirectConv2D) and the max-pools theirs in one fused pass (pooling.py): the fast CPU kernels.
    """
    layer_names, winograd = list(layer_names), set(winograd)
    network = network_of(vgg)
    all_layers = network_layers(network)
    if winograd and dtype != "float32":
        raise ValueError("Winograd convolutions are float32 only")
    if pooling == "max" and dtype == "float32" and not winograd:
        outputs = {name: vgg.get_layer(name).output for name in layer_names}
        model = keras.Model(vgg.input, outputs, name=f"{network}_features")
    else:
        deepest = max(all_layers.index(name) for name in layer_names)
        inputs = keras.Input(shape=(None, None, 3), name="input")
        x, tensors = inputs, {}
        for name in all_layers[: deepest + 1]:
            layer = vgg.get_layer(name)
            if isinstance(layer, keras.layers.MaxPooling2D) and pooling == "avg":
                layer = keras.layers.AveragePooling2D(pool_size=2, strides=2, name=name, dtype=dtype)
            elif isinstance(layer, keras.layers.MaxPooling2D) and dtype != "float32":
                layer = keras.layers.MaxPooling2D(pool_size=2, strides=2, name=name, dtype=dtype)
            elif isinstance(layer, keras.layers.MaxPooling2D) and winograd:
                layer = FusedMaxPooling2D(name)  # the same gradient, in one pass (pooling.py)
            elif name in winograd:
                layer = WinogradConv2D(layer)
            elif (winograd and isinstance(layer, keras.layers.Conv2D)
                  and layer.kernel.shape[2] >= TRANSPOSED_GRADIENT_MIN_CHANNELS):
                layer = DirectConv2D(layer)  # the input gradient as a forward convolution (winograd.py)
            elif dtype != "float32":
                layer = _conv_copy(layer, dtype)
            x = tensors[name] = layer(x)
        model = keras.Model(inputs, {name: tensors[name] for name in layer_names}, name=f"{network}_{pooling}_{dtype}")
    model.trainable = False
    return model


def _conv_copy(layer: keras.layers.Conv2D, dtype: str) -> keras.layers.Conv2D:
    copy = keras.layers.Conv2D(layer.filters, layer.kernel_size, padding=layer.padding, activation="relu",
                               name=layer.name, dtype=dtype, trainable=False)
    copy.build(layer.input.shape)
    copy.set_weights(layer.get_weights())  # Keras rounds them to the layer's dtype
    return copy


class FeatureExtractor:
    """Maps [1, H, W, 3] float32 RGB in [0, 1] to {layer_name: [1, h, w, c] activations} of VGG19 or VGG16.

    The model is cut at the deepest requested layer: Keras builds only the part of the graph the outputs
    need, so layers past it are neither built nor run.

    pooling "avg" replaces max-pooling with average-pooling (same weights). Averaging lowers the activations
    after each pool, which would silently shrink the content and style terms; `calibrate(image)` measures, per
    layer, the ratio of mean activations under max and average pooling on a picture, and the features are
    multiplied by it, so the loss weights keep their meaning.
    """

    def __init__(self, layer_names: Iterable[str], weights: str = "imagenet", vgg: keras.Model | None = None,
                 pooling: str = "max", precision: str = "float32", convolution: str = "direct",
                 network: str | None = None):
        """`weights` and `network` as for build_vgg (`network` None: VGG19, or the network of `vgg`); or pass
        a built `vgg` (then `self.weights` is None: unknown). `precision` and `convolution` as in StyleConfig
        ('auto' is resolved here; `self.precision` and `self.convolution` tell the outcome)."""
        self.layer_names = tuple(dict.fromkeys(layer_names))  # ordered, without repeats
        self.weights = weights if vgg is None else None
        self.pooling = pooling
        if vgg is not None and network is not None and network_of(vgg) != network:
            raise ValueError(f"the model given is {network_of(vgg)}, not {network}")
        self.network = network_of(vgg) if vgg is not None else network or "vgg19"
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
        self.channels = {name: _channels(name) for name in self.layer_names}

    def __call__(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        # The losses (Gram matrices, means of squares) are float32 whatever the convolutions compute in.
        return self.reduce(image, {name: picture_float32 for name in self.layer_names})

    def reduce(self, image: tf.Tensor, reducers: Mapping[str, Callable[[tf.Tensor, tf.Tensor | None], Any]], *,
               recompute_blocks: int = 0, size_bucket: int = 0, band_pixels: int = 0) -> dict[str, Any]:
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
        inputs, valid = _pad_to_bucket(_preprocess(image), size_bucket)
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
            inputs, pools, size = _run_layer(layer, inputs, valid, pools)
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

    def calibrate(self, image: tf.Tensor, size_bucket: int = 0) -> dict[str, float]:
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
                return tuple(_mean_activations(model, preprocessed, size_bucket, self.layer_names)
                             for model in (self.max_pooling_model, self.model))

            self.compiled_means[size_bucket] = tf.function(
                means, input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
        reference, averaged = self.compiled_means[size_bucket](tf.convert_to_tensor(image, tf.float32))
        for name in self.layer_names:
            ratio = float(reference[name] / tf.maximum(averaged[name], 1e-12))
            self.activation_scales[name].assign(ratio if ratio > 0 else 1.0)
        return {name: float(scale.numpy()) for name, scale in self.activation_scales.items()}


MIN_BANDS = 4


def banded_blocks(layers: list[keras.layers.Layer], activation: Callable[[str, tf.Tensor], tf.Tensor],
                  reducers: Mapping[str, Callable[[tf.Tensor, tf.Tensor], Any]], inputs: tf.Tensor,
                  band_pixels: int) -> tuple[tf.Tensor, dict[str, Any]]:
    """`layers` (a chain of VGG19's 3x3 'same' convolutions and 2x2 pools) on `inputs` ([1, H, W, C]), run on
    horizontal bands of at most about `band_pixels` pixels, and at least MIN_BANDS of them: (the last layer's
    output, {layer: the sum over bands of reducers[layer](activation(layer, the band's rows of its output),
    the whole output's [h, w])}).

    Gradient checkpointing band by band: the forward pass keeps nothing but `inputs`, and the backward pass
    runs each band forward again under its own tape and adds its gradient into the input's. So the chain's
    activations (VGG19's largest: 64 channels at full resolution) are held one band at a time, never whole.
    Each band reads its rows plus a margin of input rows (one row per convolution at its resolution, rounded
    up to the pools' alignment) and keeps only the rows whose values the margin makes exact; the margin
    starts on a multiple of every pool's stride, so the pools see the whole picture's windows. The result is
    the unbanded one to float rounding (sums taken in another order).
    """
    pools_after, margin, pools = [], 0, 0
    for layer in layers:
        if _is_pool(layer):
            pools += 1
        else:
            margin += 2 ** pools  # a 3x3 'same' convolution reads one row either side at its resolution
        pools_after.append(pools)
    unit = 2 ** pools
    margin = -(-margin // unit) * unit
    height, width = tf.shape(inputs)[1], tf.shape(inputs)[2]
    # At least MIN_BANDS bands: a band holds all of its layers' activations and their gradients at once, so
    # one band over the whole picture costs more memory than recomputing block by block.
    rows = tf.minimum(band_pixels // width, -(-height // MIN_BANDS))
    rows = tf.maximum(-(-rows // unit), 1) * unit
    bands = (height + rows - 1) // rows

    def bounds(index):
        """A band's rows [start, end) of the input and the rows [top, bottom) it reads."""
        start = index * rows
        end = tf.minimum(start + rows, height)
        return start, end, tf.maximum(start - margin, 0), tf.minimum(end + margin, height)

    def band(slab, start, end, top):
        outputs, reduced = slab, {}
        for layer, after in zip(layers, pools_after):
            outputs = layer(outputs)
            if layer.name in reducers:
                scale = 2 ** after
                part = rows_of(outputs, (start - top) // scale, (end - top) // scale)
                whole = tf.stack([height // scale, width // scale])
                reduced[layer.name] = reducers[layer.name](activation(layer.name, part), whole)
        return rows_of(outputs, (start - top) // unit, (end - top) // unit), reduced

    def forward(index):
        start, end, top, bottom = bounds(index)
        return band(rows_of(inputs, top, bottom), start, end, top)

    shapes = {}  # the reducers' results' structure, known once the first band has run

    @tf.custom_gradient
    def run(inputs):
        first, shapes["reduced"] = forward(0)
        pieces = tf.TensorArray(first.dtype, size=bands, infer_shape=False).write(0, first[0])

        def step(index, pieces, sums):
            outputs, reduced = forward(index)
            return index + 1, pieces.write(index, outputs[0]), [
                total + part for total, part in zip(sums, tf.nest.flatten(reduced))]

        # One band at a time (parallel_iterations=1): bands run side by side would be held side by side.
        _, pieces, sums = tf.while_loop(lambda index, *_: index < bands, step,
                                        [tf.constant(1), pieces, tf.nest.flatten(shapes["reduced"])],
                                        parallel_iterations=1)
        outputs = pieces.concat()[None]
        outputs.set_shape([1, None, None, first.shape[-1]])

        def gradient(upstream, *sum_upstreams, variables=None):
            upstream = tf.zeros_like(outputs) if upstream is None else upstream
            sum_upstreams = [tf.zeros_like(total) if part is None else part
                             for total, part in zip(sums, sum_upstreams)]

            def step(index, total):
                start, end, top, bottom = bounds(index)
                slab = rows_of(inputs, top, bottom)
                with tf.GradientTape() as tape:
                    tape.watch(slab)
                    band_outputs, reduced = band(slab, start, end, top)
                band_upstream = upstream[:, start // unit: start // unit + tf.shape(band_outputs)[1]]
                part = tape.gradient([band_outputs, *tf.nest.flatten(reduced)], slab,
                                     output_gradients=[band_upstream, *sum_upstreams])
                return index + 1, total + tf.pad(part, [[0, 0], [top, height - bottom], [0, 0], [0, 0]])

            _, total = tf.while_loop(lambda index, _: index < bands, step, [tf.constant(0), tf.zeros_like(inputs)],
                                     parallel_iterations=1)
            return (total, [None] * len(variables)) if variables else total

        return (outputs, *sums), gradient

    outputs, *sums = run(inputs)
    return outputs, tf.nest.pack_sequence_as(shapes["reduced"], sums)


def rows_of(tensor: tf.Tensor, start: tf.Tensor, end: tf.Tensor) -> tf.Tensor:
    """Rows [start, end) of a [1, H, W, C] tensor (dynamic bounds), as [1, end - start, W, C]."""
    return tf.reshape(tf.reshape(tensor, tf.shape(tensor)[1:])[start:end], tf.concat([[1], [end - start],
                                                                                       tf.shape(tensor)[2:]], 0))


def _channels(name: str) -> int:
    """Channels of a VGG19 or VGG16 layer's activation (a pool keeps its block's)."""
    return {"block1": 64, "block2": 128, "block3": 256, "block4": 512, "block5": 512}[name.split("_")[0]]


def _mean_activations(model: keras.Model, preprocessed: tf.Tensor, size_bucket: int,
                      layer_names: Iterable[str]) -> dict[str, tf.Tensor]:
    """{layer: mean activation over the picture, float32} of `model` (a chain of VGG19 layers) on `preprocessed`,
    run layer by layer as FeatureExtractor.reduce runs (padded and masked with `size_bucket`)."""
    inputs, valid = _pad_to_bucket(preprocessed, size_bucket)
    means, pools, wanted = {}, 0, set(layer_names)
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        inputs, pools, size = _run_layer(layer, inputs, valid, pools)
        if layer.name in wanted:
            means[layer.name] = tf.reduce_mean(picture_float32(inputs, size))
            if len(means) == len(wanted):
                break
    return means


def _pad_to_bucket(preprocessed: tf.Tensor, size_bucket: int) -> tuple[tf.Tensor, tf.Tensor | None]:
    """`preprocessed` zero-padded at the bottom and right up to a multiple of `size_bucket` per side, and the
    picture's [H, W] ([2] int32) in it; unchanged and None without a bucket. Zeros after preprocessing are what
    the first convolution's own 'same' padding adds."""
    if not size_bucket:
        return preprocessed, None
    valid = tf.shape(preprocessed)[1:3]
    padded = -(-valid // size_bucket) * size_bucket
    return tf.pad(preprocessed, [[0, 0], [0, padded[0] - valid[0]], [0, padded[1] - valid[1]], [0, 0]]), valid


def _run_layer(layer: keras.layers.Layer, inputs: tf.Tensor, valid: tf.Tensor | None,
               pools: int) -> tuple[tf.Tensor, int, tf.Tensor | None]:
    """`layer` on `inputs`, after `pools` 2x2 pools. With `valid` (the picture's [H, W] in a padded input) the
    output is zeroed outside the picture's part of it. Returns (output, pools so far, that part's [h, w] or None)."""
    outputs = layer(inputs)
    if _is_pool(layer):
        pools += 1
    if valid is None:
        return outputs, pools, None
    size = valid // 2 ** pools
    return outputs * _inside(size, tf.shape(outputs)[1:3], outputs.dtype), pools, size


def _is_pool(layer: keras.layers.Layer) -> bool:
    """Whether `layer` is one of VGG19's 2x2 pools (max, or average with pooling 'avg')."""
    return isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D))


def _inside(size: tf.Tensor, shape: tf.Tensor, dtype) -> tf.Tensor:
    """[1, h, w, 1]: 1 in the top-left `size` ([2] int32) of a `shape` ([h, w]) feature map, 0 elsewhere."""
    rows = tf.range(shape[0]) < size[0]
    columns = tf.range(shape[1]) < size[1]
    return tf.cast(rows[:, None] & columns[None, :], dtype)[None, :, :, None]


def picture_float32(activation: tf.Tensor, size: tf.Tensor | None) -> tf.Tensor:
    """A reducer's activation as float32, cropped to the picture's top-left [h, w] = `size` when padded."""
    picture = activation if size is None else activation[:, : size[0], : size[1], :]
    return tf.cast(picture, tf.float32)


def _preprocess(image: tf.Tensor) -> tf.Tensor:
    # VGG19 and VGG16 were trained on Caffe-style inputs: BGR, 0-255, ImageNet mean subtracted.
    return keras.applications.vgg19.preprocess_input(image * 255.0)
