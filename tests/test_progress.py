import io
import types

import pytest

from style_transfer.core import progress as progress_lib
from style_transfer.core.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves: progress_lib's time.perf_counter() returns clock[0]."""
    now = [100.0]
    monkeypatch.setattr(progress_lib.time, "perf_counter", lambda: now[0])
    return now


def test_the_line_shows_count_rate_time_left_and_values(clock):
    terminal = Terminal()
    progress = Progress(10, "frame", stream=terminal)
    clock[0] += 2.0
    progress.update(4, loss=123456.0)
    assert terminal.getvalue() == "\r\033[K4/10 frames, 2.00 frames/s, ETA 0:03, loss 1.235e+05"
    clock[0] += 8.0
    progress.update(1)
    assert progress.text() == "5/10 frames, 2.00 s per frame, ETA 0:10, loss 1.235e+05"
    progress.close()
    assert terminal.getvalue().endswith("\r\033[K") and progress.text().startswith("5/10")
    progress.update()  # closed: nothing more is drawn
    assert terminal.getvalue().endswith("\r\033[K")


def test_nothing_is_drawn_off_a_terminal_or_when_disabled(clock):
    log = io.StringIO()
    progress = Progress(3, stream=log)
    clock[0] += 1
    progress.update(3)
    progress.close()
    assert log.getvalue() == "" and not progress.enabled and progress.rate == 3.0
    terminal = Terminal()
    Progress(3, stream=terminal, enabled=False).update(3)
    assert terminal.getvalue() == ""


def test_redraws_are_throttled_but_the_last_unit_and_a_cleared_line_are_drawn(clock):
    terminal = Terminal()
    progress = Progress(3, "step", stream=terminal, min_interval=0.5)
    clock[0] += 0.1
    progress.update()
    clock[0] += 0.1
    progress.update()  # 0.1 s after the last draw: skipped
    assert terminal.getvalue().count("\r\033[K") == 1
    progress.clear()
    progress.update_to(2)  # the cleared line comes back at once
    assert terminal.getvalue().count("\r\033[K") == 3 and terminal.getvalue().endswith("2/3 steps, 10.00 steps/s, ETA 0:00")
    progress.update()  # the last: drawn whatever the interval
    assert terminal.getvalue().endswith("3/3 steps, 15.00 steps/s")


def test_a_resumed_count_excludes_earlier_units_from_the_rate(clock):
    progress = Progress(100, "step", initial=40, stream=io.StringIO())
    assert progress.rate is None and progress.seconds_left is None and progress.text() == "40/100 steps"
    clock[0] += 5
    progress.update_to(50)
    assert progress.rate == 2.0 and progress.seconds_left == 25.0


def test_a_notebook_output_gets_spaces_instead_of_escape_codes(clock, monkeypatch):
    output = io.StringIO()
    monkeypatch.setattr(progress_lib.sys, "stdout", output)
    shell = types.SimpleNamespace(kernel=object())  # what IPython's get_ipython() is in a running kernel
    monkeypatch.setitem(progress_lib.sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    progress = Progress(20, "step", stream=output)
    clock[0] += 1
    progress.update(12)
    progress.update_to(20)
    progress.close()
    assert "\033" not in output.getvalue()
    assert output.getvalue().split("\r")[1:] == ["12/20 steps, 12.00 steps/s, ETA 0:01",
                                                 "20/20 steps, 20.00 steps/s" + " " * 10, " " * 26, ""]


def test_a_process_that_only_imported_ipykernel_is_not_a_notebook(monkeypatch):
    # A test run that executed a notebook has ipykernel and IPython imported, but no kernel of its own.
    output = io.StringIO()
    monkeypatch.setattr(progress_lib.sys, "stdout", output)
    monkeypatch.setitem(progress_lib.sys.modules, "ipykernel", object())
    monkeypatch.setitem(progress_lib.sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    progress = Progress(20, "step", stream=output)
    progress.update(12)
    progress.close()
    assert not progress_lib.interactive(output) and output.getvalue() == ""


def test_durations_read_as_a_clock():
    assert [progress_lib.format_duration(s) for s in (7, 750, 7500.4)] == ["0:07", "12:30", "2:05:00"]
