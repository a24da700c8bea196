"""Gradient checkpointing band by band: a chain of VGG's first layers run on horizontal bands of the picture,
forward and again in the backward pass, so that their activations are never held for more than one band."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import keras
import tensorflow as tf

from style_transfer.kernels.buckets import is_pool

# The fewest bands: a band holds all of its layers' activations and their gradients at once, so one band over
# the whole picture costs more memory than recomputing block by block.
MIN_BANDS = 4

Reducer = Callable[[tf.Tensor, tf.Tensor], Any]


def banded_blocks(layers: list[keras.layers.Layer], activation: Callable[[str, tf.Tensor], tf.Tensor],
                  reducers: Mapping[str, Reducer], inputs: tf.Tensor,
                  band_pixels: int) -> tuple[tf.Tensor, dict[str, Any]]:
    """`layers` (a chain of VGG's 3x3 'same' convolutions and 2x2 pools) on `inputs` ([1, H, W, C]), run on
    horizontal bands of at most about `band_pixels` pixels, and at least MIN_BANDS of them: (the last layer's
    output, {layer: the sum over bands of reducers[layer](activation(layer, the band's rows of its output),
    the whole output's [h, w])}).

    Gradient checkpointing band by band: the forward pass keeps nothing but `inputs`, and the backward pass
    runs each band forward again under its own tape and adds its gradient into the input's. So the chain's
    activations (VGG's largest: 64 channels at full resolution) are held one band at a time, never whole.
    Each band reads its rows plus a margin of input rows (one row per convolution at its resolution, rounded
    up to the pools' alignment) and keeps only the rows whose values the margin makes exact; the margin
    starts on a multiple of every pool's stride, so the pools see the whole picture's windows. The result is
    the unbanded one to float rounding (sums taken in another order).
    """
    bands = _Bands.plan(layers, activation, reducers, inputs, band_pixels)
    structure = {}  # the reducers' results' structure, known once the first band has run

    @tf.custom_gradient
    def run(inputs):
        outputs, sums, structure["reduced"] = _forward(bands, inputs)

        def gradient(upstream, *sum_upstreams, variables=None):
            upstream = tf.zeros_like(outputs) if upstream is None else upstream
            sum_upstreams = [tf.zeros_like(total) if part is None else part
                             for total, part in zip(sums, sum_upstreams)]
            total = _backward(bands, inputs, upstream, sum_upstreams)
            return (total, [None] * len(variables)) if variables else total

        return (outputs, *sums), gradient

    outputs, *sums = run(inputs)
    return outputs, tf.nest.pack_sequence_as(structure["reduced"], sums)


@dataclasses.dataclass
class _Bands:
    """How a chain of layers is cut into bands of its input's rows, and one band's pass through it."""

    layers: list[keras.layers.Layer]
    activation: Callable[[str, tf.Tensor], tf.Tensor]
    reducers: Mapping[str, Reducer]
    pools_after: list[int]  # 2x2 pools up to and including each layer
    unit: int  # every band but the last starts and ends on a multiple of this many rows: the pools' stride
    margin: int  # input rows read above and below a band
    height: tf.Tensor
    width: tf.Tensor
    rows: tf.Tensor  # input rows per band
    count: tf.Tensor  # bands

    @classmethod
    def plan(cls, layers, activation, reducers, inputs: tf.Tensor, band_pixels: int) -> "_Bands":
        pools_after, margin, pools = [], 0, 0
        for layer in layers:
            if is_pool(layer):
                pools += 1
            else:
                margin += 2 ** pools  # a 3x3 'same' convolution reads one row either side at its resolution
            pools_after.append(pools)
        unit = 2 ** pools
        margin = -(-margin // unit) * unit
        height, width = tf.shape(inputs)[1], tf.shape(inputs)[2]
        rows = tf.minimum(band_pixels // width, -(-height // MIN_BANDS))
        rows = tf.maximum(-(-rows // unit), 1) * unit
        return cls(list(layers), activation, reducers, pools_after, unit, margin, height, width, rows,
                   (height + rows - 1) // rows)

    def bounds(self, index):
        """A band's rows [start, end) of the input and the rows [top, bottom) it reads."""
        start = index * self.rows
        end = tf.minimum(start + self.rows, self.height)
        return start, end, tf.maximum(start - self.margin, 0), tf.minimum(end + self.margin, self.height)

    def run(self, slab: tf.Tensor, start, end, top) -> tuple[tf.Tensor, dict[str, Any]]:
        """The chain on `slab` (input rows [top, bottom)): the band's rows [start, end) of the last output,
        and {layer: its reducer on the band's rows of that layer's output}."""
        outputs, reduced = slab, {}
        for layer, pools in zip(self.layers, self.pools_after):
            outputs = layer(outputs)
            if layer.name in self.reducers:
                scale = 2 ** pools
                part = rows_of(outputs, (start - top) // scale, (end - top) // scale)
                whole = tf.stack([self.height // scale, self.width // scale])
                reduced[layer.name] = self.reducers[layer.name](self.activation(layer.name, part), whole)
        return rows_of(outputs, (start - top) // self.unit, (end - top) // self.unit), reduced

    def forward(self, inputs: tf.Tensor, index) -> tuple[tf.Tensor, dict[str, Any]]:
        start, end, top, bottom = self.bounds(index)
        return self.run(rows_of(inputs, top, bottom), start, end, top)


def _forward(bands: _Bands, inputs: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor], dict[str, Any]]:
    """Every band in turn: (the last layer's output, the reducers' sums flattened, their structure)."""
    first, reduced = bands.forward(inputs, 0)
    pieces = tf.TensorArray(first.dtype, size=bands.count, infer_shape=False).write(0, first[0])

    def step(index, pieces, sums):
        outputs, reduced = bands.forward(inputs, index)
        return index + 1, pieces.write(index, outputs[0]), [
            total + part for total, part in zip(sums, tf.nest.flatten(reduced))]

    # One band at a time (parallel_iterations=1): bands run side by side would be held side by side.
    _, pieces, sums = tf.while_loop(lambda index, *_: index < bands.count, step,
                                    [tf.constant(1), pieces, tf.nest.flatten(reduced)], parallel_iterations=1)
    outputs = pieces.concat()[None]
    outputs.set_shape([1, None, None, first.shape[-1]])
    return outputs, sums, reduced


def _backward(bands: _Bands, inputs: tf.Tensor, upstream: tf.Tensor, sum_upstreams: list[tf.Tensor]) -> tf.Tensor:
    """The gradient with respect to `inputs`: each band run again under its own tape, its input rows' gradient
    added into the whole input's."""

    def step(index, total):
        start, end, top, bottom = bands.bounds(index)
        slab = rows_of(inputs, top, bottom)
        with tf.GradientTape() as tape:
            tape.watch(slab)
            band_outputs, reduced = bands.run(slab, start, end, top)
        band_upstream = upstream[:, start // bands.unit: start // bands.unit + tf.shape(band_outputs)[1]]
        part = tape.gradient([band_outputs, *tf.nest.flatten(reduced)], slab,
                             output_gradients=[band_upstream, *sum_upstreams])
        return index + 1, total + tf.pad(part, [[0, 0], [top, bands.height - bottom], [0, 0], [0, 0]])

    _, total = tf.while_loop(lambda index, _: index < bands.count, step, [tf.constant(0), tf.zeros_like(inputs)],
                             parallel_iterations=1)
    return total


def rows_of(tensor: tf.Tensor, start: tf.Tensor, end: tf.Tensor) -> tf.Tensor:
    """Rows [start, end) of a [1, H, W, C] tensor (dynamic bounds), as [1, end - start, W, C]."""
    return tf.reshape(tf.reshape(tensor, tf.shape(tensor)[1:])[start:end], tf.concat([[1], [end - start],
                                                                                       tf.shape(tensor)[2:]], 0))
