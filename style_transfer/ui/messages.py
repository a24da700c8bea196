"""How errors reach the page: one line each, in the user's terms (a control's name rather than a config field's,
an upload's file name rather than the server's path), raised as gr.Error so Gradio shows it without a trace."""

from __future__ import annotations

import contextlib
from pathlib import Path

import gradio as gr
from absl import logging

from style_transfer.core.errors import ConfigError, StyleTransferError
from style_transfer.ui import fast_video, paint


def message(error: BaseException, uploads=()) -> str:
    """One line for the page: the error's own words with the upload folder's paths replaced by the files' names,
    and a config field by the control that sets it."""
    if isinstance(error, ConfigError):
        controls = {**paint.CONTROL_NAMES, **fast_video.CONTROL_NAMES}
        text = f"{controls.get(error.field, error.field)}: {error.message}"
    elif isinstance(error, (StyleTransferError, ValueError)):
        text = str(error)
    else:
        logging.exception("style-transfer-ui: unexpected error")
        text = f"unexpected error ({type(error).__name__}: {error}); the server's log has the details"
    for upload in uploads:
        if upload:
            text = text.replace(str(upload), Path(upload).name)
    return " ".join(text.split())


@contextlib.contextmanager
def page_errors(uploads=()):
    """Within it, any error becomes one gr.Error message in the page."""
    try:
        yield
    except gr.Error:
        raise
    except Exception as error:
        raise gr.Error(message(error, uploads), print_exception=False) from None
