"""The package's error types.

Library code raises these (never prints or exits); `run.py` turns them into one line on stderr and an exit
code. Each subclasses `ValueError` or `OSError` as well so generic callers can still catch them.
"""


class StyleTransferError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(StyleTransferError, ValueError):
    """A configuration value is invalid. `field` names the offending config field (== CLI flag)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ImageError(StyleTransferError, ValueError):
    """An input image cannot be used, or an output image cannot be written."""


class WeightsError(StyleTransferError, ValueError):
    """VGG19 weights cannot be obtained or do not fit the network."""


class OutputExistsError(ImageError):
    """An output file already exists and overwriting was not allowed."""


class OutputError(StyleTransferError, ValueError):
    """An output directory (logs, intermediate images) cannot be created or written."""


class OutputBusyError(StyleTransferError, OSError):
    """Another process holds the lock of the output this one would write (locks.OutputLock)."""


class NumericalError(StyleTransferError, ArithmeticError):
    """The loss or the image stopped being finite. `step` is where; `image` the last finite image."""

    def __init__(self, message: str, step: int, image=None):
        super().__init__(message)
        self.step = step
        self.image = image


class ResumeError(StyleTransferError, ValueError):
    """A checkpoint cannot be resumed: missing, unreadable, or made with other settings."""


class ModelError(StyleTransferError, ValueError):
    """A trained network (an export or a training run's directory) cannot be loaded or does not fit."""


class DataError(StyleTransferError, ValueError):
    """A training data folder cannot be used (missing, empty, or holding no readable picture)."""


class VideoError(ImageError):
    """A video cannot be read (missing, damaged, not a video, no video stream) or written."""


class MissingExtraError(StyleTransferError, ImportError):
    """A feature needs a package of an extra that is not installed (Gradio of `.[ui]`, PyAV of `.[video]`);
    the message names the pip command that installs it."""


class PortInUseError(StyleTransferError, OSError):
    """A server cannot listen at `host`:`port`: another program listens there (or `host` is not this machine's)."""

    def __init__(self, host: str, port: int):
        super().__init__(f"cannot listen on {host}:{port}: the port is in use (or {host} is not an address of this "
                         "machine)")
        self.host = host
        self.port = port
