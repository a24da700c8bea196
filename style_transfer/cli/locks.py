"""One process per output: a lock file beside the output, held while a run works towards it.

The lock is flock(2) on an open file, so the kernel releases it when its process ends, however it ends: a
killed run leaves at most an unlocked file, which the next run takes over. The file holds its owner's PID,
for the message of a run that finds it taken, and is removed when the lock is released.

Not the `filelock` package: its Unix lock leaves the file behind (removing it races with a waiting process)
and records no owner; removing it safely takes the inode check in `acquire`, which is most of this module.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from style_transfer.core.errors import OutputBusyError, OutputError


class OutputLock:
    """An exclusive lock on the file `path`, taken without waiting. `what` names what it guards in the error
    (OutputBusyError, naming the owner's PID). Usable with `with`."""

    def __init__(self, path: str | os.PathLike, what: str):
        self.path = Path(path)
        self.what = what
        self._descriptor: int | None = None
        self._created: list[Path] = []

    def acquire(self) -> OutputLock:
        try:
            for directory in reversed([self.path.parent, *self.path.parent.parents]):
                if not directory.exists():
                    directory.mkdir()  # the output's directory, which the run would create anyway
                    self._created.append(directory)
        except OSError as error:
            self._remove_created_directories()
            raise OutputError(f"{self.path}: cannot create its directory ({error.strerror or error})") from None
        while True:
            try:
                # O_NOFOLLOW: a symbolic link planted at the lock's name is refused, not followed.
                descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            except OSError as error:
                self._remove_created_directories()
                raise OutputError(f"{self.path}: cannot create the lock file ({error.strerror or error})") from None
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _owner(descriptor)
                os.close(descriptor)
                self._remove_created_directories()
                raise OutputBusyError(f"{self.what}: another run (PID {owner or 'unknown'}) is writing it; wait "
                                      "for it to end or choose another --output") from None
            # The previous owner removes the file before letting go: a lock taken on a removed file guards
            # nothing, so start again with the file now at the path.
            if _is_file_at(descriptor, self.path):
                break
            os.close(descriptor)
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        self._descriptor = descriptor
        return self

    def release(self) -> None:
        """Removes the lock file, then lets go of it; does nothing if not held."""
        if self._descriptor is None:
            return
        if _is_file_at(self._descriptor, self.path):
            self.path.unlink()
        os.close(self._descriptor)
        self._descriptor = None
        self._remove_created_directories()

    def _remove_created_directories(self) -> None:
        for directory in reversed(self._created):  # deepest first; only if the run left nothing in them
            try:
                directory.rmdir()
            except OSError:
                break
        self._created = []

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *_) -> None:
        self.release()


def _is_file_at(descriptor: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(descriptor), os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        return False


def _owner(descriptor: int) -> int | None:
    """The PID written in a held lock file; the owner writes it just after locking, so wait a moment for it."""
    for _ in range(10):
        text = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.05)
    return None
