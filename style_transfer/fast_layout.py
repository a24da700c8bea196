"""Where a training run of style-transfer-train keeps its files, in its --model_dir:

  config.json    what the network was trained on and with
  checkpoints/   the checkpoints to resume from (ckpt-<step>.index, ...)
  logs/          TensorBoard's
  export/        the SavedModel (and style_network.tflite) that style-transfer-apply loads

These names need no TensorFlow, so the command line checks a model directory before importing it.
training.py and export.py name the same files (tests/test_train_fast.py holds them equal).
"""

CONFIG_FILE = "config.json"
CHECKPOINTS = "checkpoints"
LOGS = "logs"
EXPORT = "export"
