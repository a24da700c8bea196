"""A trained transformation network as a SavedModel, and loading it back.

The export is self-contained: `load` needs TensorFlow only, none of the training code or custom layers, so
a SavedModel directory can be copied to any machine (or TensorFlow Serving) and applied there.

Signature `serving_default`: inputs `images`, float32 [B, H, W, 3] RGB in [0, 1], any B, H, W (at least
5 pixels a side), and `style_weights`, float32 [B, S]: how much of each of the network's S styles to paint
(a one-hot row for one style, a convex combination for a blend; [[1.0]] for a one-style network); output
`stylized`, [B, H, W, 3]. The style names, in order, are the metadata's `style_names`. (Exports written
before networks had several styles take `images` alone.) Signature `serving_bfloat16` is the same network
computing in bfloat16 (same inputs and outputs, float32): faster on CPUs with AVX512_BF16 or AMX, its
results close to float32's (docs/performance.md has the figures). The directory also holds
`style_transfer.json`: what the network was trained on and with which settings, and with `tflite=True`
`style_network.tflite`: the same network for TensorFlow Lite (LiteRT), float32, input [1, H, W, 3] of any
size (the interpreter is resized to each picture) and style weights [1, S], for phones and small devices.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np
import tensorflow as tf

from style_transfer.kernels import devices
from style_transfer.fast import fast_layout
from style_transfer.core.config import APPLY_PRESERVE_COLORS_CHOICES, PRECISION_CHOICES
from style_transfer.core.errors import ModelError, OutputExistsError

SIGNATURE = "serving_default"
SIGNATURES = {"float32": SIGNATURE, "bfloat16": "serving_bfloat16"}
INPUT_NAME = "images"
STYLE_INPUT_NAME = "style_weights"
OUTPUT_NAME = "stylized"
METADATA_FILE = "style_transfer.json"
TFLITE_FILE = "style_network.tflite"
RUN_EXPORT = fast_layout.EXPORT  # where a training run's directory holds its export
RUN_CONFIG = fast_layout.CONFIG_FILE  # and the description of the run
MIN_SIDE = fast_layout.MIN_SIDE


def _input_specs(styles: int, batch: int | None = None) -> list[tf.TensorSpec]:
    return [tf.TensorSpec([batch, None, None, 3], tf.float32, name=INPUT_NAME),
            tf.TensorSpec([batch, styles], tf.float32, name=STYLE_INPUT_NAME)]


def style_count(model) -> int:
    """S, how many styles the Keras network `model` paints (the width of its style_weights input)."""
    return int(model.inputs[1].shape[-1])


class _Serving(tf.Module):
    def __init__(self, model, bfloat16_model):
        super().__init__()
        self.model = model
        self.bfloat16_model = bfloat16_model
        specs = _input_specs(style_count(model))
        self.serve = tf.function(lambda images, style_weights: {
            OUTPUT_NAME: self.model([images, style_weights], training=False)}, input_signature=specs)
        self.serve_bfloat16 = tf.function(lambda images, style_weights: {
            OUTPUT_NAME: tf.cast(self.bfloat16_model([images, style_weights], training=False), tf.float32)},
            input_signature=specs)


def bfloat16_copy(model):
    """The same Keras network computing in bfloat16 (Keras' "mixed_bfloat16": variables float32, each layer
    rounds its weights and inputs), holding `model`'s weights."""
    import keras

    def clone(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "mixed_bfloat16"})

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def tflite_bytes(model) -> bytes:
    """The Keras `model` as a TensorFlow Lite flat buffer (float32, any picture size).

    The variables are frozen into constants first: converted with its resource variables, the model reads
    them through READ_VARIABLE ops that the interpreter never initialises, and computes NaN.
    """
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = _input_specs(style_count(model), batch=1)
    function = tf.function(lambda images, style_weights: {OUTPUT_NAME: model([images, style_weights], training=False)}
                           ).get_concrete_function(*specs)
    try:
        frozen = convert_variables_to_constants_v2(function)
        return tf.lite.TFLiteConverter.from_concrete_functions([frozen], model).convert()
    except Exception as error:  # the converter raises ConverterError and others, with long texts
        raise ModelError(f"TensorFlow Lite cannot convert the network ({' '.join(str(error).split())[:300]})") from None


def save(model, directory: str | os.PathLike, *, metadata: Mapping | None = None, overwrite: bool = False,
         tflite: bool = False) -> Path:
    """Exports the Keras `model` (transformer.transformer_network: [images, style_weights] -> images) as a
    SavedModel at `directory`, with `tflite` also as TFLITE_FILE in it. `metadata` may name the styles in
    "style_names".

    Written into a temporary directory beside it and moved into place, so `directory` is either the old
    export or the complete new one. Returns the directory. If TensorFlow Lite cannot convert the network,
    the SavedModel is still written, then ModelError says so.

    The bfloat16 signature's network holds its own copy of the weights, so the export stores them twice.
    """
    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise OutputExistsError(f"{directory}: already exists; not overwriting it")
    metadata = dict(metadata or {})
    metadata["style_count"] = style_count(model)
    tflite_error = None
    if tflite:
        try:
            flat_buffer = tflite_bytes(model)
            # load() checks the file against these before the interpreter (which does not verify it) reads it.
            metadata["tflite"] = {"bytes": len(flat_buffer), "sha256": hashlib.sha256(flat_buffer).hexdigest()}
        except ModelError as error:
            tflite, tflite_error = False, error
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        module = _Serving(model, bfloat16_copy(model))
        tf.saved_model.save(module, str(staging), signatures={SIGNATURE: module.serve,
                                                              SIGNATURES["bfloat16"]: module.serve_bfloat16})
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2), encoding="utf8")
        if tflite:
            (staging / TFLITE_FILE).write_bytes(flat_buffer)
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(staging, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if tflite_error is not None:
        raise ModelError(f"{tflite_error}; the SavedModel was written to {directory}")
    return directory


class Stylizer:
    """A loaded export. `stylizer(images, style=None, strength=1.0, preserve_colors="none")` maps float32
    [B, H, W, 3] pictures in [0, 1] to the stylised pictures, a NumPy array of the same shape:

    - style: which of the network's styles to paint: None (the first), a name (or the start of one), an
      index, a blend {name or index: weight} (weights >= 0, scaled to sum to 1), or raw weights [S] / [B, S];
    - strength in [0, 1]: 0 gives the photograph back, 1 the network's full style, and between them the
      mix of the two, (1 - strength) * photo + strength * stylised;
    - preserve_colors "luminance": the result's luminance with the photograph's colours
      (color.with_chrominance, which the optimiser's --preserve_colors luminance uses too).

    `style_names` names the S styles; `metadata` is what training recorded (styles, settings, steps);
    `precision` is the arithmetic used, 'float32' or 'bfloat16'.
    """

    def __init__(self, directory: Path, signature, metadata: dict, precision: str, styles: int | None):
        self.directory = directory
        self._signature = signature
        self.metadata = metadata
        self.precision = precision
        self._takes_weights = styles is not None  # exports older than several styles take images alone
        self.styles = styles or 1
        names = metadata.get("style_names")
        if not (isinstance(names, list) and len(names) == self.styles and all(isinstance(n, str) for n in names)):
            names = [f"style{index + 1}" for index in range(self.styles)] if self.styles > 1 else ["style"]
        self.style_names = names

    def style_index(self, style: int | str) -> int:
        """The index of a style given by index, name, or a part of one that no other name has (the start of
        a name first: "starry" for starry_night, "scream" for the_scream); ValueError naming the styles if
        there is no such style."""
        listed = ", ".join(f"{index}: {name}" for index, name in enumerate(self.style_names))
        if isinstance(style, (int, np.integer)) or (isinstance(style, str) and style.strip().isdigit()):
            index = int(style)
            if not 0 <= index < self.styles:
                raise ValueError(f"style {index} is out of range: the network's styles are {listed}")
            return index
        name = str(style).strip()
        if name in self.style_names:
            return self.style_names.index(name)
        matches = [index for index, known in enumerate(self.style_names) if known.startswith(name)]
        if not matches:
            matches = [index for index, known in enumerate(self.style_names) if name in known]
        if len(matches) != 1 or not name:
            problem = "matches several styles" if len(matches) > 1 else "is not one of the network's styles"
            raise ValueError(f"style {name!r} {problem}: {listed}")
        return matches[0]

    def style_weights(self, style, batch: int) -> np.ndarray:
        """[batch, S] float32 style weights for `style` (see the class docstring), each row summing to 1.
        ValueError for an unknown style, negative, non-finite or all-zero weights, or the wrong number."""
        if style is None or isinstance(style, (int, np.integer, str)):
            weights = np.zeros(self.styles, np.float32)
            weights[self.style_index(0 if style is None else style)] = 1.0
        elif isinstance(style, dict):
            weights = np.zeros(self.styles, np.float32)
            for key, value in style.items():
                weights[self.style_index(key)] += float(value)
        else:
            weights = np.asarray(style, np.float32)
        if weights.ndim == 1:
            weights = np.broadcast_to(weights, (batch, weights.shape[0]))
        if weights.shape != (batch, self.styles):
            raise ValueError(f"expected {self.styles} style weight(s) per picture, got shape {weights.shape}")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or np.any(weights.sum(axis=1) <= 0):
            raise ValueError(f"style weights must be finite, >= 0 and not all 0, got {weights.tolist()}")
        return np.ascontiguousarray(weights / weights.sum(axis=1, keepdims=True))

    def __call__(self, images, style=None, *, strength: float = 1.0, preserve_colors: str = "none") -> np.ndarray:
        images = _checked(images)
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength}")
        if preserve_colors not in APPLY_PRESERVE_COLORS_CHOICES:
            raise ValueError(f"preserve_colors must be one of {', '.join(APPLY_PRESERVE_COLORS_CHOICES)}, got "
                             f"{preserve_colors!r}")
        stylised = self._run(images, self.style_weights(style, len(images)))
        if strength < 1.0:
            stylised = images + np.float32(strength) * (stylised - images)
        if preserve_colors == "luminance":
            from style_transfer.core import color

            stylised = color.with_chrominance(stylised, images)  # per pixel, so per picture too
        return stylised

    def _run(self, images: np.ndarray, weights: np.ndarray) -> np.ndarray:
        inputs = {INPUT_NAME: tf.convert_to_tensor(images)}
        if self._takes_weights:
            inputs[STYLE_INPUT_NAME] = tf.convert_to_tensor(weights)
        return self._signature(**inputs)[OUTPUT_NAME].numpy()


class TFLiteStylizer(Stylizer):
    """A TFLITE_FILE run by TensorFlow's TFLite interpreter, called like a Stylizer (float32 only)."""

    def __init__(self, path: Path, interpreter, metadata: dict):
        inputs = interpreter.get_input_details()
        self._input = next(detail["index"] for detail in inputs if len(detail["shape"]) == 4)
        weights = [detail for detail in inputs if len(detail["shape"]) == 2]
        self._weights_input = weights[0]["index"] if weights else None
        super().__init__(path, None, metadata, "float32", int(weights[0]["shape"][-1]) if weights else None)
        self._interpreter = interpreter
        self._output = interpreter.get_output_details()[0]["index"]
        self._shape = None

    def _run(self, images: np.ndarray, weights: np.ndarray) -> np.ndarray:
        results = []
        try:
            for picture, row in zip(images, weights):  # the network was converted for one picture at a time
                picture = picture[None]
                if picture.shape != self._shape:  # the interpreter's tensors are sized for one input shape at a time
                    self._interpreter.resize_tensor_input(self._input, picture.shape)
                    self._interpreter.allocate_tensors()
                    self._shape = picture.shape
                self._interpreter.set_tensor(self._input, picture)
                if self._weights_input is not None:
                    self._interpreter.set_tensor(self._weights_input, row[None])
                self._interpreter.invoke()
                results.append(self._interpreter.get_tensor(self._output).copy())
        except RuntimeError as error:  # what the interpreter raises for a model it cannot run
            raise ModelError(f"{self.directory}: TensorFlow Lite cannot run the network "
                             f"({' '.join(str(error).split())[:300]})") from None
        return np.concatenate(results)


def result_metadata(stylizer: Stylizer, style, *, strength: float, preserve_colors: str,
                    content: str) -> dict[str, str]:
    """PNG text chunks for a picture `stylizer` painted: the software, the network (its directory, what training
    recorded, the precision), the styles painted with their weights, the controls, and `content`, what the
    picture was made from (a path, or a name the caller gives)."""
    from style_transfer import __version__

    weights = stylizer.style_weights(style, 1)[0]
    painted = {name: round(float(weight), 6) for name, weight in zip(stylizer.style_names, weights) if weight > 0}
    return {"Software": f"style_transfer {__version__}", "style_transfer:model": str(stylizer.directory.resolve()),
            "style_transfer:model_metadata": json.dumps(stylizer.metadata),
            "style_transfer:precision": stylizer.precision,
            "style_transfer:style": json.dumps(painted),
            "style_transfer:controls": json.dumps({"strength": strength, "preserve_colors": preserve_colors}),
            "style_transfer:content": content}


def _checked(images) -> np.ndarray:
    images = np.ascontiguousarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected float32 [B, H, W, 3] images, got shape {images.shape}")
    if min(images.shape[1:3]) < MIN_SIDE:
        raise ValueError(f"pictures must be at least {MIN_SIDE} pixels a side, got {images.shape[2]}x"
                         f"{images.shape[1]}")
    return images


def _load_tflite(path: Path, precision: str) -> TFLiteStylizer:
    import warnings

    if precision == "bfloat16":
        raise ModelError(f"{path}: TensorFlow Lite networks compute in float32; use precision float32 or auto")
    # The interpreter reads the file unverified, and a truncated one can crash the process: check first.
    try:
        flat_buffer = path.read_bytes()
    except OSError as error:
        raise ModelError(f"{path}: cannot read it ({error.strerror})") from None
    metadata = _metadata(path.parent) if path.name == TFLITE_FILE else {}
    expected = metadata.get("tflite") if isinstance(metadata.get("tflite"), dict) else None
    if flat_buffer[4:8] != b"TFL3":
        raise ModelError(f"{path}: not a TensorFlow Lite network (no TFL3 identifier)")
    if expected and (len(flat_buffer) != expected.get("bytes")
                     or hashlib.sha256(flat_buffer).hexdigest() != expected.get("sha256")):
        raise ModelError(f"{path}: damaged or incomplete ({len(flat_buffer)} bytes; the export wrote "
                         f"{expected.get('bytes')} bytes with another SHA-256)")
    try:
        with warnings.catch_warnings():  # TensorFlow 2.20+ points to the LiteRT package; its interpreter works
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            interpreter = tf.lite.Interpreter(model_content=flat_buffer, num_threads=os.cpu_count())
    except Exception as error:  # ValueError for what is not a flat buffer
        raise ModelError(f"{path}: cannot load the TensorFlow Lite network ({' '.join(str(error).split())[:300]})"
                         ) from None
    details = interpreter.get_input_details()
    shapes = sorted((len(detail["shape"]), int(detail["shape"][-1])) for detail in details)
    if not (shapes[-1:] == [(4, 3)] and (len(shapes) == 1 or (len(shapes) == 2 and shapes[0][0] == 2))):
        raise ModelError(f"{path}: a TensorFlow Lite model, but not a network taking [1, H, W, 3] pictures (and "
                         "[1, S] style weights)")
    return TFLiteStylizer(path, interpreter, metadata)


def _metadata(directory: Path) -> dict:
    try:
        metadata = json.loads((directory / METADATA_FILE).read_text(encoding="utf8"))
    except (OSError, ValueError):
        return {}
    return metadata if isinstance(metadata, dict) else {}


def load(directory: str | os.PathLike, precision: str = "float32") -> Stylizer:
    """Loads an export written by `save` (or the model directory of a training run holding one in
    `export/`, or a .tflite file). ModelError, naming the path, if it is not such an export.

    `precision` picks the signature: 'float32', 'bfloat16', or 'auto' (bfloat16 where the machine computes
    it natively, see devices.resolve_precision, and the export has it; else float32)."""
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision must be one of {', '.join(PRECISION_CHOICES)}, got {precision!r}")
    directory = fast_layout.find_export(directory)
    if directory.is_file():
        return _load_tflite(directory, precision)
    try:
        loaded = tf.saved_model.load(str(directory))
    except Exception as error:  # TensorFlow raises OSError, ValueError or its own errors for damaged files
        raise ModelError(f"{directory}: cannot load the SavedModel ({' '.join(str(error).split())[:300]})") from None
    signature = loaded.signatures.get(SIGNATURE)
    if signature is None or INPUT_NAME not in signature.structured_input_signature[1]:
        raise ModelError(f"{directory}: a SavedModel, but without the {SIGNATURE} signature taking {INPUT_NAME!r} "
                         "that style_transfer exports")
    resolved = devices.resolve_precision(precision)
    if resolved == "bfloat16":
        if SIGNATURES["bfloat16"] in loaded.signatures:
            signature = loaded.signatures[SIGNATURES["bfloat16"]]
        elif precision == "bfloat16":
            raise ModelError(f"{directory}: exported without the {SIGNATURES['bfloat16']} signature; use precision "
                             "float32, or export the network again")
        else:
            resolved = "float32"
    style_spec = signature.structured_input_signature[1].get(STYLE_INPUT_NAME)
    stylizer = Stylizer(directory, signature, _metadata(directory), resolved,
                        None if style_spec is None else int(style_spec.shape[-1]))
    stylizer._loaded = loaded  # the signature's variables live as long as the loaded object
    return stylizer

