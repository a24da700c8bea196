"""The local web app (`style-transfer-ui`): the optimiser and the trained networks in a browser, with Gradio.

    from style_transfer.ui import UIConfig, build_app
    app = build_app(UIConfig(network="vgg16", weights="vgg16_imagenet_notop.h5"))
    app.launch()                      # http://127.0.0.1:7860 until Ctrl-C; app.launch(block=False) returns

Gradio is the `ui` extra (pip install -e ".[ui]"): importing this package does not import it, and
`build_app` without it raises MissingExtraError saying how to install it.
"""

from __future__ import annotations

import importlib.util

from style_transfer.core.errors import MissingExtraError
from style_transfer.ui.config import UI_DEFAULT, UIConfig

__all__ = ["UIConfig", "UI_DEFAULT", "build_app", "check_gradio"]

INSTALL = 'pip install -e ".[ui]"'


def check_gradio() -> None:
    """MissingExtraError, with the command that installs it, unless Gradio can be imported."""
    if importlib.util.find_spec("gradio") is None:
        raise MissingExtraError(f"the web app needs Gradio, which is not installed; install it with {INSTALL}")


def build_app(config: UIConfig = UI_DEFAULT):
    """The app (app.StyleTransferApp) for `config`: `.blocks` is the gr.Blocks, `.launch()` serves it,
    `.close()` stops it and removes the sessions' folders."""
    check_gradio()
    from style_transfer.core.files import import_tensorflow_quietly

    import_tensorflow_quietly()  # before Gradio or the products import it, so its banner stays hidden
    from style_transfer.ui.app import StyleTransferApp

    return StyleTransferApp(config)
