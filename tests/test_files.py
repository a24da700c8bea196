import os
import stat

import pytest

from style_transfer.core import files
from style_transfer.core.errors import OutputExistsError


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


def test_a_line_written_outside_a_capture_in_another_thread_reaches_stderr_not_the_capture():
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import sys, threading
        from style_transfer.core import files

        started, release = threading.Event(), threading.Event()

        def decode():  # as a pipeline's thread decodes a picture
            with files.capture_stderr() as said:
                started.set()
                release.wait(10)
                print("decoder", file=sys.stderr, flush=True)
            print("captured:", said(), flush=True)

        thread = threading.Thread(target=decode)
        thread.start()
        started.wait()
        threading.Timer(0.5, release.set).start()
        with files.uncaptured_stderr():  # as the signal handler's message, meanwhile
            print("message", file=sys.stderr, flush=True)
        thread.join()
    """)
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert (finished.stdout, finished.stderr) == ("captured: ['decoder']\n", "message\n")


def test_damaged_checkpoint_files_are_a_resume_error_before_anything_is_restored(tmp_path):
    import tensorflow as tf

    from style_transfer.core.errors import ResumeError

    weights = tf.Variable(tf.range(1000, dtype=tf.float32))
    prefix = tf.train.CheckpointManager(tf.train.Checkpoint(weights=weights), str(tmp_path), 1).save()
    assert files.latest_checkpoint(tmp_path) == prefix
    data = tmp_path / f"{os.path.basename(prefix)}.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:-100])
    target = tf.Variable(tf.zeros(1000))
    with pytest.raises(ResumeError, match="cannot restore the checkpoint, it is damaged"):
        files.restore_checkpoint(tf.train.Checkpoint(weights=target), prefix)
    assert not target.numpy().any()  # nothing restored, not even in part
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "/elsewhere/ckpt-1"\n')
    with pytest.raises(ResumeError, match="names a checkpoint outside"):
        files.latest_checkpoint(tmp_path)
    (tmp_path / "checkpoint").write_bytes(b"\xff\xfe garbage")
    with pytest.raises(ResumeError, match="damaged checkpoint index"):
        files.latest_checkpoint(tmp_path)


def test_one_numbering_for_every_taken_name(tmp_path, monkeypatch):
    from itertools import islice
    from pathlib import Path

    from style_transfer.core.files import numbered
    from style_transfer.optimize import api, layout

    assert list(islice(numbered("photo_starry", ".png"), 3)) == ["photo_starry.png", "photo_starry_2.png",
                                                                  "photo_starry_3.png"]
    # Results of the optimiser and TensorBoard runs give way alike.
    assert [api.new_run_dir(tmp_path, "run").name for _ in range(3)] == ["run", "run_2", "run_3"]
    (tmp_path / "a_b.png").write_bytes(b"")
    (tmp_path / "a_b_2.png_run").mkdir()
    monkeypatch.chdir(tmp_path)
    assert layout.default_output("a.jpg", "b.jpg") == Path("a_b_3.png")


def test_save_numbered_gives_a_name_taken_meanwhile_way_to_the_next(tmp_path):
    (tmp_path / "result.png").write_bytes(b"earlier")
    tried = []

    def save(path):  # another writer takes result_2.png between the look and the write
        tried.append(path.name)
        if path.name == "result_2.png":
            path.write_bytes(b"the other run's")
        return files.atomic_write(path, lambda stream: stream.write(b"this run's"), overwrite=False)

    written = files.save_numbered(tmp_path, "result", ".png", save)
    assert tried == ["result_2.png", "result_3.png"] and written == tmp_path / "result_3.png"
    assert [(tmp_path / name).read_bytes() for name in ("result.png", "result_2.png", "result_3.png")] == [
        b"earlier", b"the other run's", b"this run's"]


def test_save_numbered_gives_up_on_a_save_that_refuses_every_name(tmp_path):
    def refuse(path):
        raise OutputExistsError(f"{path}: already exists")

    with pytest.raises(OutputExistsError):
        files.save_numbered(tmp_path, "result", ".png", refuse)
