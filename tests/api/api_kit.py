"""Helpers for the Python API tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import psycopg

from bookingdb import BookingDB

T = TypeVar("T")

Conn = psycopg.Connection[Any]
# The ``connect`` fixture: ``connect(dsn, **kwargs)`` opens a client of the
# test's flavour (sync or async behind a blocking face), as BookingDB.connect does.
Connect = Callable[..., BookingDB]


def table_counts(conn: Conn) -> tuple[int, int, int]:
    """Rows in bookings, allocations and audit_log (a refusal changes none)."""
    row = conn.execute(
        """SELECT (SELECT count(*) FROM bookingdb.bookings),
                  (SELECT count(*) FROM bookingdb.allocations),
                  (SELECT count(*) FROM bookingdb.audit_log)"""
    ).fetchone()
    assert row is not None
    return (int(row[0]), int(row[1]), int(row[2]))


def lock_waits(conn: Conn) -> set[tuple[int, datetime]]:
    """The statements of this database waiting on a lock: (pid, query_start)."""
    return {
        (int(pid), started)
        for pid, started in conn.execute(
            "SELECT pid, query_start FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    }


def wait_until(condition: Callable[[], bool], *, what: str, within: float = 10.0) -> None:
    """Return once ``condition()`` holds (checked every 10 ms); fail after ``within``
    seconds. For waiting on an observable state of another session, never for
    ordering events by the clock."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        time.sleep(0.01)


def retried_past_busy(conn: Conn, call: Callable[[], T], blocker: Conn) -> T:
    """Run ``call`` (a retry-safe call that needs a lock ``blocker``'s open
    transaction holds) in another thread, in three steps: its first attempt
    waits on the lock; it gives up with BK020 after lock_timeout (the tests' 200 ms) and
    the client retries (another statement); ``blocker`` rolls back and the
    retry goes through. Returns what ``call`` returned."""
    outcome: list[T] = []
    with alongside(lambda: outcome.append(call())):
        wait_until(lambda: len(lock_waits(conn)) == 1, what="the first attempt to wait")
        [first] = lock_waits(conn)
        wait_until(lambda: first not in lock_waits(conn), what="BK020", within=30)
        blocker.rollback()
    [result] = outcome
    return result


@contextmanager
def alongside(step: Callable[[], object]) -> Iterator[None]:
    """Run ``step`` in another thread while the block runs; its failure fails the test."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            step()
        except BaseException as err:
            failures.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=30)
    assert not thread.is_alive(), "the other thread is stuck"
    if failures:
        raise failures[0]
