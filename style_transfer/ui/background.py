"""A long job (a painting, a video) in a thread of its own, its progress handed to the page's thread."""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Generator, TypeVar

Shown = TypeVar("Shown")
_DONE = object()  # what the job's thread puts last


def in_background(work: Callable[[queue.Queue], Any], show: Callable[[list], Shown], *, name: str,
                  stop: threading.Event) -> Generator[Shown, None, Any]:
    """Runs `work(updates)` in a thread named `name`; `work` puts its progress into the queue `updates`.
    Each time the page is ready for another update, yields `show(items)` of the items put since the last one
    (oldest first), and in the end returns what `work` returned, or raises what it raised; the last items go
    to `show` too, but that update is not yielded (the caller's final one, with the result, follows).

    Closing the generator (the page went away) or the end sets `stop`, which the job must heed, and waits for
    the thread."""
    updates: queue.Queue = queue.Queue()
    outcome: dict = {}

    def body():
        try:
            outcome["result"] = work(updates)
        except BaseException as error:  # handed to the page's thread, which raises it
            outcome["error"] = error
        finally:
            updates.put(_DONE)

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    try:
        while True:
            batch = [updates.get()]
            while not updates.empty():  # what arrived while the page was sent the last update
                batch.append(updates.get())
            finished = batch[-1] is _DONE
            shown = show([item for item in batch if item is not _DONE])
            if finished:
                break
            yield shown
    finally:
        stop.set()  # the page went away (GeneratorExit), or the run ended: either way no more work
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
