"""Helpers for the Python API tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

Conn = psycopg.Connection[Any]


def table_counts(conn: Conn) -> tuple[int, int, int]:
    """Rows in bookings, allocations and audit_log (a refusal changes none)."""
    row = conn.execute(
        """SELECT (SELECT count(*) FROM bookingdb.bookings),
                  (SELECT count(*) FROM bookingdb.allocations),
                  (SELECT count(*) FROM bookingdb.audit_log)"""
    ).fetchone()
    assert row is not None
    return (int(row[0]), int(row[1]), int(row[2]))


def wait_until(condition: Callable[[], bool], *, what: str, within: float = 10.0) -> None:
    """Return once ``condition()`` holds (checked every 10 ms); fail after ``within``
    seconds. For waiting on an observable state of another session, never for
    ordering events by the clock."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        time.sleep(0.01)


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
