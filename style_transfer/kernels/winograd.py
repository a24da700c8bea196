"""VGG19's 3x3 convolutions by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray, CVPR 2016).

A 3x3 'same' convolution producing a 4x4 tile of outputs from a 6x6 tile of inputs takes 16 * 9 = 144
multiplications per pair of channels directly, and 36 this way: the input tile and the kernel are taken to the
values of polynomials at the points 0, 1, -1, 2, -2 and infinity (V = B^T d B, U = G g G^T), multiplied
elementwise there, summed over input channels (36 matrix products, where the time goes), and taken back
(Y = A^T M A). The result is the same convolution to float rounding (about 1e-5 relative in float32); the
transforms' large coefficients make it too inexact for bfloat16, which keeps direct convolutions.

The transforms are compiled by XLA (`jit_compile`); it compiles them once per picture size. The backward pass
to the input is the adjoint of the same maps (A dY A^T, the products with the kernel tiles transposed, then
B dV B^T added where input tiles overlap), so it reads the forward's kernel tiles and keeps no second set, and no
weight gradient is ever computed: VGG19 is frozen. It beats TensorFlow's own convolution where the channels
are many and the picture small; with few channels at full resolution, moving the 2.25x larger tiles through
memory costs more than the multiplications saved, hence WINOGRAD_MIN_CHANNELS.

The layers with fewer channels keep TensorFlow's forward convolution, but their input gradient is computed
as a forward convolution with the transposed kernel (`DirectConv2D`), which is faster than TensorFlow's
Conv2DBackpropInput.
"""

from __future__ import annotations

import hashlib

import keras
import numpy as np
import tensorflow as tf

from style_transfer.kernels import devices

# Interpolation points 0, 1, -1, 2, -2, infinity.
_B_T = np.array([[4, 0, -5, 0, 1, 0],
                 [0, -4, -4, 1, 1, 0],
                 [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0],
                 [0, 2, -1, -2, 1, 0],
                 [0, 4, 0, -5, 0, 1]], np.float64)
_G = np.array([[1 / 4, 0, 0],
               [-1 / 6, -1 / 6, -1 / 6],
               [-1 / 6, 1 / 6, -1 / 6],
               [1 / 24, 1 / 12, 1 / 6],
               [1 / 24, -1 / 12, 1 / 6],
               [0, 0, 1]], np.float64)
_A_T = np.array([[1, 1, 1, 1, 1, 0],
                 [0, 1, -1, 2, -2, 0],
                 [0, 1, 1, 4, 4, 0],
                 [0, 1, -1, 8, -8, 1]], np.float64)
TILE = 4  # outputs per tile side; tiles of TILE + 2 inputs overlap by 2
# Layers with fewer input channels stay direct: VGG19's block1 (3 and 64 channels at full resolution).
WINOGRAD_MIN_CHANNELS = 128
# A direct layer with fewer input channels keeps TensorFlow's own gradient: for block1_conv1 (3 channels) it is
# faster than a forward convolution of 64 channels into 3.
TRANSPOSED_GRADIENT_MIN_CHANNELS = 64


def kernel_tiles(kernel: np.ndarray) -> np.ndarray:
    """[3, 3, C, K] kernel -> [36, C, K] float32: G g G^T per channel pair, row-major over the 6x6 tile."""
    kernel = np.asarray(kernel, np.float64)
    tiles = np.einsum("ia,abck,jb->ijck", _G, kernel, _G)
    return tiles.reshape(36, kernel.shape[2], kernel.shape[3]).astype(np.float32)


def transposed_kernel(kernel: np.ndarray) -> np.ndarray:
    """The kernel whose 'same' convolution is the gradient of `kernel`'s with respect to its input: rotated
    by 180 degrees, input and output channels swapped ([3, 3, C, K] -> [3, 3, K, C])."""
    return np.transpose(np.asarray(kernel)[::-1, ::-1], (0, 1, 3, 2))


def _combine(coefficients: np.ndarray, terms: list[tf.Tensor]) -> tf.Tensor:
    """sum_i coefficients[i] * terms[i], skipping zeros and multiplying only where needed."""
    total = None
    for coefficient, term in zip(coefficients, terms):
        if coefficient == 0:
            continue
        part = term if coefficient == 1 else -term if coefficient == -1 else term * float(coefficient)
        total = part if total is None else total + part
    return total


# Each transform is two XLA functions, one per axis of the tile, so the six partial sums of the first axis are
# written once: fused into one function, XLA recomputes them for each of the 36 outputs.
@tf.function(jit_compile=True)
def _input_rows(slab: tf.Tensor) -> tf.Tensor:
    """[1, 4 * rows + 2, W, C] input rows, the 'same' padding's rows included -> [6, rows, 4 * columns + 2, C]:
    B^T d along the rows of every tile (the 'same' padding's columns added here)."""
    slab = slab[0]
    rows, width = (tf.shape(slab)[0] - 2) // TILE, tf.shape(slab)[1]
    columns = (width + TILE - 1) // TILE
    padded = tf.pad(slab, [[0, 0], [1, TILE * columns + 1 - width], [0, 0]])
    row_slices = [padded[a: a + TILE * rows: TILE] for a in range(6)]  # [rows, W + 2, C] each
    return tf.stack([_combine(_B_T[i], row_slices) for i in range(6)])


@tf.function(jit_compile=True)
def _input_columns(mixed: tf.Tensor) -> tf.Tensor:
    """_input_rows' [6, rows, 4 * columns + 2, C] -> [36, T, C]: B^T d B of every tile, T tiles row-major."""
    rows, columns, channels = tf.shape(mixed)[1], (tf.shape(mixed)[2] - 2) // TILE, tf.shape(mixed)[3]
    column_slices = [mixed[:, :, b: b + TILE * columns: TILE] for b in range(6)]  # [6, rows, columns, C] each
    tiles = tf.stack([_combine(_B_T[j], column_slices) for j in range(6)], axis=1)  # [6, 6, rows, columns, C]
    return tf.reshape(tiles, [36, rows * columns, channels])


def _input_tiles(slab: tf.Tensor) -> tf.Tensor:
    """[1, 4 * rows + 2, W, C] padded input rows -> [36, T, C]: B^T d B of every 6x6 input tile."""
    return _input_columns(_input_rows(slab))


@tf.function(jit_compile=True)
def _output_rows(products: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """[36, T, K] products -> [4, 6, rows, columns, K] (size = [H, W]): A^T M along the tiles' rows."""
    rows, columns = (size[0] + TILE - 1) // TILE, (size[1] + TILE - 1) // TILE
    grid = tf.reshape(products, [6, 6, rows, columns, tf.shape(products)[2]])
    return tf.stack([_combine(_A_T[p], [grid[i] for i in range(6)]) for p in range(TILE)])


@tf.function(jit_compile=True)
def _output_columns(half: tf.Tensor, size: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """_output_rows' [4, 6, rows, columns, K] -> [1, H, W, K]: relu(A^T M A + bias) per tile."""
    rows, columns, channels = tf.shape(half)[2], tf.shape(half)[3], tf.shape(half)[4]
    out = tf.stack([_combine(_A_T[q], [half[:, j] for j in range(6)]) for q in range(TILE)], axis=3)
    out = tf.transpose(out, [1, 0, 2, 3, 4])  # [rows, TILE, columns, TILE, K]
    out = tf.reshape(out, [TILE * rows, TILE * columns, channels])[: size[0], : size[1]] + bias
    return tf.nn.relu(out)[None]


def _output_tiles(products: tf.Tensor, size: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """[36, T, K] products -> [1, H, W, K] (size = [H, W]): relu(A^T M A + bias) per tile."""
    return _output_columns(_output_rows(products, size), size, bias)


# The backward pass is the adjoint of the forward's linear maps, in reverse order, so it needs only the forward
# kernel tiles: dM = A dY A^T on the output tiles (which do not overlap), dV = dM U^T summed over output channels
# (36 matrix products again), and dd = B dV B^T, added where the 6x6 input tiles overlap.
@tf.function(jit_compile=True)
def _adjoint_output_rows(dy: tf.Tensor, keep: tf.Tensor) -> tf.Tensor:
    """[1, H, W, K] gradient of the output -> [6, rows, columns, 4, K]: A dY along the rows of every 4x4 tile,
    of dy where `keep` holds (where the layer's output is positive: the ReLU's gradient)."""
    dy = tf.where(keep, dy, tf.zeros_like(dy))[0]
    height, width, channels = tf.shape(dy)[0], tf.shape(dy)[1], tf.shape(dy)[2]
    rows, columns = (height + TILE - 1) // TILE, (width + TILE - 1) // TILE
    padded = tf.pad(dy, [[0, TILE * rows - height], [0, TILE * columns - width], [0, 0]])
    grid = tf.reshape(padded, [rows, TILE, columns, TILE, channels])
    return tf.stack([_combine(_A_T[:, i], [grid[:, p] for p in range(TILE)]) for i in range(6)])


@tf.function(jit_compile=True)
def _adjoint_output_columns(half: tf.Tensor) -> tf.Tensor:
    """_adjoint_output_rows' [6, rows, columns, 4, K] -> [36, T, K]: A dY A^T of every tile, laid out as the
    forward's products (row-major over the 6x6 tile, T tiles row-major)."""
    rows, columns, channels = tf.shape(half)[1], tf.shape(half)[2], tf.shape(half)[4]
    tiles = tf.stack([_combine(_A_T[:, j], [half[:, :, :, q] for q in range(TILE)]) for j in range(6)], axis=1)
    return tf.reshape(tiles, [36, rows * columns, channels])


def _overlap_add(parts: list[tf.Tensor], axis: int) -> tf.Tensor:
    """The six [..., n, ...] contributions of a tile side's input positions 0..5 (n tiles along `axis`) ->
    [..., 4 * (n + 1), ...]: tile t's position a lands at 4 t + a, so positions 4 and 5 of one tile add to 0 and
    1 of the next."""
    pad_end = [[0, 0]] * parts[0].shape.rank
    pad_end[axis] = [0, 1]
    pad_front = [[0, 0]] * parts[0].shape.rank
    pad_front[axis] = [1, 0]
    lanes = [tf.pad(parts[a], pad_end) + (tf.pad(parts[a + TILE], pad_front) if a + TILE < 6 else 0)
             for a in range(TILE)]
    stacked = tf.stack(lanes, axis=axis + 1)  # [..., n + 1, 4, ...]
    shape = tf.shape(stacked)
    return tf.reshape(stacked, tf.concat([shape[:axis], [TILE * shape[axis]], shape[axis + 2:]], 0))


@tf.function(jit_compile=True)
def _adjoint_input_columns(gradient: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """[36, T, C] gradient of the input tiles -> [6, rows, W, C] (size = [H, W]): dV B^T along the tiles'
    columns, overlapping tiles added, the 'same' padding's columns dropped."""
    rows, columns = (size[0] + TILE - 1) // TILE, (size[1] + TILE - 1) // TILE
    grid = tf.reshape(gradient, [6, 6, rows, columns, tf.shape(gradient)[2]])
    parts = [_combine(_B_T[:, b], [grid[:, j] for j in range(6)]) for b in range(6)]  # [6, rows, columns, C]
    return _overlap_add(parts, axis=2)[:, :, 1: 1 + size[1]]


@tf.function(jit_compile=True)
def _adjoint_input_rows(half: tf.Tensor) -> tf.Tensor:
    """_adjoint_input_columns' [6, rows, W, C] -> [4 * rows + 2, W, C]: B dV B^T on the tiles' input rows, the
    'same' padding's rows included, overlapping tiles added."""
    parts = [_combine(_B_T[:, a], [half[i] for i in range(6)]) for a in range(6)]  # [rows, W, C] each
    return _overlap_add(parts, axis=0)[: TILE * tf.shape(half)[1] + 2]


@tf.function(jit_compile=True)
def _compiled_products(tiles: tf.Tensor, kernel: tf.Tensor, transpose_b: bool) -> tf.Tensor:
    return tf.matmul(tiles, kernel, transpose_b=transpose_b)


def _products(tiles: tf.Tensor, kernel: tf.Tensor, transpose_b: bool = False) -> tf.Tensor:
    """The 36 matrix products of a band ([36, T, C] tiles by [36, C, K] kernel tiles, or their transposes):
    TensorFlow's BatchMatMul where oneDNN computes it, else XLA's: on the Winograd layers' shapes XLA's beats
    Eigen's kernels (oneDNN off, as on AVX2-only CPUs), and oneDNN's beats XLA's."""
    if devices.onednn_enabled():
        return tf.matmul(tiles, kernel, transpose_b=transpose_b)
    return _compiled_products(tiles, kernel, transpose_b)


# The layer runs on bands of tile rows, one after the other: each band's transforms, products and inverse
# transforms before the next band's, so a layer's tiles (2.25x its input, and as much again for the products)
# are never all alive at once, which lowers the peak memory. Bands this large cost no time against the whole
# layer; smaller ones do, as the products' matrices get too short.
# A band's tiles hold at most about this many bytes:
BAND_BYTES = 2 ** 24


def _bands(size: tf.Tensor, channels: int) -> tuple[tf.Tensor, tf.Tensor]:
    """(bands, tile rows per band) for a [H, W] = `size` output: equal bands whose [36, T, channels] float32
    tiles hold at most about BAND_BYTES, the last padded with zero rows (no more than a tile row per band)."""
    tile_rows, columns = (size[0] + TILE - 1) // TILE, (size[1] + TILE - 1) // TILE
    most = tf.maximum(BAND_BYTES // (36 * 4 * channels) // columns, 1)  # a Python int first: no int32 overflow
    bands = (tile_rows + most - 1) // most
    return bands, (tile_rows + bands - 1) // bands


def _conv3x3_relu_forward(x, forward, bias):
    """The layer's output, band by band; also (bands, [rows, W] of a band's output), which the backward pass
    walks in the same way."""
    size = tf.shape(x)[1:3]
    bands, tile_rows = _bands(size, max(forward.shape[1], forward.shape[2]))  # [36, C, K] tiles
    band_size = tf.stack([tile_rows * TILE, size[1]])
    height = bands * band_size[0]  # output rows, padded to whole bands
    padded = tf.pad(x, [[0, 0], [1, height + 1 - size[0]], [0, 0], [0, 0]])  # the 'same' padding's rows too

    def band(index, pieces):
        start = index * band_size[0]
        products = _products(_input_tiles(padded[:, start: start + band_size[0] + 2]), forward)
        return index + 1, pieces.write(index, _output_tiles(products, band_size, bias)[0])

    # One band at a time (parallel_iterations=1): bands run side by side would be held side by side.
    _, pieces = tf.while_loop(lambda index, _: index < bands, band,
                              [tf.constant(0), tf.TensorArray(x.dtype, size=bands, infer_shape=False)],
                              parallel_iterations=1)
    y = pieces.concat()[None, : size[0]]
    y.set_shape([1, x.shape[1], x.shape[2], forward.shape[2]])
    return y, bands, band_size


@tf.custom_gradient
def _conv3x3_relu(x, forward, bias):
    y, bands, band_size = _conv3x3_relu_forward(x, forward, bias)
    size = tf.shape(x)[1:3]
    # The backward pass keeps only where the output is positive (a byte per value, not four), so the output
    # itself is freed once the next layer has read it, unless that layer's gradient needs it (a Gram matrix).
    positive = y > 0

    def gradient(dy):
        # Through the ReLU (dy where y > 0), then the adjoint of each linear map of the forward pass, band by
        # band. A band's input rows overlap the next band's by two (the tiles' overlap): those two rows are
        # carried to the next band and added there.
        rows = band_size[0]
        extra = [[0, 0], [0, bands * rows - size[0]], [0, 0], [0, 0]]
        dy, keep = tf.pad(dy, extra), tf.pad(positive, extra)

        def band(index, pieces, carried):
            start = index * rows
            half = _adjoint_output_rows(dy[:, start: start + rows], keep[:, start: start + rows])
            tiles = _products(_adjoint_output_columns(half), forward, transpose_b=True)  # [36, T, C]
            part = _adjoint_input_rows(_adjoint_input_columns(tiles, band_size))  # rows + 2 input rows
            part = tf.concat([part[:2] + carried, part[2:]], 0)
            return index + 1, pieces.write(index, part[:rows]), tf.ensure_shape(part[rows:], carried.shape)

        _, pieces, carried = tf.while_loop(
            lambda index, *_: index < bands, band,
            [tf.constant(0), tf.TensorArray(dy.dtype, size=bands, infer_shape=False),
             tf.zeros(tf.concat([[2], tf.shape(x)[2:]], 0), dy.dtype)], parallel_iterations=1)
        # Padded rows: the 'same' padding's first row, the picture's, then the bands' padding.
        dx = tf.concat([pieces.concat(), carried], 0)[None, 1: 1 + size[0]]
        dx.set_shape(x.shape)
        return dx, None, None

    return y, gradient


def conv3x3_relu(x: tf.Tensor, forward: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """relu(conv2d(x, kernel, 'SAME') + bias) for [1, H, W, C] float32 x, with forward = kernel_tiles(kernel).
    Differentiable with respect to x only."""
    return _conv3x3_relu(x, forward, bias)


@tf.custom_gradient
def _direct_conv3x3_relu(x, kernel, backward, bias):
    y = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME") + bias)
    positive = y > 0  # kept instead of y, as in _conv3x3_relu

    def gradient(dy):
        return tf.nn.conv2d(tf.where(positive, dy, tf.zeros_like(dy)), backward, 1, "SAME"), None, None, None

    return y, gradient


class DirectConv2D(keras.layers.Layer):
    """A frozen VGG19 Conv2D (3x3, 'same', ReLU) computed by TensorFlow's convolution, whose input gradient is
    a forward convolution with transposed_kernel (float32, the same convolution to float rounding)."""

    def __init__(self, conv: keras.layers.Conv2D):
        super().__init__(name=conv.name, dtype="float32", trainable=False)
        kernel, bias = conv.get_weights()
        _check_3x3_same(conv, kernel)
        self.filters = conv.filters
        self.kernel_values = tf.Variable(kernel, trainable=False, name="kernel")
        self.backward = tf.Variable(transposed_kernel(kernel).copy(), trainable=False, name="backward_kernel")
        self.bias_values = tf.constant(bias, tf.float32)

    def call(self, inputs):
        return _direct_conv3x3_relu(inputs, self.kernel_values, self.backward, self.bias_values)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)


def _check_3x3_same(conv: keras.layers.Conv2D, kernel: np.ndarray) -> None:
    if kernel.shape[:2] != (3, 3) or conv.padding != "same" or conv.strides != (1, 1):
        raise ValueError(f"{conv.name}: needs a 3x3 'same' convolution of stride 1")


# Transformed kernels by the kernel's bytes, shared by every layer built from the same weights. A
# tf.custom_gradient traced inside a tf.function registers its gradient in TensorFlow's global registry for the
# life of the process, and with it the graph and the variables it reads; without sharing, every extractor
# built (a stylize call without one, a test) kept its tiles for good.
_TILES: dict[bytes, tf.Variable] = {}


def _shared_tiles(kernel: np.ndarray) -> tf.Variable:
    """The transformed kernel of `kernel` ([3, 3, C, K] float32), made once per kernel."""
    key = hashlib.blake2b(np.ascontiguousarray(kernel, np.float32).tobytes(), digest_size=16).digest()
    key += repr(kernel.shape).encode()
    if key not in _TILES:
        _TILES[key] = tf.Variable(kernel_tiles(kernel), trainable=False, name="kernel_tiles")
    return _TILES[key]


class WinogradConv2D(keras.layers.Layer):
    """A frozen VGG19 Conv2D (3x3, 'same', ReLU) computed by Winograd F(4x4, 3x3), float32, batch 1.

    Holds the transformed kernel (a non-trainable variable), 4x the kernel (36 / 9 values per channel pair),
    which the backward pass reads too: computing it in every step instead costs more time than the memory is
    worth."""

    def __init__(self, conv: keras.layers.Conv2D):
        super().__init__(name=conv.name, dtype="float32", trainable=False)
        kernel, bias = conv.get_weights()
        _check_3x3_same(conv, kernel)
        self.filters = conv.filters
        self.forward = _shared_tiles(kernel)
        self.bias_values = tf.constant(bias, tf.float32)

    def call(self, inputs):
        return conv3x3_relu(inputs, self.forward, self.bias_values)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)
