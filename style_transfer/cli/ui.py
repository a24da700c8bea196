"""A local web app: paint with the optimiser, or apply trained networks, in a browser.

  style-transfer-ui                                   # http://127.0.0.1:7860, until Ctrl-C
  style-transfer-ui --network vgg16 --weights vgg16_imagenet_notop.h5 --models models/
  python -m style_transfer.ui --port 8000

The Paint tab repaints a photograph in the manner of one or more paintings, showing the picture as it forms;
the Fast tab applies a trained network from --models to a picture, or to a video with the video extra. Needs
the ui extra: pip install -e ".[ui]" (".[ui,video]" for videos). The app answers this machine only unless
--host says otherwise, and paintings wait in one queue (--workers at once).
"""

from __future__ import annotations

import os
import signal

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine unless --share

from style_transfer import cli  # noqa: E402
from style_transfer.cli import UsageError  # noqa: E402
from style_transfer.core.config import is_weights_file  # noqa: E402
from style_transfer.core.errors import PortInUseError  # noqa: E402
from style_transfer.ui.config import UI_DEFAULT, UIConfig  # noqa: E402

PROGRAM = "style-transfer-ui"
COMMAND = cli.Command(PROGRAM, __doc__)
FLAGS = COMMAND.flags
cli.define_config_flags(UIConfig, UI_DEFAULT.to_flat_dict(), FLAGS, module_name=__name__)
COMMAND.groups = (
    ("Most used", ("port", "host", "share", "network", "weights", "models", "workers", "largest_size")),
    ("Input pictures", ("max_megapixels",)),
)


def config_from_flags() -> UIConfig:
    return UI_DEFAULT.replace(**cli.config_changes(UIConfig, FLAGS))


def check_config(config: UIConfig) -> None:
    """The mistakes found before Gradio and TensorFlow are imported: a --weights file or --models folder that
    does not exist."""
    from pathlib import Path

    if is_weights_file(config.weights) and not Path(config.weights).is_file():
        raise UsageError(f"--weights {config.weights}: no such file")
    if config.models and not Path(config.models).is_dir():
        raise UsageError(f"--models {config.models}: no such folder")


def main(argv: list[str]) -> int:
    # SIGTERM (a service manager, kill) stops the app as Ctrl-C does, so the sessions' folders are removed: from
    # the start, as the seconds of importing TensorFlow and Gradio and building the app create the first folder.
    signal.signal(signal.SIGTERM, _interrupt)
    if len(argv) > 1:
        raise UsageError(f"unexpected argument {argv[1]!r} (all settings are flags, e.g. --port 8000)")
    config = config_from_flags()
    check_config(config)
    from style_transfer import ui

    ui.check_gradio()
    app = ui.build_app(config)
    try:
        app.launch(block=False, quiet=True)
    except PortInUseError as error:
        if config.port:
            raise UsageError(f"--port {config.port}: in use (or --host {config.host} is not an address of this "
                             "machine); choose another port, or --port 0 for any free one") from None
        raise UsageError(f"--port 0: no free port could be taken on --host {config.host} (is it an address of this "
                         "machine?)") from None
    try:
        print(f"{PROGRAM}: serving on {app.url} (Ctrl-C to stop)", flush=True)
        app.wait()
    finally:
        app.close()
    print(f"{PROGRAM}: stopped; the sessions' files are removed", flush=True)
    return 0


def _interrupt(number, frame):
    raise KeyboardInterrupt


def console_main() -> None:
    """Entry point of the `style-transfer-ui` console script and of `python -m style_transfer.ui`."""
    COMMAND.console_main(main)


if __name__ == "__main__":
    console_main()
