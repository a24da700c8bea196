"""The layers of VGG19 and VGG16 by their Keras names, known without importing Keras."""

from __future__ import annotations

from style_transfer.core.errors import ConfigError

# The layers of keras.applications.VGG19(include_top=False) and VGG16(include_top=False), by their Keras
# names, input to output. VGG16 is VGG19 without each of blocks 3 to 5's fourth convolution.
VGG19_LAYERS = (
    "block1_conv1", "block1_conv2", "block1_pool",
    "block2_conv1", "block2_conv2", "block2_pool",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4", "block3_pool",
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_conv4", "block4_pool",
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4", "block5_pool",
)  # fmt: skip
VGG16_LAYERS = tuple(name for name in VGG19_LAYERS if not name.endswith("_conv4"))
NETWORK_LAYERS = {"vgg19": VGG19_LAYERS, "vgg16": VGG16_LAYERS}


def pools_through(layer: str) -> int:
    """How many 2x2 pools VGG16 or VGG19 applies up to and including `layer` (a Keras name such as
    "block3_conv1" or "block3_pool"): each block but the first begins after one."""
    block = int(layer[len("block")])
    return block - 1 + (1 if layer.endswith("_pool") else 0)


def network_layers(network: str) -> tuple[str, ...]:
    """The layer names of `network` ("vgg19" or "vgg16"), input to output; ConfigError for another."""
    if network not in NETWORK_LAYERS:
        raise ConfigError("network", f"must be one of {', '.join(NETWORK_LAYERS)}; got {network!r}")
    return NETWORK_LAYERS[network]
