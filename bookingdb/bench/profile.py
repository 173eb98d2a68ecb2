"""Where a booking's time goes: per-function self time and what the
clients' backends waited on during one run.

Self time comes from ``pg_stat_user_functions`` (``track_functions = all``,
set for the profiled run's sessions only: it costs a little itself, so the
timed runs go without it); waits from sampling ``pg_stat_activity`` of those
sessions every few milliseconds. Needs a superuser (``track_functions`` is
one of their settings); without one the profile is skipped and says so.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

Connection = psycopg.Connection[tuple[Any, ...]]

#: What a profiled session is called, so the sampler finds only those.
APPLICATION = "bookingdb-bench-profile"
SAMPLE_SECONDS = 0.005

_FUNCTIONS_SQL = """
SELECT schemaname || '.' || funcname, sum(calls)::bigint, sum(self_time)
  FROM pg_stat_user_functions
 WHERE schemaname = 'bookingdb'
 GROUP BY 1
"""
_SAMPLE_SQL = """
SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU')
            ELSE 'client (' || state || ')' END
  FROM pg_stat_activity
 WHERE application_name = %s
"""


def profiled_dsn(dsn: str) -> str:
    """``dsn`` for the profiled run's sessions."""
    return make_conninfo(dsn, application_name=APPLICATION, options="-c track_functions=all")


def can_profile(conn: Connection) -> bool:
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    return bool(row and row[0])


def _functions(conn: Connection) -> dict[str, tuple[int, float]]:
    # A fresh snapshot of the statistics, not the one cached for this
    # transaction.
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return {str(name): (int(calls), float(ms)) for name, calls, ms in conn.execute(_FUNCTIONS_SQL)}


@contextmanager
def _sampling(dsn: str, waits: Counter[str]) -> Iterator[None]:
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not stop.wait(SAMPLE_SECONDS):
                for (what,) in conn.execute(_SAMPLE_SQL, (APPLICATION,)):
                    waits[str(what)] += 1

    thread = threading.Thread(target=sample, name="bench-profile-sampler", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def profile(conn: Connection, dsn: str, run: Callable[[str], int]) -> dict[str, Any]:
    """Profile ``run(profiled_dsn)``, which returns how many bookings it made:
    self time per booking of each bookingdb function (µs, most first, with
    calls per booking) and the share of samples per wait (``CPU`` when
    running, ``client (idle)`` when the backend waited for pgbench)."""
    if not can_profile(conn):
        return {"skipped": "track_functions needs a superuser"}
    before = _functions(conn)
    waits: Counter[str] = Counter()
    with _sampling(dsn, waits):
        bookings = run(profiled_dsn(dsn))
    after = _functions(conn)
    if not bookings:
        return {"skipped": "the profiled run made no booking"}
    self_time = {}
    for name, (calls, ms) in after.items():
        calls_before, ms_before = before.get(name, (0, 0.0))
        if calls > calls_before:
            self_time[name] = {
                "self_us": round((ms - ms_before) * 1000 / bookings, 1),
                "calls": round((calls - calls_before) / bookings, 2),
            }
    samples = sum(waits.values())
    return {
        "bookings": bookings,
        "self_us_per_booking": dict(
            sorted(self_time.items(), key=lambda item: -item[1]["self_us"])
        ),
        "waits": {what: round(n / samples, 3) for what, n in waits.most_common()},
        "wait_samples": samples,
    }


def summary(found: dict[str, Any], top: int = 6) -> str:
    """One line: the largest self times and waits."""
    if "skipped" in found:
        return f"profile skipped: {found['skipped']}"
    functions = ", ".join(
        f"{name.removeprefix('bookingdb.')} {entry['self_us']:.0f}"
        for name, entry in list(found["self_us_per_booking"].items())[:top]
    )
    waits = ", ".join(f"{what} {share:.0%}" for what, share in list(found["waits"].items())[:top])
    return f"self µs per booking: {functions}; backends: {waits}"
