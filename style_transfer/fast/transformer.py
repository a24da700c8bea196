"""The image-transformation network of fast style transfer: [B, H, W, 3] RGB in [0, 1] and [B, S] style
weights -> [B, H, W, 3], stylised.

Johnson et al. 2016 ("Perceptual Losses for Real-Time Style Transfer"), with the two changes later work
settled on: instance normalisation (Ulyanov et al. 2016) instead of batch normalisation, which stylises each
picture independently of the rest of its batch, and upsampling by nearest-neighbour resize then convolution
(Odena et al. 2016, "Deconvolution and Checkerboard Artifacts") instead of transposed convolutions.
Convolutions pad by reflection, so the borders carry no dark frame.

    9x9 conv (f) -> 3x3 stride-2 conv (2f) -> 3x3 stride-2 conv (4f) -> residual blocks (4f)
      -> resize x2 + 3x3 conv (2f) -> resize x2 + 3x3 conv (f) -> 9x9 conv (3), sigmoid

One network paints S styles (Dumoulin, Shlens and Kudlur 2017, "A Learned Representation for Artistic
Style"): every instance normalisation has one scale and offset per style, and the rest of the network is
shared. The second input, `style_weights` [B, S], mixes those scales and offsets: a one-hot row paints one
style, and a convex combination blends styles. A one-style network is the case S = 1 (weights [[1.0]]).

Any input of at least 5 pixels a side works (the first 9x9 convolution mirrors 4 at each border): the model
pads the picture by reflection to a multiple of 4 (the two stride-2 convolutions) and crops the result back,
so output and input always have the same size.
"""

from __future__ import annotations

import keras
import numpy as np
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
class Logit(keras.layers.Layer):
    """Pixels in [0, 1] -> their logits, the inverse of the sigmoid; pixels are first clipped to
    [epsilon, 1 - epsilon], so black and white map to finite values (+-6.2 for the default)."""

    def __init__(self, epsilon: float = 1 / 512, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        clipped = ops.clip(inputs, self.epsilon, 1 - self.epsilon)
        return ops.log(clipped) - ops.log1p(-clipped)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="style_transfer")
class InstanceNormalization(keras.layers.Layer):
    """Conditional instance normalisation: [x, style_weights] -> each picture's channels normalised over its
    height and width, then scaled and offset by its style weights [B, S] times the per-style scales and
    offsets [S, C] (Dumoulin et al. 2017; S = 1 is Ulyanov et al.'s instance normalisation).

    The same mathematics as keras.layers.GroupNormalization(groups=-1), whose reshape into groups makes the
    whole network slower on CPU.
    """

    def __init__(self, styles: int = 1, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.styles = styles
        self.epsilon = epsilon

    def build(self, inputs_shape, style_weights_shape):
        channels = inputs_shape[-1]
        self.scale = self.add_weight(shape=(self.styles, channels), initializer="ones", name="scale")
        self.offset = self.add_weight(shape=(self.styles, channels), initializer="zeros", name="offset")

    def call(self, inputs, style_weights):
        # [B, S] @ [S, C]: each picture's scale and offset, in float32 (the statistics are float32 too).
        style_weights = ops.cast(style_weights, "float32")
        scale = ops.matmul(style_weights, ops.cast(self.scale, "float32"))
        offset = ops.matmul(style_weights, ops.cast(self.offset, "float32"))
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            # One picture (what applying a network mostly is): its instance statistics are its batch
            # statistics, and TensorFlow's fused batch normalisation computes them and normalises in one op,
            # several times faster than the separate operations (see docs/performance.md).
            return tf.cond(tf.shape(inputs)[0] == 1, lambda: self._fused(inputs, scale[0], offset[0]),
                           lambda: self._separate(inputs, scale, offset))
        return self._separate(inputs, scale, offset)

    def _fused(self, inputs, scale, offset):
        import tensorflow as tf

        outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(inputs, scale, offset, epsilon=self.epsilon,
                                                         is_training=True)
        return outputs

    def _separate(self, inputs, scale, offset):
        # Statistics in the compute dtype: TensorFlow's reductions accumulate bfloat16 in float32, so they stay
        # exact to bfloat16's precision, and a cast to float32 first would make them much slower. The
        # normalisation is then one multiply-add per element.
        mean = ops.mean(inputs, axis=[1, 2], keepdims=True)
        variance = ops.cast(ops.mean(ops.square(inputs - mean), axis=[1, 2], keepdims=True), "float32")
        scale = ops.rsqrt(variance + self.epsilon) * scale[:, None, None, :]
        shift = offset[:, None, None, :] - ops.cast(mean, "float32") * scale
        return inputs * ops.cast(scale, inputs.dtype) + ops.cast(shift, inputs.dtype)

    def compute_output_shape(self, inputs_shape, style_weights_shape):
        return inputs_shape

    def get_config(self):
        return {**super().get_config(), "styles": self.styles, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="style_transfer")
class BlockedConv2D(keras.layers.Layer):
    """A stride-1 "valid" convolution with an odd k x k kernel, computed on 2x2 blocks of pixels: exactly
    keras.layers.Conv2D(filters, k, padding="valid") with a bias, for inputs of even height and width.

    CPU convolution libraries (oneDNN) run a convolution with few output channels, such as the final 9x9
    convolution to 3 colours, far below their peak; blocked, it has four times the output channels.
    space_to_depth folds each 2x2 block into the channels (C -> 4C), a ((k + 1) / 2)^2 convolution makes
    4 * filters outputs, one per pixel of the block, and depth_to_space unfolds them; the blocked kernel is
    gathered from the k x k kernel on each call, so the trained weight keeps Conv2D's shape and meaning.
    """

    def __init__(self, filters: int, kernel_size: int, kernel_initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        channels, k, filters = input_shape[-1], self.kernel_size, self.filters
        self.kernel = self.add_weight(shape=(k, k, channels, filters), initializer=self.kernel_initializer,
                                      name="kernel")
        self.bias = self.add_weight(shape=(filters,), initializer="zeros", name="bias")
        # blocked[bi, bj, (r * 2 + s) * C + c, (a * 2 + b) * F + f] = kernel[2 bi + r - a, 2 bj + s - b, c, f],
        # or 0 where that tap falls outside the kernel (index k * k * C * F: a zero appended to the kernel).
        size = (k + 1) // 2
        bi, bj, r, s, c, a, b, f = np.ogrid[:size, :size, :2, :2, :channels, :2, :2, :filters]
        dy, dx = 2 * bi + r - a, 2 * bj + s - b
        flat = ((dy * k + dx) * channels + c) * filters + f
        inside = (dy >= 0) & (dy < k) & (dx >= 0) & (dx < k)
        index = np.where(inside, flat, k * k * channels * filters)
        self._index = index.reshape(size, size, 4 * channels, 4 * filters).astype("int32")

    def call(self, inputs):
        kernel = ops.cast(self.kernel, inputs.dtype)
        flat = ops.concatenate([ops.reshape(kernel, (-1,)), ops.zeros((1,), inputs.dtype)])
        blocked = ops.take(flat, self._index)
        blocks = ops.conv(_space_to_depth(inputs), blocked, padding="valid")
        return _depth_to_space(blocks, self.filters) + ops.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        shrink = lambda size: None if size is None else size - self.kernel_size + 1  # noqa: E731
        return input_shape[0], shrink(input_shape[1]), shrink(input_shape[2]), self.filters

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


@keras.saving.register_keras_serializable(package="style_transfer")
class ResizeConv2D(keras.layers.Layer):
    """Nearest-neighbour upsampling x2, reflection padding by 1 and a 3x3 "valid" convolution without bias,
    computed without making the upsampled picture: exactly UpSampling2D(2) -> ReflectionPadding(1) ->
    Conv2D(filters, 3, use_bias=False).

    Of the 3x3 taps of an upsampled pixel, the ones that fall on the same input pixel add up, so each of the
    four pixels of an output 2x2 block is a 2x2 convolution of the input (edge-padded by 1, which is what
    reflecting the upsampled picture amounts to). One 2x2 convolution makes all four, as 4 * filters
    channels, which are then interleaved: 4/9 of the multiplications, and none of the upsampled copies.
    """

    # _TAPS[a, t, d]: how much the 3x3 kernel's row d adds to 2x2 tap t of the output row of parity a
    # (a = 0: input rows i - 1, i; a = 1: input rows i, i + 1). The same for columns.
    _TAPS = np.array([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]], "float32")

    def __init__(self, filters: int, kernel_initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(3, 3, input_shape[-1], self.filters),
                                      initializer=self.kernel_initializer, name="kernel")

    def call(self, inputs):
        kernel = ops.cast(self.kernel, inputs.dtype)
        taps = ops.cast(self._TAPS, inputs.dtype)
        channels, filters = kernel.shape[2], self.filters
        # [2 rows, 2 columns, C, (a, b, F)]: the 2x2 kernel of each output parity (a, b).
        paired = ops.einsum("aiy,bjx,yxcf->ijcabf", taps, taps, kernel)
        paired = ops.reshape(paired, (2, 2, channels, 4 * filters))
        padded = _known_channels(ops.pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="symmetric"), inputs)
        outputs = ops.conv(padded, paired, padding="valid")  # [B, h + 1, w + 1, 4F]
        shape = ops.shape(inputs)
        height, width = shape[1], shape[2]

        def parity(a, b):
            start = (2 * a + b) * filters
            return outputs[:, a: a + height, b: b + width, start: start + filters]

        rows = [ops.stack([parity(a, 0), parity(a, 1)], axis=3) for a in (0, 1)]  # [B, h, w, 2 (b), F]
        blocks = ops.stack(rows, axis=2)  # [B, h, 2 (a), w, 2 (b), F]
        return ops.reshape(blocks, (shape[0], 2 * height, 2 * width, filters))

    def compute_output_shape(self, input_shape):
        double = lambda size: None if size is None else 2 * size  # noqa: E731
        return input_shape[0], double(input_shape[1]), double(input_shape[2]), self.filters

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


def _space_to_depth(x):
    shape = ops.shape(x)
    channels = x.shape[-1]
    x = ops.reshape(x, (shape[0], shape[1] // 2, 2, shape[2] // 2, 2, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (shape[0], shape[1] // 2, shape[2] // 2, 4 * channels))


def _depth_to_space(x, channels: int):
    shape = ops.shape(x)
    x = ops.reshape(x, (shape[0], shape[1], shape[2], 2, 2, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (shape[0], 2 * shape[1], 2 * shape[2], channels))


def _conv(x, style_weights, filters: int, kernel: int, name: str, *, strides: int = 1, norm: bool = True,
          relu: bool = True, kernel_initializer: str = "he_normal"):
    x = ReflectionPadding(kernel // 2, name=f"{name}_pad")(x)
    if strides == 1 and not norm and kernel > 1:  # the output convolution: few filters, so blocked
        x = BlockedConv2D(filters, kernel, kernel_initializer=kernel_initializer, name=f"{name}_conv")(x)
    else:
        # With instance normalisation after it a bias would be subtracted again at once.
        x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="valid", use_bias=not norm,
                                kernel_initializer="he_normal", name=f"{name}_conv")(x)
    if norm:
        x = InstanceNormalization(style_weights.shape[-1], name=f"{name}_norm")(x, style_weights)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def _residual(x, style_weights, filters: int, name: str):
    y = _conv(x, style_weights, filters, 3, f"{name}_a")
    y = _conv(y, style_weights, filters, 3, f"{name}_b", relu=False)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def _upsample(x, style_weights, filters: int, name: str):
    x = ResizeConv2D(filters, name=f"{name}_conv")(x)  # resize x2, pad, 3x3 convolution, in one
    x = InstanceNormalization(style_weights.shape[-1], name=f"{name}_norm")(x, style_weights)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def transformer_network(filters: int = 32, residual_blocks: int = 5, styles: int = 1, *,
                        residual_output: bool = False, name: str = "style_network") -> keras.Model:
    """The transformation network: [images float32 [B, H, W, 3] in [0, 1], style_weights float32 [B, S]]
    -> float32 [B, H, W, 3] in (0, 1).

    `filters` is the width of the first and last blocks (Johnson et al.: 32; the middle runs at 4x);
    compute grows with its square. `styles` is S, how many styles the network paints (see the module's
    docstring). With `residual_output` the last convolution paints a change to the photograph: its output is
    added to the photograph's logits before the sigmoid, and its weights start at zero, so the untrained
    network returns the photograph (as the optimiser starts from it) and training adds the style. Weights are He-normal from Keras' global seed (keras.utils.set_random_seed).
    """
    if filters < 1 or residual_blocks < 0 or styles < 1:
        raise ValueError(f"filters and styles must be >= 1 and residual_blocks >= 0, got {filters}, {styles}, "
                         f"{residual_blocks}")
    images = keras.Input(shape=(None, None, 3), name="images")
    style_weights = keras.Input(shape=(styles,), name="style_weights")
    padded = PadToMultiple(DOWNSAMPLING, name="pad_to_multiple")(images)
    x = _conv(padded, style_weights, filters, 9, "in")
    x = _conv(x, style_weights, 2 * filters, 3, "down1", strides=2)
    x = _conv(x, style_weights, 4 * filters, 3, "down2", strides=2)
    for index in range(residual_blocks):
        x = _residual(x, style_weights, 4 * filters, f"res{index + 1}")
    x = _upsample(x, style_weights, 2 * filters, "up1")
    x = _upsample(x, style_weights, filters, "up2")
    x = _conv(x, style_weights, 3, 9, "out", norm=False, relu=False,
              kernel_initializer="zeros" if residual_output else "he_normal")
    if residual_output:
        x = keras.layers.Add(name="add_photograph")([x, Logit(name="photograph_logits")(padded)])
    x = keras.layers.Activation("sigmoid", name="to_unit_range")(x)
    stylised = CropLike(name="crop")([x, images])
    return keras.Model([images, style_weights], stylised, name=name)


def one_hot(index: int, styles: int, batch: int = 1) -> np.ndarray:
    """Style weights [batch, styles] painting style `index` alone."""
    weights = np.zeros((batch, styles), np.float32)
    weights[:, index] = 1.0
    return weights
