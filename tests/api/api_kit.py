"""Helpers for the Python API tests."""

from __future__ import annotations

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
