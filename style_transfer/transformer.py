"""The image-transformation network of fast style transfer: [B, H, W, 3] RGB in [0, 1] -> the same, stylised.

Johnson et al. 2016 ("Perceptual Losses for Real-Time Style Transfer"), with the two changes later work
settled on: instance normalisation (Ulyanov et al. 2016) instead of batch normalisation, which stylises each
picture independently of the rest of its batch, and upsampling by nearest-neighbour resize then convolution
(Odena et al. 2016, "Deconvolution and Checkerboard Artifacts") instead of transposed convolutions.
Convolutions pad by reflection, so the borders carry no dark frame.

    9x9 conv (f) -> 3x3 stride-2 conv (2f) -> 3x3 stride-2 conv (4f) -> residual blocks (4f)
      -> resize x2 + 3x3 conv (2f) -> resize x2 + 3x3 conv (f) -> 9x9 conv (3), sigmoid

Any input of at least 5 pixels a side works (the first 9x9 convolution mirrors 4 at each border): the model
pads the picture by reflection to a multiple of 4 (the two stride-2 convolutions) and crops the result back,
so output and input always have the same size.
"""

from __future__ import annotations

import keras
from keras import ops

DOWNSAMPLING = 4  # two stride-2 convolutions


def _known_channels(padded, inputs):
    # Padding by computed amounts loses the static channel count in the graph, and TFLite's convolutions
    # need it; a reshape to the same shape carries it through any later shape inference.
    shape = ops.shape(padded)
    return ops.reshape(padded, (shape[0], shape[1], shape[2], inputs.shape[-1]))


@keras.saving.register_keras_serializable(package="style_transfer")
class ReflectionPadding(keras.layers.Layer):
    """Pads height and width by `padding` pixels on every side, mirroring the picture (no repeated edge)."""

    def __init__(self, padding: int, **kwargs):
        super().__init__(**kwargs)
        self.padding = padding

    def call(self, inputs):
        p = self.padding
        return _known_channels(ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect"), inputs)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        grow = lambda size: None if size is None else size + 2 * self.padding  # noqa: E731
        return batch, grow(height), grow(width), channels

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package="style_transfer")
class PadToMultiple(keras.layers.Layer):
    """Pads the bottom and right edges by reflection up to the next multiple of `multiple` (at most
    multiple - 1 pixels)."""

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        self.multiple = multiple

    def call(self, inputs):
        shape = ops.shape(inputs)
        pad_height = (-shape[1]) % self.multiple
        pad_width = (-shape[2]) % self.multiple
        padded = ops.pad(inputs, [[0, 0], [0, pad_height], [0, pad_width], [0, 0]], mode="reflect")
        return _known_channels(padded, inputs)

    def compute_output_shape(self, input_shape):
        return input_shape[0], None, None, input_shape[3]

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="style_transfer")
class CropLike(keras.layers.Layer):
    """[outputs, reference] -> outputs cropped to reference's height and width (top-left corner)."""

    def call(self, inputs):
        outputs, reference = inputs
        shape = ops.shape(reference)
        return outputs[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, input_shapes):
        outputs, reference = input_shapes
        return outputs[0], reference[1], reference[2], outputs[3]


@keras.saving.register_keras_serializable(package="style_transfer")
class InstanceNormalization(keras.layers.Layer):
    """Normalises each picture's channels over its height and width, then a learned scale and offset.

    The same mathematics as keras.layers.GroupNormalization(groups=-1), whose reshape into groups made the
    whole network 1.5x slower on CPU (2.9 s against 1.9 s for a 1024x768 picture, measured).
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        channels = input_shape[-1]
        self.scale = self.add_weight(shape=(channels,), initializer="ones", name="scale")
        self.offset = self.add_weight(shape=(channels,), initializer="zeros", name="offset")

    def call(self, inputs):
        centred = inputs - ops.mean(inputs, axis=[1, 2], keepdims=True)
        variance = ops.mean(ops.square(centred), axis=[1, 2], keepdims=True)
        return centred * ops.rsqrt(variance + self.epsilon) * self.scale + self.offset

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def _conv(x, filters: int, kernel: int, name: str, *, strides: int = 1, norm: bool = True, relu: bool = True):
    x = ReflectionPadding(kernel // 2, name=f"{name}_pad")(x)
    # With instance normalisation after it a bias would be subtracted again at once.
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="valid", use_bias=not norm,
                            kernel_initializer="he_normal", name=f"{name}_conv")(x)
    if norm:
        x = InstanceNormalization(name=f"{name}_norm")(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def _residual(x, filters: int, name: str):
    y = _conv(x, filters, 3, f"{name}_a")
    y = _conv(y, filters, 3, f"{name}_b", relu=False)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def _upsample(x, filters: int, name: str):
    x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_resize")(x)
    return _conv(x, filters, 3, name)


def transformer_network(filters: int = 32, residual_blocks: int = 5, name: str = "style_network") -> keras.Model:
    """The transformation network: float32 [B, H, W, 3] in [0, 1] -> float32 [B, H, W, 3] in (0, 1).

    `filters` is the width of the first and last blocks (Johnson et al.: 32; the middle runs at 4x);
    compute grows with its square. Weights are He-normal from Keras' global seed (keras.utils.set_random_seed).
    """
    if filters < 1 or residual_blocks < 0:
        raise ValueError(f"filters must be >= 1 and residual_blocks >= 0, got {filters}, {residual_blocks}")
    images = keras.Input(shape=(None, None, 3), name="images")
    x = PadToMultiple(DOWNSAMPLING, name="pad_to_multiple")(images)
    x = _conv(x, filters, 9, "in")
    x = _conv(x, 2 * filters, 3, "down1", strides=2)
    x = _conv(x, 4 * filters, 3, "down2", strides=2)
    for index in range(residual_blocks):
        x = _residual(x, 4 * filters, f"res{index + 1}")
    x = _upsample(x, 2 * filters, "up1")
    x = _upsample(x, filters, "up2")
    x = _conv(x, 3, 9, "out", norm=False, relu=False)
    x = keras.layers.Activation("sigmoid", name="to_unit_range")(x)
    stylised = CropLike(name="crop")([x, images])
    return keras.Model(images, stylised, name=name)
