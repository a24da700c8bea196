"""The Keras feature model: a frozen VGG's layers up to the deepest one used, output {layer_name: activation},
rebuilt where it must be with average pools, bfloat16 layers or the fast CPU kernels (kernels/)."""

from __future__ import annotations

from typing import Iterable

import keras

from style_transfer.core.config import network_layers
from style_transfer.core.vgg import network_of
from style_transfer.kernels.pooling import FusedMaxPooling2D
from style_transfer.kernels.winograd import TRANSPOSED_GRADIENT_MIN_CHANNELS, DirectConv2D, WinogradConv2D


def feature_model(vgg: keras.Model, layer_names: Iterable[str], pooling: str, dtype: str,
                  winograd: Iterable[str] = ()) -> keras.Model:
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
