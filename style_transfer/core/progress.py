"""The one progress display: a line redrawn in place, "120/380 steps, 4.52 steps/s, ETA 0:58, loss 1.234e+05".

It is terminal output, so library code never makes one: the command line (or a notebook) creates it and hands
it in, directly or through a callback (optimize.callbacks.ProgressBar). It draws only on a terminal (or in a
notebook), and its line is erased, not left behind, when it is closed.

    progress = Progress(len(frames), unit="frame")
    for frame in frames:
        ...
        progress.update()          # one more done; progress.update(4) for four
    progress.close()
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from style_transfer.core.files import STDERR_LOCK


def interactive(stream: TextIO) -> bool:
    """Whether a line redrawn in place shows as one on `stream`: a terminal, or a notebook's output."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or closed
        return False
    return stream in (sys.stdout, sys.stderr) and in_notebook()


def in_notebook() -> bool:
    """Whether this process is a running Jupyter kernel (not merely one that imported ipykernel, as a test
    process that executed a notebook has)."""
    ipython = sys.modules.get("IPython")
    try:
        shell = ipython.get_ipython() if ipython is not None else None
    except Exception:  # an IPython half torn down: no notebook to draw in
        return False
    return getattr(shell, "kernel", None) is not None


def format_duration(seconds: float) -> str:
    """"0:07", "12:30", "2:05:00"."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """`count`/`total` units done, the rate, the time left, and any `values` (such as the loss), as one line
    redrawn in place on `stream` (default stderr) when `enabled` and the stream is interactive.

    `initial`: units already done before this display started (a resumed run); the rate counts only those
    done since. Redrawn at most every `min_interval` seconds, and always for the last unit. Writing holds
    core.files.STDERR_LOCK, so a line never lands in a decoder's stderr capture under way in another thread.
    """

    def __init__(self, total: int | None, unit: str = "step", *, initial: int = 0, stream: TextIO | None = None,
                 enabled: bool = True, min_interval: float = 0.1):
        self.total = total
        self.unit = unit
        self.initial = self.count = initial
        self.values: dict[str, float] = {}
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and interactive(self.stream)
        self.min_interval = min_interval
        self.started = time.perf_counter()
        self._terminal = self._isatty()
        self._shown = 0  # characters of the line on screen (0: none)
        self._drawn_at = -math.inf

    def update(self, n: int = 1, **values: float) -> None:
        """`n` more units done; `values` (e.g. loss=...) are shown after the rate."""
        self.update_to(self.count + n, **values)

    def update_to(self, count: int, **values: float) -> None:
        """`count` units done in all (e.g. the step a loop has reached)."""
        self.count = count
        self.values.update(values)
        now = time.perf_counter()
        last = self.total is not None and count >= self.total
        if self.enabled and (last or now - self._drawn_at >= self.min_interval):
            self._draw(self.text())
            self._drawn_at = now

    @property
    def rate(self) -> float | None:
        """Units per second since the display started (None before the first)."""
        done = self.count - self.initial
        return done / max(time.perf_counter() - self.started, 1e-9) if done > 0 else None

    @property
    def seconds_left(self) -> float | None:
        rate = self.rate
        return max(self.total - self.count, 0) / rate if rate and self.total is not None else None

    def text(self) -> str:
        """The line as it is drawn, without the escape codes."""
        parts = [f"{self.count}/{self.total} {self.unit}s" if self.total is not None else f"{self.count} {self.unit}s"]
        rate = self.rate
        if rate is not None:
            parts.append(f"{rate:.2f} {self.unit}s/s" if rate >= 1 else f"{1 / rate:.2f} s per {self.unit}")
            if self.total is not None and self.count < self.total:
                parts.append(f"ETA {format_duration(self.seconds_left)}")
        parts += [f"{name} {value:.4g}" for name, value in self.values.items()]
        return ", ".join(parts)

    def clear(self) -> None:
        """Erases the line (before printing something else); the next update draws it again."""
        if self._shown:
            self._draw("")
            self._drawn_at = -math.inf

    def close(self) -> None:
        """Erases the line for good."""
        self.clear()
        self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def _isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def _draw(self, line: str) -> None:
        # A terminal erases the old line with an escape code; a notebook's output, which ignores most of them,
        # replaces the text after "\r", so spaces cover what a shorter line leaves.
        if self._terminal:
            text = f"\r\033[K{line}"
        else:
            text = f"\r{line}{' ' * max(self._shown - len(line), 0)}" + ("\r" if not line else "")
        try:
            with STDERR_LOCK:
                self.stream.write(text)
                self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: the work goes on without its display
            self.enabled = False
        self._shown = len(line)
