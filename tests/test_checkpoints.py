import json
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from style_transfer.optimize import api, checkpoints
from style_transfer.core.config import DEFAULT
from style_transfer.core.errors import ResumeError
from style_transfer.optimize.optimization import Callback, StyleOptimizer

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
    checkpoints.write_state(directory, state)
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
    checkpoints.write_state(directory, state)
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
    checkpoints.write_state(directory, state)
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
    for ours, theirs in zip([optimizer.image, *optimizer.adam.variables], [image, *adam.variables], strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# --- Damaged checkpoints: one line and exit status 1 from the command line, and nothing on disk changed. ---

import shutil  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402

from style_transfer.optimize import layout  # noqa: E402

INTERRUPTED_AT = 3
CHECKPOINT_FILES = ["state.json", "checkpoint", f"ckpt-{INTERRUPTED_AT}.index",
                    f"ckpt-{INTERRUPTED_AT}.data-00000-of-00001"]


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory, weights_file, content_path, style_path):
    """(a folder holding straight.png, the result of an uninterrupted run, and run/, holding the checkpoint of
    the same run interrupted after step 3 for run/out.png; the command line that resumes it)."""
    directory = tmp_path_factory.mktemp("interrupted")
    config = DEFAULT.replace(weights=str(weights_file), max_dim=32, steps=6, init="noise", seed=4)
    extractor = api.build_extractor(config)
    api.stylize(content_path, style_path, config, extractor=extractor).save(directory / "straight.png")
    stopper = StopAfter(INTERRUPTED_AT)
    api.stylize(content_path, style_path, config, extractor=extractor, callbacks=[stopper],
                stop=stopper.stop).save_checkpoint(layout.checkpoint_directory(directory / "run" / "out.png"))
    assert sorted(path.name for path in layout.checkpoint_directory(directory / "run" / "out.png").iterdir()) == \
        sorted(CHECKPOINT_FILES)
    args = ["--content", str(content_path), "--style", str(style_path), "--weights", str(weights_file),
            "--max_dim", "32", "--steps", "6", "--init", "noise", "--seed", "4", "--nosummary", "--resume"]
    return directory, args


def files_of(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*"))
            if path.is_file()}


def resume_damaged(cli, capsys, interrupted_run, where: Path, damage) -> tuple[int, list[str], Path]:
    """Copies the interrupted run to `where`, lets damage(checkpoint directory) alter it, resumes it with the
    command line; (exit status, stderr lines, the copy). Checks that a failed resume changed nothing."""
    source, args = interrupted_run
    shutil.copytree(source / "run", where)
    damage(layout.checkpoint_directory(where / "out.png"))
    before = files_of(where.parent)
    capsys.readouterr()
    status = cli(*args, "--output", str(where / "out.png"))
    err = capsys.readouterr().err.strip().splitlines()
    if status != 0:
        assert files_of(where.parent) == before
    return status, err, where


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def cut(name, fraction=0.5):
    def damage(directory):
        data = (directory / name).read_bytes()
        (directory / name).write_bytes(data[:int(len(data) * fraction)])
    return damage


def edit_state(**changes):
    def damage(directory):
        checkpoints.write_state(directory, {**checkpoints.read_state(directory), **changes})  # a valid digest
    return damage


def garbage_state(directory):
    (directory / checkpoints.STATE_FILE).write_bytes(np.random.default_rng(0).bytes(300))


def index_naming_another_run(directory):
    # A copy of the same checkpoint elsewhere, which TensorFlow would restore (and the next save would prune).
    other = directory.parent.parent / "other_run"
    shutil.copytree(directory, other)
    (directory / "checkpoint").write_text(f'model_checkpoint_path: "{other}/ckpt-{INTERRUPTED_AT}"\n'
                                          f'all_model_checkpoint_paths: "{other}/ckpt-{INTERRUPTED_AT}"\n')


def snapshots_naming_other_files(directory):
    (directory.parent.parent / "keep.png").write_bytes(b"someone else's")
    edit_state(snapshots=["../keep.png"])(directory)


@pytest.mark.parametrize("damage, message", [
    (cut(f"ckpt-{INTERRUPTED_AT}.data-00000-of-00001"), "cannot restore the checkpoint, it is damaged"),
    (cut(f"ckpt-{INTERRUPTED_AT}.index"), "cannot restore the checkpoint, it is damaged"),
    (garbage_state, "unreadable checkpoint state"),
    (edit_state(step="3"), "damaged checkpoint state: state.json has step '3', not a count of steps"),
    (edit_state(losses={"total": "low"}), "state.json has a loss history that is not lists of numbers"),
    (edit_state(step=2), "the checkpoint (step 3) and state.json (step 2) disagree"),
    (index_naming_another_run, "names a checkpoint outside"),
    (snapshots_naming_other_files, "its snapshots are not step_NNNNNN.png names"),
], ids=["data cut", "index cut", "state garbage", "step a string", "losses not numbers", "step disagrees",
        "index names another run", "snapshots name other files"])
def test_each_kind_of_damage_is_one_line_exit_1_and_changes_nothing(cli, capsys, interrupted_run, tmp_path, damage,
                                                                      message):
    status, err, _ = resume_damaged(cli, capsys, interrupted_run, tmp_path / "copy" / "run", damage)
    assert status == 1 and len(err) == 1 and err[0].startswith("style-transfer: error: "), err
    assert message in err[0]


def test_an_altered_state_is_caught_by_its_digest(setup, tmp_path):
    directory = interrupted_checkpoint(setup, tmp_path / "ckpt")
    state = (directory / checkpoints.STATE_FILE).read_text()
    assert '"seed": 4' in state
    (directory / checkpoints.STATE_FILE).write_text(state.replace('"seed": 4', '"seed": 5'))  # still valid JSON
    with pytest.raises(ResumeError, match="does not match its digest"):
        checkpoints.read_state(directory)
    state = json.loads(state)
    del state["digest"]  # as written before states had one: checked for its shape only
    (directory / checkpoints.STATE_FILE).write_text(json.dumps(state))
    assert checkpoints.read_state(directory)["step"] == 2


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(name=st.sampled_from(CHECKPOINT_FILES), kind=st.sampled_from(["cut", "flip", "overwrite"]),
       where=st.floats(0, 1, exclude_max=True), patch=st.binary(min_size=1, max_size=16))
def test_randomly_damaged_checkpoints_resume_correctly_or_give_one_line(cli, capsys, interrupted_run, tmp_path, name,
                                                                         kind, where, patch):
    def damage(directory):
        original = (directory / name).read_bytes()
        at = int(where * len(original))
        if kind == "cut":
            damaged = original[:at]
        elif kind == "flip":
            damaged = original[:at] + bytes([original[at] ^ (patch[0] | 1)]) + original[at + 1:]
        else:
            damaged = original[:at] + patch + original[at + len(patch):]
        assume(damaged != original)
        (directory / name).write_bytes(damaged)

    status, err, copy = resume_damaged(cli, capsys, interrupted_run, Path(tempfile.mkdtemp(dir=tmp_path)) / "run",
                                       damage)
    if status == 0:  # the damage did not matter: the run ends where the uninterrupted one does
        np.testing.assert_array_equal(pixels(copy / "out.png"), pixels(interrupted_run[0] / "straight.png"))
    else:
        assert status == 1 and len(err) == 1 and err[0].startswith("style-transfer: error: "), err
