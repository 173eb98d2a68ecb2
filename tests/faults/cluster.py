"""A throwaway embedded PostgreSQL cluster that a test may crash and restart.

:func:`bookingdb.server.start` brings a crashed server back in the same
process (it forgets the wheel's handle of a dead postmaster); PostgreSQL
recovers from its WAL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from bookingdb import server

# How long the processes of a killed server may take to go away (backends
# notice the postmaster's death; init reaps the postmaster).
EXIT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Crash:
    """What a SIGKILL of the postmaster left behind."""

    postmaster: int
    # Server processes (backends, checkpointer, ...) alive when it was killed.
    children: int
    every_process: bool
    # Children still alive EXIT_TIMEOUT seconds later, killed in turn.
    stragglers: int
    # From the SIGKILL until every process of the old server was gone.
    seconds: float


class ThrowawayCluster:
    """An embedded cluster in a data directory of its own."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.dsn = ""

    def start(self) -> str:
        """Start the server (again, after a crash) and return its DSN."""
        self.dsn = server.start(self.data_dir, keep_running=False)
        return self.dsn

    def crash(
        self, *, every_process: bool = False, at_kill: Callable[[], None] | None = None
    ) -> Crash:
        """SIGKILL the postmaster (``every_process``: and, at the same
        instant, every other process of the server, as an out-of-memory kill
        of the whole service would), and wait until every process of the old
        server has gone: a new postmaster refuses to start while the old
        one's pid exists (even as a zombie not yet reaped) or while a backend
        still has the old shared memory attached.

        A backend outlives its postmaster until it next waits for its client
        (or a lock): the statement it is running still commits and answers.
        Killing every process also catches transactions between their commit
        and their answer. ``at_kill`` runs just before the first signal."""
        status = server.status(self.data_dir)
        assert status.running and status.pid is not None, "the cluster is not running"
        postmaster = psutil.Process(status.pid)
        children = postmaster.children(recursive=True)
        if at_kill is not None:
            at_kill()
        started = time.monotonic()
        os.kill(status.pid, signal.SIGKILL)
        if every_process:
            for child in children:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
        # psutil waits for a process that is not ours until its pid is gone,
        # that is until its parent (init) has reaped it.
        _, alive = psutil.wait_procs([postmaster, *children], timeout=EXIT_TIMEOUT)
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        _, still = psutil.wait_procs(alive, timeout=EXIT_TIMEOUT)
        assert not still, (
            f"processes of the killed server did not go away: {still} "
            "(does this container's init reap orphaned processes?)"
        )
        return Crash(
            status.pid, len(children), every_process, len(alive), time.monotonic() - started
        )

    def destroy(self) -> None:
        """Stop the server if it runs (the caller deletes the directory)."""
        try:
            if self.data_dir.exists() and server.status(self.data_dir).running:
                server.stop(self.data_dir)
        finally:
            status = server.status(self.data_dir) if self.data_dir.exists() else None
            if status is not None and status.running and status.pid is not None:
                with contextlib.suppress(psutil.NoSuchProcess):
                    psutil.Process(status.pid).kill()
