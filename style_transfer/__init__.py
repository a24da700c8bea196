"""Neural style transfer (Gatys et al. 2015) with TensorFlow and Keras.

    from style_transfer import stylize, StyleConfig
    result = stylize("photo.jpg", "painting.jpg", steps=200)
    result.save("out.png")

Importing the package loads nothing heavy: TensorFlow is imported on first use of `stylize` and friends.
"""

__version__ = "0.1.0"

# Public name -> the module that defines it, loaded on first access (PEP 562) so that importing the package,
# or running its CLI with bad flags, does not pay TensorFlow's start-up time.
_EXPORTS = {
    "stylize": "style_transfer.optimize.api",
    "StylizeResult": "style_transfer.optimize.api",
    "build_extractor": "style_transfer.optimize.api",
    "StyleConfig": "style_transfer.core.config",
    "PRESETS": "style_transfer.core.config",
    "DEFAULT": "style_transfer.core.config",
    "TUTORIAL": "style_transfer.core.config",
    "ConfigError": "style_transfer.core.errors",
    "ImageError": "style_transfer.core.errors",
    "WeightsError": "style_transfer.core.errors",
    "StyleTransferError": "style_transfer.core.errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib
        import sys

        if _EXPORTS[name] == "style_transfer.optimize.api" and "tensorflow" not in sys.modules:
            from style_transfer.core.files import import_tensorflow_quietly

            import_tensorflow_quietly()  # its start-up banner kept off the user's stderr, as the commands do
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'style_transfer' has no attribute {name!r}")
