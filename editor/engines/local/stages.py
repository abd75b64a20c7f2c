"""Pipeline stages on threads: decode and pixel work, filtering, and encoding overlap in time.

libavfilter, libx264, swscale and OpenCV all release the GIL while they work, so a frame can be
encoded while the next one is filtered and the one after that is decoded and warped. Each stage
takes items in order from a short queue, so the output is the same as running the stages one
after another and memory stays at a few frames.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

DEPTH = 1
_END = object()


class Stage:
    """Apply `work` to each item put in, in order, on a thread of its own.

    An error in `work` is raised again to whoever puts the next item or closes the stage; the
    thread then discards what is still queued so a producer never blocks on a dead stage.
    """

    def __init__(self, name: str, work: Callable[[Any], None], depth: int = DEPTH):
        self.work = work
        self.inbox: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.aborted = False
        self.thread = threading.Thread(target=self._run, name=f"aleph-{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.inbox.get()
            if item is _END:
                return
            if self.error is not None or self.aborted:
                continue
            try:
                self.work(item)
            except BaseException as exc:  # handed to the producer
                self.error = exc

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            self.aborted = True
            raise error

    def put(self, item: Any) -> None:
        self._raise()
        self.inbox.put(item)

    def close(self) -> None:
        """Wait until every item is done; raise the stage's error, if any."""
        self.inbox.put(_END)
        self.thread.join()
        self._raise()

    def abort(self) -> None:
        """Drop what is queued and stop the thread (after an error elsewhere)."""
        self.aborted = True
        self.inbox.put(_END)
        self.thread.join()
