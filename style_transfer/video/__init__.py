"""Video in, video out: streaming decoding and encoding (io), optical flow and temporal consistency (flow),
and the frame loop with resuming (stream). Uses core/ and the products' public functions only; PyAV and
OpenCV come with the extra `pip install -e ".[video]"`. Importing this package imports neither."""

import importlib

from style_transfer.core.errors import MissingExtraError

INSTALL_HINT = 'pip install -e ".[video]"'


def require_extra(module: str):
    """The module `module` of the video extra (av, cv2); MissingExtraError naming the install command when
    the extra is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"videos need PyAV and OpenCV, which the core install leaves out: "
                                f"{INSTALL_HINT}") from None
