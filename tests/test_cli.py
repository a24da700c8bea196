"""What the three commands share (cli.py): signals, in real processes, since that is where they arrive.

A first SIGINT or SIGTERM asks for a stop after the current step, which still saves; a second one quits at
once, even in the middle of a long TensorFlow operation, unless results are being written.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_process_left_behind():
    """A test that fails half-way leaves no process running (one of them never ends by itself)."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def start(script: str, tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path, Path]:
    """Starts `python -c script` (or, with args, a command) in tmp_path; stdout and stderr go to files, which
    the test reads while the process runs."""
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    command = [sys.executable, "-c", textwrap.dedent(script)] if script else list(args)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(stdout, "w") as out, open(stderr, "w") as err:
        process = subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=out, stderr=err)
    STARTED.append(process)
    return process, stdout, stderr


def wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"gave up waiting for {what} (exit status {process.wait()})")
        time.sleep(0.05)


def seconds_to_exit(process: subprocess.Popen, limit: float = 60) -> float:
    sent = time.monotonic()
    try:
        process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return time.monotonic() - sent


def test_a_second_signal_ends_a_long_tensorflow_operation_at_once(tmp_path):
    marker = tmp_path / "running"
    process, stdout, stderr = start(f"""
        import tensorflow as tf
        from style_transfer import cli

        @tf.function
        def endless(x):  # one TensorFlow call that never returns: Python runs no handler meanwhile
            tf.print("running", output_stream="file://{marker}")
            return tf.while_loop(lambda i, x: i >= 0, lambda i, x: (i + 1, tf.tanh(tf.matmul(x, x))),
                                 [tf.constant(0), x])[1]

        with cli.StopOnSignal("test") as stopper:
            endless(tf.ones([32, 32]))
        print("the operation returned")
    """, tmp_path)
    wait_for(lambda: marker.exists() and "running" in marker.read_text(), process, "the operation to start")
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    # The first signal is answered at once, although the main thread is inside TensorFlow...
    wait_for(lambda: "SIGINT received: stopping after this step" in stderr.read_text(), process,
             "the first signal's message", timeout=10)
    assert process.poll() is None  # ...and asks only for a stop after the step
    process.send_signal(signal.SIGINT)
    assert seconds_to_exit(process) < 2
    assert process.returncode == 128 + signal.SIGINT
    assert "test: SIGINT received again: quitting at once, without saving" in stderr.read_text()
    assert "returned" not in stdout.read_text()


def test_signals_wait_while_results_are_written_and_a_later_one_quits(tmp_path):
    process, stdout, stderr = start("""
        import time
        from style_transfer import cli

        with cli.StopOnSignal("test") as stopper:
            stopper.saving = True
            print("saving", flush=True)
            time.sleep(3)
            stopper.saving = False
            print("saved", stopper.received, stopper.stop.is_set(), flush=True)
            time.sleep(120)
    """, tmp_path)
    wait_for(lambda: "saving" in stdout.read_text(), process, "the save to start")
    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGINT)
    wait_for(lambda: "saved" in stdout.read_text(), process, "the save to end", timeout=60)
    # Both waited for the save; the first is the one reported. They asked to stop, so the next quits at once.
    assert stdout.read_text().splitlines()[-1] == f"saved {int(signal.SIGTERM)} False"
    assert stderr.read_text().count("received: stopping once the results are saved") == 2
    process.send_signal(signal.SIGINT)
    assert seconds_to_exit(process) < 2 and process.returncode == 128 + signal.SIGINT


def test_the_handlers_and_the_wakeup_descriptor_are_put_back():
    from style_transfer import cli

    before = {number: signal.getsignal(number) for number in cli.StopOnSignal.SIGNALS}
    previous_fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(previous_fd)
    with cli.StopOnSignal("test") as stopper:
        assert signal.getsignal(signal.SIGINT) == stopper._handle
        os.kill(os.getpid(), signal.SIGINT)  # in-process: seen as soon as Python runs again
        assert stopper.stop.is_set() and stopper.received == signal.SIGINT
    assert {number: signal.getsignal(number) for number in cli.StopOnSignal.SIGNALS} == before
    assert signal.set_wakeup_fd(previous_fd) == previous_fd
    assert not stopper._watcher.is_alive()


# The optimiser's command, at a size where one step takes seconds.

def style_transfer_run(tmp_path, content_path, style_path):
    return start("", tmp_path, sys.executable, "-m", "style_transfer.run", "--content", str(content_path),
                 "--style", str(style_path), "--weights", "random", "--max_dim", "384", "--steps", "50",
                 "--save_every", "1", "--init", "noise", "--output", "out.png", "--nosummary")


@pytest.mark.parametrize("signals", [1, 2])
def test_during_a_step_one_signal_saves_a_checkpoint_after_it_and_two_quit_at_once(tmp_path, content_path,
                                                                                    style_path, signals):
    from style_transfer.optimize import layout

    process, _, stderr = style_transfer_run(tmp_path, content_path, style_path)
    run_dir = layout.run_directory(tmp_path / "out.png")
    wait_for(lambda: (run_dir / "step_000001.png").exists(), process, "the first step")
    process.send_signal(signal.SIGTERM)
    wait_for(lambda: "SIGTERM received: stopping after this step" in stderr.read_text(), process,
             "the first signal's message", timeout=10)
    if signals == 2:
        steps_before = len(list(run_dir.glob("step_*.png")))
        process.send_signal(signal.SIGTERM)
        assert seconds_to_exit(process) < 2 and process.returncode == 128 + signal.SIGTERM
        assert "SIGTERM received again: quitting at once, without saving" in stderr.read_text()
        assert len(list(run_dir.glob("step_*.png"))) == steps_before  # the step under way was not finished
    else:
        process.wait(timeout=600)
        assert process.returncode == 128 + signal.SIGTERM, stderr.read_text()
        last_line = stderr.read_text().strip().splitlines()[-1]
        assert last_line.startswith("style-transfer: SIGTERM: stopped after step ") and "Resume with:" in last_line
        assert (run_dir / "checkpoint" / "state.json").exists()
    assert "Traceback" not in stderr.read_text()


# Mistakes are reported before TensorFlow is imported (which takes seconds, a minute on a loaded machine).

def mistakes_in_a_fresh_process(tmp_path, cases) -> None:
    """Runs each (command, arguments, exit status, what its line says[, environment variables]) of `cases` in
    one fresh process, with `run`, `train` or `apply` for command; checks the status, the one line, and that
    TensorFlow was not imported."""
    import json

    cases = [(*case, {})[:5] for case in cases]
    script = f"""
        import json, os, sys
        from style_transfer.cli import apply, run, train_fast

        def style_transfer(args):
            run.FLAGS.unparse_flags()
            return run._main_with_errors(run._parse_flags(["style-transfer", *args]))

        commands = {{"run": style_transfer,
                    "train": lambda args: train_fast.COMMAND.run(train_fast.main, ["style-transfer-train", *args]),
                    "apply": lambda args: apply.COMMAND.run(apply.main, ["style-transfer-apply", *args])}}
        results = [["import", None, "tensorflow" in sys.modules]]
        for command, args, _, _, environment in {cases!r}:
            os.environ.update(environment)
            try:
                status = commands[command](args)
            except SystemExit as exit_:
                status = exit_.code
            for name in environment:
                del os.environ[name]
            results.append([" ".join([command, *args]), status, "tensorflow" in sys.modules])
        print(json.dumps(results))
    """
    finished = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)
    results = json.loads(finished.stdout.splitlines()[-1])
    assert results[0] == ["import", None, False]
    lines = finished.stderr.splitlines()
    assert len(lines) == len(cases), finished.stderr
    for (label, status, imported), (_, _, expected_status, message, _), line in zip(results[1:], cases, lines):
        assert (status, imported) == (expected_status, False), (label, status, imported, line)
        assert message in line and ": error: " in line, (label, line)


def test_style_transfer_reports_mistakes_before_importing_tensorflow(tmp_path, content_path, style_path):
    from style_transfer.optimize import layout

    (tmp_path / "notes.jpg").write_text("not a picture")
    (tmp_path / "taken.png").write_bytes(content_path.read_bytes())
    checkpoint = layout.checkpoint_directory(tmp_path / "resumed.png")
    checkpoint.mkdir(parents=True)
    (checkpoint / "state.json").write_text("{garbage")
    content, style = str(content_path), str(style_path)
    mistakes_in_a_fresh_process(tmp_path, [
        ("run", ["--content", "missing.jpg", "--style", style], 1, "missing.jpg: no such file"),
        ("run", ["--content", content, "--style", "notes.jpg"], 1, "notes.jpg: not an image Pillow can read"),
        ("run", ["--content", content, "--style", style, "--output", "taken.png"], 2, "taken.png: already exists"),
        ("run", ["--content", content, "--style", style, "--steps", "-3"], 2, "--steps: must be"),
        ("run", ["--content", content, "--style", style, "--output", "resumed.png", "--resume"], 1,
         "unreadable checkpoint state"),
    ])


def test_style_transfer_train_reports_mistakes_before_importing_tensorflow(tmp_path, content_path, style_path):
    import json

    from conftest import write_damaged_pictures

    write_damaged_pictures(tmp_path / "damaged", content_path)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "photo.jpg").write_bytes(content_path.read_bytes())
    for name, config in (("run", "{}"), ("garbage", "\x00{not json"), ("wrong_types", '{"config": [1, 2]}')):
        (tmp_path / name / "checkpoints").mkdir(parents=True)  # a training run's model directory
        (tmp_path / name / "config.json").write_text(config)
        (tmp_path / name / "checkpoints" / "ckpt-1.index").write_bytes(b"")
    style = str(style_path)
    cluster = {"worker": ["localhost:1", "localhost:2"]}
    workers = [{"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
               for index in range(2)]
    multi_worker = ["--style", style, "--model_dir", "m", "--strategy", "multi_worker"]
    mistakes_in_a_fresh_process(tmp_path, [
        ("train", ["--style", "missing.jpg", "--data", "damaged", "--model_dir", "m"], 1, "missing.jpg: no such file"),
        ("train", ["--style", style, "--data", "nowhere", "--model_dir", "m"], 1, "data folder nowhere: no such"),
        ("train", ["--style", style, "--data", "damaged", "--model_dir", "m"], 1, "none of its 3 files"),
        ("train", ["--style", style, "--data", "damaged", "--model_dir", "run"], 2, "run: holds a training run"),
        ("train", ["--style", style, "--data", "damaged", "--model_dir", "m", "--filters", "0"], 2, "--filters: must"),
        ("train", ["--style", style, "--data", "photos", "--model_dir", "garbage", "--resume"], 1,
         "config.json: damaged, so the run cannot be resumed"),
        ("train", ["--style", style, "--data", "photos", "--model_dir", "wrong_types", "--resume"], 1,
         "config.json: damaged, so the run cannot be resumed"),
        ("train", [*multi_worker, "--data", "photos"], 2, "--strategy: TF_CONFIG is not of the form",
         {"TF_CONFIG": '{"cluster": {"worker": ["localhost:1"]}'}),
        ("train", [*multi_worker, "--data", "photos"], 2, "--strategy: TF_CONFIG's task 'worker' 2 is not in",
         {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 2}})}),
        # Every worker of a cluster stops with the same line, before any of them waits for the others.
        ("train", [*multi_worker, "--data", "damaged"], 1, "damaged: none of its 3 files", workers[0]),
        ("train", [*multi_worker, "--data", "damaged"], 1, "damaged: none of its 3 files", workers[1]),
    ])


def test_style_transfer_apply_reports_mistakes_before_importing_tensorflow(tmp_path, content_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "saved_model.pb").write_bytes(b"")  # an export as far as can be told without loading it
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a network")
    (tmp_path / "unexported" / "checkpoints").mkdir(parents=True)  # a training run that has not exported yet
    (tmp_path / "unexported" / "config.json").write_bytes(b"\xff\x00 garbage")
    (tmp_path / "taken.png").write_bytes(content_path.read_bytes())
    content = str(content_path)
    mistakes_in_a_fresh_process(tmp_path, [
        ("apply", ["--model", "model", "--content", "missing.jpg"], 1, "missing.jpg: no such file"),
        ("apply", ["--model", "nowhere", "--content", content], 1, "nowhere: no such model directory"),
        ("apply", ["--model", "notes", "--content", content], 1, "notes: not a SavedModel export"),
        ("apply", ["--model", "unexported", "--content", content], 1, "unexported: a training run without its export"),
        ("apply", ["--model", "model", "--content", content, "--output", "taken.png"], 2, "taken.png: already exists"),
        ("apply", ["--model", "model", "--content", content, "--batch_size", "0"], 2, "--batch_size: must be"),
        ("apply", ["--model", "model", "--content", content, "--max_dim", "4"], 2, "--max_dim: must be 0 (keep each "
         "picture's size) or at least 5, got 4"),
    ])
