import os
import stat

import pytest

from style_transfer import files
from style_transfer.errors import OutputExistsError


def test_atomic_write_creates_whole_files_with_ordinary_permissions_and_never_replaces_unasked(tmp_path):
    old = os.umask(0o022)
    try:
        path = files.atomic_write(tmp_path / "new" / "a.bin", lambda stream: stream.write(b"first"), overwrite=False)
    finally:
        os.umask(old)
    assert path.read_bytes() == b"first" and stat.S_IMODE(path.stat().st_mode) == 0o644
    with pytest.raises(OutputExistsError):
        files.atomic_write(path, lambda stream: stream.write(b"second"), overwrite=False)
    files.atomic_write(path, lambda stream: stream.write(b"third"), overwrite=True)
    assert path.read_bytes() == b"third" and os.listdir(path.parent) == ["a.bin"]


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    def fail(stream):
        stream.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        files.atomic_write(tmp_path / "a.bin", fail, overwrite=False)
    assert os.listdir(tmp_path) == []


def test_capture_stderr_catches_what_c_code_writes_to_fd_2(capfd):
    with files.capture_stderr() as printed:
        os.write(2, b"from C\n\n  second line \n")
    assert printed() == ["from C", "second line"]
    assert capfd.readouterr().err == ""
