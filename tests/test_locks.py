import os
import subprocess
import sys

import pytest

from style_transfer.cli import locks
from style_transfer.core.errors import OutputBusyError, OutputError


@pytest.fixture
def holder():
    """Starts a process that takes the lock at a path and keeps it until stopped; returns that process."""
    processes = []

    def hold(path):
        script = ("import sys, time\nfrom style_transfer.cli.locks import OutputLock\n"
                  f"OutputLock({str(path)!r}, 'x').acquire()\nprint('held', flush=True)\ntime.sleep(120)\n")
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        processes.append(process)
        assert process.stdout.readline() == "held\n"
        return process

    yield hold
    for process in processes:
        process.kill()
        process.wait()


def test_a_lock_held_by_another_process_names_it_and_is_taken_once_it_ends(tmp_path, holder):
    path = tmp_path / ".o.png.lock"
    process = holder(path)
    with pytest.raises(OutputBusyError, match=rf"^o.png: another run \(PID {process.pid}\) is writing it"):
        locks.OutputLock(path, "o.png").acquire()
    assert path.exists()  # the owner's file is left alone
    process.kill()  # killed: the kernel lets go of the lock, the file stays
    process.wait()
    with locks.OutputLock(path, "o.png"):
        assert path.read_text() == f"{os.getpid()}\n"
    assert not path.exists()


def test_a_released_lock_leaves_nothing_and_a_stale_handle_does_not_lock_its_successor(tmp_path):
    path = tmp_path / "new" / "dir" / ".o.png.lock"
    first = locks.OutputLock(path, "o.png").acquire()
    stale = os.open(path, os.O_RDWR)  # a process that opened the file just before the owner removed it
    first.release()
    assert not (tmp_path / "new").exists()  # the directories it made for itself went with it
    import fcntl

    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # it locks the removed file...
    with locks.OutputLock(path, "o.png"):  # ...which guards nothing: the path's file is free
        with pytest.raises(OutputBusyError):
            locks.OutputLock(path, "o.png").acquire()  # and now held, even within one process
    os.close(stale)


def test_a_symbolic_link_at_the_locks_name_is_refused_not_followed(tmp_path):
    (tmp_path / "precious.txt").write_text("mine")
    (tmp_path / ".o.png.lock").symlink_to(tmp_path / "precious.txt")
    with pytest.raises(OutputError, match="cannot create the lock file"):
        locks.OutputLock(tmp_path / ".o.png.lock", "o.png").acquire()
    assert (tmp_path / "precious.txt").read_text() == "mine"
