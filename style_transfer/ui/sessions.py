"""Each browser session's own temporary folder, and the run it has going.

A session is what Gradio calls one: a page open in a browser (or one `gradio_client.Client`), named by its
`session_hash`. Its results are written to its own folder under the app's root folder, and the folder is
removed when the session ends (Gradio's unload event, once the page's heartbeat stops) or when the app closes.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterator

# Session hashes come from the browser: only these characters name a folder, so no hash can lead outside the
# root (Gradio makes them from letters and digits).
_SAFE_HASH = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclasses.dataclass
class _Session:
    """What the app knows of a session besides its folder: the stop events of its runs going on (a page can
    start a second run while its first waits in the queue or, with more than one worker, runs), and whether
    the session has ended (its folder then goes when the last of them ends)."""

    runs: list[threading.Event] = dataclasses.field(default_factory=list)
    ended: bool = False


class Sessions:
    """The sessions of one app: `folder(session)` creates its folder on first use, `run(session)` holds a run's
    stop Event while it goes on (`stop(session)` sets those of all the session's runs), `end(session)` removes
    the folder (once the runs going on have ended), `close()` stops every run and removes every folder."""

    def __init__(self, parent: str | Path | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="style-transfer-ui-", dir=parent))
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
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

    @contextlib.contextmanager
    def run(self, session: str) -> Iterator[threading.Event]:
        """Within it, a run of the session goes on: yields the run's own stop Event (Stop sets it)."""
        stop = self.begin_run(session)
        try:
            yield stop
        finally:
            self.end_run(session, stop)

    def begin_run(self, session: str) -> threading.Event:
        """A new run of the session: its own stop Event, to hand back to `end_run` when it ends."""
        stop = threading.Event()
        with self._lock:
            self._sessions.setdefault(self._checked(session), _Session()).runs.append(stop)
        return stop

    def end_run(self, session: str, stop: threading.Event) -> None:
        """The run whose stop Event is `stop` has ended; the session's folder goes if the session has ended and
        this was its last run."""
        with self._lock:
            record = self._sessions.get(session)
            if record is None or stop not in record.runs:
                return
            record.runs.remove(stop)
            last = record.ended and not record.runs
        if last:  # the page closed while its runs went on: its folder goes now
            self._remove(session)

    def stop(self, session: str) -> bool:
        """Asks the session's runs to stop after their current step; whether one was going."""
        with self._lock:
            record = self._sessions.get(session)
            stops = list(record.runs) if record else []
        for stop in stops:
            stop.set()
        return bool(stops)

    def running(self) -> list[str]:
        """The sessions that have a run going."""
        with self._lock:
            return sorted(session for session, record in self._sessions.items() if record.runs)

    def end(self, session: str) -> None:
        """The session is over: its folder is removed now, or if it has runs going, when the last ends.

        The runs are not stopped here: Gradio ends the session when the page's heartbeat stops, which a page
        that is still open can also cause (a connection dropped under load). A page that has really gone
        stops its run otherwise: Gradio closes the run's generator once the page's event stream drops, and
        the generator's `finally` sets the stop event (background.in_background, under paint.paint and
        fast_video.stylise)."""
        try:
            session = self._checked(session)
        except ValueError:
            return
        with self._lock:
            record = self._sessions.get(session)
            running = bool(record and record.runs)
            if running:
                record.ended = True
        if not running:
            self._remove(session)

    def _remove(self, session: str) -> None:
        with self._lock:
            self._sessions.pop(session, None)
        shutil.rmtree(self.root / session, ignore_errors=True)

    def close(self) -> None:
        """Stops every run and removes every session's folder and the root."""
        atexit.unregister(self.close)  # nothing left for the end of the program: the app can be freed
        with self._lock:
            stops = [stop for record in self._sessions.values() for stop in record.runs]
        for stop in stops:
            stop.set()
        shutil.rmtree(self.root, ignore_errors=True)
