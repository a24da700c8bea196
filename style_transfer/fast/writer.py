"""One background thread that writes results in the order they are given, while the caller computes the
next ones (encoding and zlib release the GIL)."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Callable


class BackgroundWriter:
    """Runs the functions submitted to it one at a time, in order, in one thread. `on_busy(True)` is called
    when a write is submitted, and `on_busy(False)` once none is left, so the command line can make a signal
    wait for a write in progress rather than quit halfway through it."""

    def __init__(self, on_busy: Callable[[bool], None] | None = None, name: str = "style-transfer-writer"):
        self._on_busy = on_busy or (lambda busy: None)
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._in_flight = 0

    def submit(self, function, *args) -> concurrent.futures.Future:
        with self._lock:
            self._in_flight += 1
            self._on_busy(True)
        future = self._executor.submit(function, *args)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future) -> None:
        with self._lock:
            self._in_flight -= 1
            self._on_busy(self._in_flight > 0)

    def shutdown(self) -> None:
        """Waits for the writes submitted, then ends the thread."""
        self._executor.shutdown(wait=True)
