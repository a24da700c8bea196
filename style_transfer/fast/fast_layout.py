"""Where a training run of style-transfer-train keeps its files, in its --model_dir:

  config.json    what the network was trained on and with
  checkpoints/   the checkpoints to resume from (ckpt-<step>.index, ...)
  logs/          TensorBoard's
  export/        the SavedModel (and style_network.tflite) that style-transfer-apply loads

These names need no TensorFlow, so the command line checks a model directory before importing it, and
with them what --model may name (`find_export`) and the smallest picture the network takes (MIN_SIDE).
training.py and export.py name the same files (tests/test_train_fast.py holds them equal).
"""

from __future__ import annotations

import os
from pathlib import Path

from style_transfer.core.errors import ModelError

CONFIG_FILE = "config.json"
CHECKPOINTS = "checkpoints"
LOGS = "logs"
EXPORT = "export"
SAVED_MODEL = "saved_model.pb"
MIN_SIDE = 5  # pixels a side: the network's first 9x9 convolution mirrors 4 pixels at each border


def find_export(model: str | os.PathLike) -> Path:
    """What `model` names, as style-transfer-apply and export.load take it: a .tflite file, a SavedModel
    directory, or a training run's directory holding one in export/. ModelError naming the path if it is
    none of these; whether the files inside are sound, only loading them tells."""
    path = Path(model)
    try:
        if path.suffix == ".tflite" and path.is_file():
            return path
        if (path / EXPORT / SAVED_MODEL).is_file() and not (path / SAVED_MODEL).exists():
            return path / EXPORT
        if not path.exists():
            raise ModelError(f"{path}: no such model directory")
        if (path / SAVED_MODEL).is_file():
            return path
        run = (path / CONFIG_FILE).is_file()
        if run and not (path / EXPORT).exists():
            raise ModelError(f"{path}: a training run without its export yet (training writes {EXPORT}/ when it "
                             "ends; finish it with style-transfer-train ... --resume)")
    except OSError as error:  # a folder on the way that may not be read
        raise ModelError(f"{path}: cannot look inside ({error.strerror or error})") from None
    raise ModelError(f"{path / EXPORT if run else path}: not a SavedModel export (no {SAVED_MODEL}); train one "
                     "with style-transfer-train")
