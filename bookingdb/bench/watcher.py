"""A live listener for the benchmark: ``BookingDB.watch()`` in a thread,
recording when each change reached it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from bookingdb.client import BookingDB


@dataclass
class Watcher:
    """Watches one venue from ``after_seq`` in a thread of its own until no
    change has come for ``idle`` seconds after :meth:`stop`."""

    dsn: str
    venue_id: int
    after_seq: int = 0
    idle: float = 1.0
    # (resource_id, starts_at epoch) -> when the change reached the listener.
    seen: dict[tuple[int, float], float] = field(default_factory=dict)
    seqs: list[int] = field(default_factory=list)
    error: BaseException | None = None
    _thread: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="bench-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Wait until the listener has been idle ``idle`` seconds, then end it."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            with BookingDB.connect(self.dsn, min_size=1, max_size=1) as db:
                while True:
                    # The generator ends after ``idle`` seconds without a
                    # change; only a stop request ends the watch for good.
                    for change in db.watch(self.venue_id, self.after_seq, idle_timeout=self.idle):
                        now = time.time()
                        self.seqs.append(change.seq)
                        self.after_seq = change.seq
                        self.seen[(change.resource_id, change.starts_at.timestamp())] = now
                    if self._stopping.is_set():
                        return
        except BaseException as err:  # reported by stop()
            self.error = err
