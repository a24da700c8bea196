"""File plumbing shared by image_io, checkpoints and the CLI: atomic writes and capturing stderr at fd level."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from style_transfer.errors import OutputExistsError


def atomic_write(path: Path, write: Callable[[BinaryIO], None], *, overwrite: bool) -> Path:
    """Creates `path` (and its directory) whole or not at all: `write` fills a temporary file beside it,
    which then moves into place with ordinary permissions. Without `overwrite` an existing file is never
    replaced, even one that appears meanwhile (OutputExistsError)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600
        if overwrite:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)  # fails if the name exists: no race with another writer
            except FileExistsError:
                raise OutputExistsError(f"{path}: already exists; not overwriting it") from None
            except OSError:  # file systems without hard links
                if path.exists():
                    raise OutputExistsError(f"{path}: already exists; not overwriting it") from None
                os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def capture_stderr():
    """Captures what is written to file descriptor 2 meanwhile, by C libraries too; yields a function
    returning the captured non-empty lines once the block has ended. Where fd 2 cannot be redirected, it
    captures nothing."""
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
