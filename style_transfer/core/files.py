"""File plumbing shared by image_io, checkpoints, training and the CLI: atomic writes, capturing stderr at fd
level, and finding the latest TensorFlow checkpoint of a directory without trusting what its index file names."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from style_transfer.core.errors import OutputExistsError, ResumeError


def atomic_write(path: Path, write: Callable[[BinaryIO], None], *, overwrite: bool) -> Path:
    """Creates `path` (and its directory) whole or not at all: `write` fills a temporary file beside it,
    which then moves into place with ordinary permissions. Without `overwrite` an existing file is never
    replaced, even one that appears meanwhile (OutputExistsError)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        move_into_place(Path(temporary), path, overwrite=overwrite)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def move_into_place(temporary: Path, path: Path, *, overwrite: bool) -> None:
    """Gives the finished file `temporary` (made by mkstemp beside `path`) ordinary permissions and the name
    `path`. Without `overwrite` an existing file is never replaced, even one that appears meanwhile
    (OutputExistsError, and `temporary` is left for the caller to remove)."""
    os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600
    if overwrite:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # fails if the name exists: no race with another writer
    except FileExistsError:
        raise OutputExistsError(f"{path}: already exists; not overwriting it") from None
    except OSError:  # file systems without hard links
        if path.exists():
            raise OutputExistsError(f"{path}: already exists; not overwriting it") from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# File descriptor 2 is the process's: while capture_stderr redirects it, whatever another thread writes to
# stderr lands in the capture (and comes out later as the decoder's words, or never if the process ends
# first). Captures hold this lock, and so does code writing a line that must reach the terminal meanwhile
# (uncaptured_stderr). Reentrant: a capture's holder may log under it.
STDERR_LOCK = threading.RLock()


@contextlib.contextmanager
def capture_stderr():
    """Captures what is written to file descriptor 2 meanwhile, by C libraries too; yields a function
    returning the captured non-empty lines once the block has ended. Where fd 2 cannot be redirected, it
    captures nothing. Holds STDERR_LOCK throughout."""
    with STDERR_LOCK:
        with _captured_stderr() as printed:
            yield printed


@contextlib.contextmanager
def uncaptured_stderr(timeout: float = 5.0):
    """Within it, what this thread writes to stderr reaches it rather than a capture under way in another
    thread: it holds STDERR_LOCK, waiting for a capture to end at most `timeout` seconds (then it writes
    anyway, rather than hang on a stalled decoder)."""
    acquired = STDERR_LOCK.acquire(timeout=timeout)
    try:
        yield
    finally:
        if acquired:
            STDERR_LOCK.release()


@contextlib.contextmanager
def _captured_stderr():
    lines: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield lambda: lines
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield lambda: lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines.extend(line.strip() for line in captured.read().decode("utf8", "replace").splitlines()
                         if line.strip())


def latest_checkpoint(directory: str | os.PathLike) -> str | None:
    """The prefix of the latest checkpoint tf.train.CheckpointManager wrote in `directory` (None if there is
    none). ResumeError if its index file (`checkpoint`) is damaged or names a checkpoint outside `directory`:
    restoring would read another run's files, and the next save would delete the files it names."""
    import tensorflow as tf

    directory = Path(directory)
    index = directory / "checkpoint"
    if not index.exists():
        return None
    try:
        # TensorFlow logs a damaged index and returns None, as if there were no checkpoint; here it is an error.
        with _silenced(logging.getLogger("tensorflow")):
            state = tf.train.get_checkpoint_state(str(directory))
    except (tf.errors.OpError, ValueError) as error:  # ValueError: no path in it, or not UTF-8
        raise ResumeError(f"{index}: damaged checkpoint index ({' '.join(str(error).split())[:200]})") from None
    if state is None:
        raise ResumeError(f"{index}: damaged checkpoint index (not a checkpoint state)")
    inside = directory.resolve()
    for prefix in [state.model_checkpoint_path, *state.all_model_checkpoint_paths]:
        if Path(prefix).resolve().parent != inside:
            raise ResumeError(f"{index}: names a checkpoint outside {directory} ({prefix}); it is damaged or not "
                              "this run's")
    return state.model_checkpoint_path


def restore_checkpoint(checkpoint, prefix: str) -> None:
    """checkpoint.restore(prefix), requiring every object of `checkpoint` (a tf.train.Checkpoint) to be in it.

    ResumeError naming the reason if the files cannot be read (cut short or altered: their checksums fail, or
    TensorFlow's reader trips over them); AssertionError if they hold other objects, or values of other shapes."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    # Every value is read (and its checksum checked) before any is restored: a restore failing half-way
    # would leave half-restored objects, whose deletion later logs warnings about unrestored values.
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, DecodeError, ValueError, IndexError, KeyError, TypeError, EOFError) as error:
        # What TensorFlow raises on damaged files besides OpError was found by fuzzing (tests/test_checkpoints.py).
        raise ResumeError(f"{prefix}: cannot restore the checkpoint, it is damaged ({type(error).__name__}: "
                          f"{' '.join(str(error).split())[:300]})") from None
    try:
        checkpoint.restore(prefix).expect_partial().assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError) as error:  # a value that does not fit its variable
        raise AssertionError(str(error)) from None


@contextlib.contextmanager
def _silenced(logger: logging.Logger):
    def drop(record):
        return False

    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)



def numbered(stem: str, suffix: str = "") -> Iterator[str]:
    """The names a taken one gives way to, in order: stem + suffix, then stem_2 + suffix, stem_3 + suffix, ...
    The one numbering of every default name: results, run directories, TensorBoard runs."""
    yield f"{stem}{suffix}"
    for number in itertools.count(2):
        yield f"{stem}_{number}{suffix}"


def save_numbered(folder: Path, stem: str, suffix: str, save: Callable[[Path], Path]) -> Path:
    """`save(path)` at the first free name of `numbered(stem, suffix)` in `folder`; returns what `save` returns.
    `save` must never overwrite (it raises OutputExistsError, as atomic_write does): a name another writer
    takes meanwhile (a second run of the same session) then gives way to the next one instead of losing the
    result."""
    taken = 0
    for name in numbered(stem, suffix):
        path = folder / name
        if path.exists():
            continue
        try:
            return save(path)
        except OutputExistsError:
            taken += 1
            if taken >= 100:  # not a race any more: a save that refuses every name
                raise

# Lines TensorFlow's C++ runtime writes while it is imported, before its logging honours
# TF_CPP_MIN_LOG_LEVEL: a banner about absl::InitializeLog, oneDNN and CPU-feature notes, missing CUDA.
_TENSORFLOW_IMPORT_BANNER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard|cuda_\w+)\.cc:\d+\] .*)$")


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its start-up banner filtered out of stderr; any other line is passed on."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with capture_stderr() as printed:
        import tensorflow  # noqa: F401
    for line in printed():
        if not _TENSORFLOW_IMPORT_BANNER.match(line):
            print(line, file=sys.stderr)
