import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from style_transfer.optimize import callbacks
from style_transfer.core.config import DEFAULT
from style_transfer.core.errors import OutputExistsError


def image(value):
    return tf.Variable(tf.fill([1, 4, 6, 3], value))


def test_history_keeps_every_step_of_every_term():
    history = callbacks.History()
    history.on_start(image(0.0), DEFAULT)
    for step in (1, 2, 3):
        history.on_step(step, image(0.0), {"total": 10.0 - step, "tv": float(step)})
    history.on_end(image(0.0))
    assert history.losses == {"total": [9.0, 8.0, 7.0], "tv": [1.0, 2.0, 3.0]}
    assert history.seconds >= 0


def test_image_saver_writes_every_nth_step_and_never_overwrites_unless_asked(tmp_path):
    saver = callbacks.ImageSaver(tmp_path / "steps", 2)
    for step in (1, 2, 3, 4):
        saver.on_step(step, image(step / 4), {})
    assert sorted(p.name for p in (tmp_path / "steps").iterdir()) == ["step_000002.png", "step_000004.png"]
    assert np.asarray(Image.open(tmp_path / "steps" / "step_000004.png")).min() == 255
    with pytest.raises(OutputExistsError):
        saver.on_step(2, image(0.0), {})
    callbacks.ImageSaver(tmp_path / "steps", 2, overwrite=True).on_step(2, image(0.0), {})
    assert np.asarray(Image.open(tmp_path / "steps" / "step_000002.png")).max() == 0


def test_config_markdown_lists_every_setting():
    text = callbacks.config_markdown(DEFAULT)
    assert text.startswith("| setting | value |\n|---|---|\n")
    assert "| style_layers | `block1_conv1:1,block2_conv1:1,block3_conv1:1,block4_conv1:1,block5_conv1:1` |" in text
    assert text.count("\n") == 1 + len(DEFAULT.to_flat_dict())
