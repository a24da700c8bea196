import json
import threading

import numpy as np
import pytest

from style_transfer import api, checkpoints
from style_transfer.config import DEFAULT
from style_transfer.errors import ResumeError
from style_transfer.optimize import Callback

STEPS = 8


class StopAfter(Callback):
    """Sets `stop` once step `step` is done, as a signal handler would."""

    def __init__(self, step):
        self.step, self.stop = step, threading.Event()

    def on_step(self, step, image, terms):
        if step == self.step:
            self.stop.set()


@pytest.fixture(scope="module")
def setup(weights_file, content_path, style_path):
    config = DEFAULT.replace(weights=str(weights_file), max_dim=40, steps=STEPS, init="noise", seed=4)
    return config, api.build_extractor(config), content_path, style_path


def test_interrupted_and_resumed_equals_uninterrupted_bit_for_bit(setup, tmp_path):
    config, extractor, content, style = setup
    straight = api.stylize(content, style, config, extractor=extractor)
    stopper = StopAfter(3)
    first = api.stylize(content, style, config, extractor=extractor, callbacks=[stopper], stop=stopper.stop)
    assert first.interrupted and first.steps_done == 3 and len(first.losses["total"]) == 3
    first.save_checkpoint(tmp_path / "ckpt")
    assert checkpoints.exists(tmp_path / "ckpt")
    resumed = api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "ckpt")
    assert not resumed.interrupted and (resumed.steps_done, resumed.steps_run) == (STEPS, STEPS - 3)
    np.testing.assert_array_equal(resumed.image, straight.image)
    assert resumed.losses["total"] == straight.losses["total"]  # the history is carried over, too
    assert not np.array_equal(first.image, straight.image)  # the comparison can fail


def test_steps_and_monitoring_may_change_on_resume_but_nothing_that_decides_the_image(setup, tmp_path):
    config, extractor, content, style = setup
    stopper = StopAfter(2)
    api.stylize(content, style, config, extractor=extractor, callbacks=[stopper],
                stop=stopper.stop).save_checkpoint(tmp_path / "ckpt")
    longer = api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "ckpt", steps=STEPS + 2,
                         log_every=3)
    assert longer.steps_done == STEPS + 2
    with pytest.raises(ResumeError, match=r"other settings \(style_weight was 0.01, now 0.5; seed was 4, now 5\)"):
        api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "ckpt", style_weight=0.5, seed=5)


def test_missing_or_damaged_checkpoints_are_refused(setup, tmp_path):
    config, extractor, content, style = setup
    with pytest.raises(ResumeError, match="no checkpoint to resume from"):
        api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "none")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / checkpoints.STATE_FILE).write_text("{not json")
    with pytest.raises(ResumeError, match="unreadable checkpoint state"):
        api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "bad")
    (tmp_path / "bad" / checkpoints.STATE_FILE).write_text(json.dumps({"config": config.to_flat_dict()}))
    with pytest.raises(ResumeError, match="the checkpoint files are not"):
        api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "bad")


def test_a_checkpoint_of_another_image_size_is_refused(setup, tmp_path):
    config, extractor, content, style = setup
    stopper = StopAfter(1)
    result = api.stylize(content, style, config, extractor=extractor, callbacks=[stopper], stop=stopper.stop)
    result.save_checkpoint(tmp_path / "ckpt")
    state = json.loads((tmp_path / "ckpt" / checkpoints.STATE_FILE).read_text())
    state["config"]["max_dim"] = 48  # pretend it was made at the size we now ask for
    (tmp_path / "ckpt" / checkpoints.STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(ResumeError, match="cannot restore the checkpoint"):
        api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "ckpt", max_dim=48)
