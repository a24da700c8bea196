"""Each browser session's own temporary folder, and the run it has going.

A session is what Gradio calls one: a page open in a browser (or one `gradio_client.Client`), named by its
`session_hash`. Its results are written to its own folder under the app's root folder, and the folder is
removed when the session ends (Gradio's unload event, once the page's heartbeat stops) or when the app closes.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
import threading
from pathlib import Path

# Session hashes come from the browser: only these characters name a folder, so no hash can lead outside the
# root (Gradio makes them from letters and digits).
_SAFE_HASH = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Sessions:
    """The sessions of one app: `folder(session)` creates its folder on first use, `begin_run(session)` gives
    the Event its painting watches (`stop(session)` sets it), `end(session)` removes the folder (once a run
    going on has ended), `close()` stops every run and removes every folder."""

    def __init__(self, parent: str | Path | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="style-transfer-ui-", dir=parent))
        self._lock = threading.Lock()
        self._stops: dict[str, threading.Event] = {}
        self._running: dict[str, threading.Event] = {}  # set while the session has no run going
        self._ended: set[str] = set()  # sessions that ended while a run of theirs went on
        atexit.register(self.close)  # also when the program ends without closing the app (an exception)

    def _checked(self, session: str) -> str:
        if not isinstance(session, str) or not _SAFE_HASH.fullmatch(session):
            raise ValueError(f"not a session name: {str(session)[:80]!r}")
        return session

    def folder(self, session: str) -> Path:
        """The session's folder, created if it does not exist yet."""
        folder = self.root / self._checked(session)
        folder.mkdir(exist_ok=True)
        return folder

    def begin_run(self, session: str) -> threading.Event:
        """A fresh stop Event for the session's new run (Stop sets it)."""
        with self._lock:
            stop = self._stops[self._checked(session)] = threading.Event()
            self._running.setdefault(session, threading.Event()).clear()
        return stop

    def end_run(self, session: str) -> None:
        with self._lock:
            self._running.setdefault(session, threading.Event()).set()
            ended = session in self._ended
        if ended:  # the page closed while this run went on: its folder goes now
            self._remove(session)

    def stop(self, session: str) -> bool:
        """Asks the session's run to stop after its current step; whether one was going."""
        with self._lock:
            stop = self._stops.get(session)
            running = session in self._running and not self._running[session].is_set()
        if stop is not None:
            stop.set()
        return running

    def running(self) -> list[str]:
        """The sessions that have a run going."""
        with self._lock:
            return sorted(session for session, idle in self._running.items() if not idle.is_set())

    def end(self, session: str) -> None:
        """The session is over: its folder is removed now, or if it has a run going, when that run ends.

        The run is not stopped here: Gradio ends the session when the page's heartbeat stops, which a page
        that is still open can also cause (a connection dropped under load). A page that has really gone
        stops its run otherwise: Gradio closes the run's generator once the page's event stream drops, and
        the generator's `finally` sets the stop event (paint.paint, fast_video.stylise)."""
        try:
            session = self._checked(session)
        except ValueError:
            return
        with self._lock:
            running = session in self._running and not self._running[session].is_set()
            if running:
                self._ended.add(session)
        if not running:
            self._remove(session)

    def _remove(self, session: str) -> None:
        with self._lock:
            self._stops.pop(session, None)
            self._running.pop(session, None)
            self._ended.discard(session)
        shutil.rmtree(self.root / session, ignore_errors=True)

    def close(self) -> None:
        """Stops every run and removes every session's folder and the root."""
        with self._lock:
            stops = list(self._stops.values())
        for stop in stops:
            stop.set()
        shutil.rmtree(self.root, ignore_errors=True)
