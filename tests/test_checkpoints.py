import json
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from style_transfer import api, checkpoints
from style_transfer.config import DEFAULT
from style_transfer.errors import ResumeError
from style_transfer.optimize import Callback, StyleOptimizer

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
    config = config.replace(steps=40)  # a warm-up of 4 steps (a tenth), interrupted half way through it
    assert 3 < min(config.warmup_steps, config.steps // 10)
    straight = api.stylize(content, style, config, extractor=extractor)
    stopper = StopAfter(3)
    first = api.stylize(content, style, config, extractor=extractor, callbacks=[stopper], stop=stopper.stop)
    assert first.interrupted and first.steps_done == 3 and len(first.losses["total"]) == 3
    first.save_checkpoint(tmp_path / "ckpt")
    assert checkpoints.exists(tmp_path / "ckpt")
    resumed = api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "ckpt")
    assert not resumed.interrupted and (resumed.steps_done, resumed.steps_run) == (40, 40 - 3)
    np.testing.assert_array_equal(resumed.image, straight.image)
    assert resumed.losses["total"] == straight.losses["total"]  # the history is carried over, too
    assert not np.array_equal(first.image, straight.image)  # the comparison can fail


def test_steps_monitoring_recompute_and_buckets_may_change_on_resume_but_nothing_that_decides_the_image(setup, tmp_path):
    config, extractor, content, style = setup
    stopper = StopAfter(2)
    api.stylize(content, style, config, extractor=extractor, callbacks=[stopper],
                stop=stopper.stop).save_checkpoint(tmp_path / "ckpt")
    longer = api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "ckpt", steps=STEPS + 2,
                         log_every=3)
    assert longer.steps_done == STEPS + 2
    # Recomputation (band by band) changes memory and time, and the objective only by float rounding:
    # resumed with it switched, the run ends where an uninterrupted one does.
    switched = api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "ckpt",
                           recompute=not config.recompute)
    assert switched.config.recompute != config.recompute and switched.steps_done == STEPS
    straight = api.stylize(content, style, config, extractor=extractor)
    np.testing.assert_allclose(switched.losses["total"], straight.losses["total"], rtol=1e-2)
    # Bucketed shapes compute the same objective, to float rounding (which Adam may amplify pixel by pixel).
    bucketed = api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "ckpt", size_bucket=32)
    assert bucketed.config.size_bucket == 32 and bucketed.steps_done == STEPS
    assert bucketed.image.shape == straight.image.shape
    np.testing.assert_allclose(bucketed.losses["total"], straight.losses["total"], rtol=1e-2)
    with pytest.raises(ResumeError, match=r"other settings \(style_weight was 0.01, now 0.5; seed was 4, now 5\)"):
        api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "ckpt", style_weight=0.5, seed=5)


def interrupted_checkpoint(setup, directory, at=2, **changes):
    config, extractor, content, style = setup
    stopper = StopAfter(at)
    result = api.stylize(content, style, config, extractor=extractor, callbacks=[stopper], stop=stopper.stop,
                         **changes)
    return result.save_checkpoint(directory)


def test_missing_or_damaged_checkpoints_are_refused(setup, tmp_path):
    config, extractor, content, style = setup
    with pytest.raises(ResumeError, match="no checkpoint to resume from"):
        api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "none")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / checkpoints.STATE_FILE).write_text("{not json")
    with pytest.raises(ResumeError, match="unreadable checkpoint state"):
        api.stylize(content, style, config, extractor=extractor, resume=tmp_path / "bad")
    directory = interrupted_checkpoint(setup, tmp_path / "ckpt")
    for name in directory.iterdir():
        if name.name != checkpoints.STATE_FILE:
            name.unlink()
    with pytest.raises(ResumeError, match="the checkpoint files are not"):
        api.stylize(content, style, config, extractor=extractor, resume=directory)


def test_other_pictures_are_refused_even_when_the_shapes_fit(setup, tmp_path):
    config, extractor, content, style = setup
    directory = interrupted_checkpoint(setup, tmp_path / "ckpt")
    other_style = content  # same size as the style's Gram matrices need: only the pixels differ
    with pytest.raises(ResumeError, match="made from other content or style pictures"):
        api.stylize(content, other_style, config, extractor=extractor, resume=directory)
    with pytest.raises(ResumeError, match="made from other content or style pictures"):
        api.stylize(content, style, config, extractor=extractor, resume=directory, max_dim=48)


def test_asking_for_fewer_steps_than_done_is_refused(setup, tmp_path):
    config, extractor, content, style = setup
    directory = interrupted_checkpoint(setup, tmp_path / "ckpt", at=5)
    with pytest.raises(ResumeError, match="the checkpoint is at step 5, past the 3 steps asked for"):
        api.stylize(content, style, config, extractor=extractor, resume=directory, steps=3)


def test_a_state_that_disagrees_with_its_checkpoint_is_refused(setup, tmp_path):
    config, extractor, content, style = setup
    directory = interrupted_checkpoint(setup, tmp_path / "ckpt", at=3)
    state = json.loads((directory / checkpoints.STATE_FILE).read_text())
    state["step"] = 2  # as if the process died between writing the checkpoint and its state
    (directory / checkpoints.STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(ResumeError, match=r"the checkpoint \(step 3\) and state.json \(step 2\) disagree"):
        api.stylize(content, style, config, extractor=extractor, resume=directory)


@pytest.mark.parametrize("name, before, now", [("warmup_steps", 0, 20), ("tv_smoothing", 0.0, 0.03)])
def test_a_checkpoint_from_before_a_setting_resumes_with_the_value_it_was_made_with(setup, tmp_path, name, before,
                                                                                   now):
    config, extractor, content, style = setup
    assert checkpoints.BEFORE_ADDED[name] == before and getattr(config, name) == now
    directory = interrupted_checkpoint(setup, tmp_path / "ckpt", at=3, **{name: before})
    state = json.loads((directory / checkpoints.STATE_FILE).read_text())
    del state["config"][name]  # as written before the setting existed
    (directory / checkpoints.STATE_FILE).write_text(json.dumps(state))
    resumed = api.stylize(content, style, config, extractor=extractor, resume=directory, **{name: before})
    assert resumed.steps_done == STEPS
    with pytest.raises(ResumeError, match=rf"{name} was {before!r}, now {now!r}"):
        api.stylize(content, style, config, extractor=extractor, resume=directory)


def test_a_checkpoint_of_another_network_is_refused(setup, tmp_path):
    config, extractor, content, style = setup
    directory = interrupted_checkpoint(setup, tmp_path / "ckpt", at=3)
    state = json.loads((directory / checkpoints.STATE_FILE).read_text())
    assert state["config"]["network"] == "vgg19"
    state["config"]["network"] = "vgg16"  # as if made with --network vgg16 (the pictures are the same)
    (directory / checkpoints.STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(ResumeError, match=r"network was 'vgg16', now 'vgg19'"):
        api.stylize(content, style, config, extractor=extractor, resume=directory)


def test_a_checkpoint_in_keras_adams_layout_restores_every_variable(setup, tmp_path):
    """Checkpoints written before Adam's update was compiled held keras.optimizers.Adam's variables."""
    config, extractor, content, style = setup
    content_image, style_image = api.load_inputs(content, style, config)
    optimizer = StyleOptimizer(extractor, content_image, style_image, content_image, config)
    image = tf.Variable(tf.random.uniform(optimizer.image.shape, seed=1))
    adam = keras.optimizers.Adam(learning_rate=0.01)
    for _ in range(3):
        adam.apply_gradients([(tf.random.normal(image.shape), image)])
    saved = tf.train.Checkpoint(image=image, adam=list(adam.variables)).save(str(tmp_path / "ckpt"))
    optimizer.checkpoint().restore(saved).assert_existing_objects_matched()
    assert optimizer.steps_done == 3
    for ours, theirs in zip([optimizer.image, *optimizer.optimizer.variables], [image, *adam.variables], strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
