"""Saving and resuming an optimisation: the image, Adam's state, the step and the loss history.

A checkpoint directory holds a `tf.train.Checkpoint` (managed by `tf.train.CheckpointManager`, the latest
one kept) and `state.json` with the step, the config and the losses so far. Resuming with the same settings
continues exactly where the run stopped: on the CPU, an interrupted and resumed run ends with the same
image, bit for bit, as an uninterrupted one. A fingerprint of the input pixels guards against resuming with
other pictures.

Anything damaged (a file cut short or altered, a state that is not one or names files elsewhere) is a
ResumeError, found before anything is changed: the TensorFlow files carry checksums, and state.json a digest
of its contents. Importing this module does not import TensorFlow, so the command line can check a run's
files before paying for it.
"""

from __future__ import annotations

import hashlib
import json
import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np

from style_transfer.core.config import DEFAULT, StyleConfig
from style_transfer.core.errors import ResumeError
from style_transfer.core.files import atomic_write, latest_checkpoint, restore_checkpoint

if TYPE_CHECKING:
    from style_transfer.optimize.optimization import StyleOptimizer

STATE_FILE = "state.json"
# Settings that may change between an interrupted run and its resumption: how long it runs, how it is
# watched, whether the backward pass recomputes (memory against time), the shapes VGG19 runs at and how it
# convolves (the same objective, to float rounding). Everything else decides the image.
RESUMABLE_CHANGES = ("steps", "logdir", "log_every", "save_every", "recompute", "size_bucket", "convolution")
# Settings added after checkpoints existed whose earlier behaviour is not today's default: a checkpoint
# without them was made with these values (before warmup_steps, Adam had no warm-up; before grid_steps, no
# pull towards 8-bit levels; before tv_smoothing, the tutorial's L1 total variation; before network, VGG19).
BEFORE_ADDED = {"warmup_steps": 0, "grid_steps": 0, "tv_smoothing": 0.0, "network": "vgg19"}


def save(optimizer: StyleOptimizer, directory: str | Path, losses: Mapping[str, list[float]], *,
         inputs: str, extra: Mapping | None = None) -> Path:
    """Writes a checkpoint of `optimizer`, the loss history and `inputs` (a fingerprint) into `directory`.

    `extra` is stored in state.json as it is (e.g. the pictures the interruption saved). Returns the directory.
    """
    import tensorflow as tf

    directory = Path(directory)
    # The manager deletes the checkpoints its index names beyond max_to_keep: never files elsewhere.
    latest_checkpoint(directory)
    manager = tf.train.CheckpointManager(optimizer.checkpoint(), str(directory), max_to_keep=1)
    manager.save(checkpoint_number=optimizer.steps_done)
    write_state(directory, {"step": optimizer.steps_done, "config": optimizer.config.to_flat_dict(),
                            "inputs": inputs, "losses": dict(losses), **(extra or {})})
    return directory


def write_state(directory: str | Path, state: Mapping) -> Path:
    """Writes `state` as the state.json of `directory`, with the digest read_state checks."""
    state = {key: value for key, value in state.items() if key != "digest"}
    state["digest"] = _digest(state)
    # The state appears whole or not at all.
    return atomic_write(Path(directory) / STATE_FILE, lambda stream: stream.write(json.dumps(state).encode()),
                        overwrite=True)


def read_state(directory: str | Path) -> dict:
    """The state.json of a checkpoint directory: {"step": int, "config": {field: value}, "inputs": str,
    "losses": {term: [float]}, and what `save` was given as `extra`}. ResumeError if it is absent, unreadable,
    or damaged."""
    directory = Path(directory)
    try:
        state = json.loads((directory / STATE_FILE).read_text(encoding="utf8"))
    except FileNotFoundError:
        raise ResumeError(f"{directory}: no checkpoint to resume from") from None
    except (OSError, ValueError) as error:  # ValueError: not UTF-8, or not JSON
        raise ResumeError(f"{directory}: unreadable checkpoint state ({' '.join(str(error).split())[:200]})") from None
    problem = _state_problem(state)
    if problem:
        raise ResumeError(f"{directory}: damaged checkpoint state: {STATE_FILE} {problem}; start over")
    return state


def _digest(state: Mapping) -> str:
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def _state_problem(state) -> str:
    """What is wrong with a parsed state.json ("" if nothing). A state without a digest was written before
    states had one and is checked for its shape only."""
    if not isinstance(state, dict):
        return "is not a state record"
    if "digest" in state and state["digest"] != _digest({key: value for key, value in state.items()
                                                         if key != "digest"}):
        return "does not match its digest (it was altered)"
    step, losses = state.get("step"), state.get("losses", {})
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return f"has step {step!r}, not a count of steps"
    if not isinstance(state.get("config"), dict):
        return "has no config"
    if not isinstance(state.get("inputs"), str):
        return "has no fingerprint of its inputs"
    if not isinstance(losses, dict) or not all(
            isinstance(values, list) and all(isinstance(value, numbers.Real) and not isinstance(value, bool)
                                             for value in values) for values in losses.values()):
        return "has a loss history that is not lists of numbers"
    return ""


def exists(directory: str | Path) -> bool:
    """Whether `directory` holds a checkpoint this module wrote."""
    return (Path(directory) / STATE_FILE).is_file()


def restore(optimizer: StyleOptimizer, directory: str | Path, *, inputs: str) -> dict[str, list[float]]:
    """Loads the checkpoint in `directory` into `optimizer`; returns the loss history up to it.

    Raises ResumeError if there is no readable checkpoint, if it was made from other pictures (`inputs`
    fingerprint) or with settings (other than RESUMABLE_CHANGES) that differ from `optimizer.config`, or if
    it is already past `optimizer.config.steps`.
    """
    directory = Path(directory)
    state = read_state(directory)
    if state.get("inputs") != inputs:
        raise ResumeError(f"{directory}: the checkpoint was made from other content or style pictures (or other "
                          "sizes); resume with the same pictures, or start over")
    differences = _differences(state["config"], optimizer.config)
    if differences:
        raise ResumeError(f"{directory}: the checkpoint was made with other settings ({'; '.join(differences)}); "
                          "resume with the same settings, or start over")
    if optimizer.config.steps < state.get("step", 0):
        raise ResumeError(f"{directory}: the checkpoint is at step {state.get('step')}, past the {optimizer.config.steps} "
                          "steps asked for; ask for at least as many")
    latest = latest_checkpoint(directory)
    if latest is None:
        raise ResumeError(f"{directory}: {STATE_FILE} is there but the checkpoint files are not")
    try:
        restore_checkpoint(optimizer.checkpoint(), latest)
    except AssertionError as error:  # other objects than the optimiser's
        raise ResumeError(f"{directory}: cannot restore the checkpoint ({' '.join(str(error).split())[:300]})") from None
    if optimizer.steps_done != state.get("step"):  # a save stopped between the checkpoint and its state
        raise ResumeError(f"{directory}: the checkpoint (step {optimizer.steps_done}) and {STATE_FILE} (step "
                          f"{state.get('step')}) disagree; start over")
    return {name: list(values) for name, values in state.get("losses", {}).items()}


def _differences(saved: Mapping, config: StyleConfig) -> list[str]:
    current = config.to_flat_dict()
    # A setting added after the checkpoint was written had its default then, or its BEFORE_ADDED value.
    defaults = {**DEFAULT.to_flat_dict(), **BEFORE_ADDED}
    return [f"{name} was {saved.get(name, defaults[name])!r}, now {value!r}" for name, value in current.items()
            if name not in RESUMABLE_CHANGES and saved.get(name, defaults[name]) != value]
