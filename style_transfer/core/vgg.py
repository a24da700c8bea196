"""The VGG19 and VGG16 networks without their classifiers, frozen, with the weights asked for: ImageNet's (Keras'
verified download and cache), seeded random ones, or a local .h5 file read by layer name with one clear error
for each kind of mismatch.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import h5py
import keras
import numpy as np

from style_transfer.core.config import is_weights_file
from style_transfer.core.errors import WeightsError
from style_transfer.core.vgg_layers import NETWORK_LAYERS, network_layers

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


def build_vgg(weights: str, network: str) -> keras.Model:
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
        if is_weights_file(weights):
            load_weights_file(model, Path(weights))
        else:
            seed = weights.partition(":")[2] or "0"
            if not seed.isdigit():
                raise WeightsError(f"weights {weights!r}: the seed after 'random:' must be an integer")
            _set_random_weights(model, int(seed))
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


def layer_channels(name: str) -> int:
    """Channels of a VGG19 or VGG16 layer's activation (a pool keeps its block's)."""
    return {"block1": 64, "block2": 128, "block3": 256, "block4": 512, "block5": 512}[name.split("_")[0]]
