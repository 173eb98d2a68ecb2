"""Real threads, each with its own connection, released together by a barrier.

Every racer opens its own autocommit connection (as a psql user or an
application server would), waits at a :class:`threading.Barrier` until all
racers are connected, and only then fires. Nothing here sleeps to order
events: the barrier lines the racers up, PostgreSQL decides who wins.

Racers call the SQL functions directly, not through :class:`bookingdb.BookingDB`,
because the client retries deadlocks and serialization failures when an
idempotency key makes that safe, and these tests must see every SQLSTATE the
database raises (a 40P01 hidden by a retry would still be a bug).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

T = TypeVar("T")
Row = dict[str, Any]

# How long a racer waits for the others at a barrier before the test fails
# (a hang is a failure, not a reason to wait forever).
BARRIER_TIMEOUT = 60.0

# Explicit casts for arguments whose Python value does not name the SQL type
# exactly (a list of small ints would otherwise be sent as int2[]).
_CASTS = {
    "resource_ids": "bigint[]",
    "customer": "jsonb",
    "ttl": "interval",
    "extra": "interval",
}


@dataclass(frozen=True)
class Outcome:
    """What one call told its client: a booking row, or a refusal's SQLSTATE."""

    racer: int
    row: Row | None = None
    sqlstate: str | None = None
    message: str | None = None

    @property
    def won(self) -> bool:
        return self.row is not None


class Session:
    """One racer's own connection, plus the barrier shared by all racers."""

    def __init__(
        self, conn: psycopg.Connection[Row], index: int, barrier: threading.Barrier | None = None
    ) -> None:
        self.conn = conn
        self.index = index
        self.barrier = barrier

    def sync(self) -> None:
        """Wait until every racer reaches this point (one round of a storm)."""
        assert self.barrier is not None
        self.barrier.wait(BARRIER_TIMEOUT)

    def call(self, function: str, **args: Any) -> Row:
        """``SELECT * FROM bookingdb.<function>(name => value, ...)``, one row back."""
        params = {k: Jsonb(v) if k == "customer" and v is not None else v for k, v in args.items()}
        query = sql.SQL("SELECT * FROM bookingdb.{}({})").format(
            sql.Identifier(function),
            sql.SQL(", ").join(
                sql.SQL("{} => {}{}").format(
                    sql.Identifier(name),
                    sql.Placeholder(name),
                    sql.SQL("::" + _CASTS[name]) if name in _CASTS else sql.SQL(""),
                )
                for name in args
            ),
        )
        row = self.conn.execute(query, params).fetchone()
        assert row is not None
        return row

    def attempt(self, function: str, **args: Any) -> Outcome:
        """Like :meth:`call`, but a database error becomes an :class:`Outcome`."""
        try:
            return Outcome(self.index, row=self.call(function, **args))
        except psycopg.Error as err:
            return Outcome(self.index, sqlstate=err.sqlstate, message=str(err))


def run_threads(dsn: str, count: int, body: Callable[[Session], T]) -> list[T]:
    """Run ``body`` in ``count`` threads, each on its own connection, all
    released at once; return their results in racer order.

    A racer that fails aborts the barrier so the others stop waiting, and the
    first failure is raised here.
    """
    barrier = threading.Barrier(count)

    def racer(index: int) -> T:
        try:
            with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
                session = Session(conn, index, barrier)
                session.sync()
                return body(session)
        except BaseException:
            barrier.abort()
            raise

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(racer, index) for index in range(count)]
        return [future.result() for future in futures]


def race(
    dsn: str, count: int, function: str, args: Callable[[int], Mapping[str, Any]]
) -> list[Outcome]:
    """``count`` racers each call ``function`` once, at the same moment;
    racer ``i`` passes ``args(i)``."""
    return run_threads(dsn, count, lambda s: s.attempt(function, **args(s.index)))


def race_each(dsn: str, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Outcome]:
    """One racer per ``(function, args)``, all fired at the same moment."""
    return run_threads(dsn, len(calls), lambda s: s.attempt(calls[s.index][0], **calls[s.index][1]))


def refusals(outcomes: list[Outcome]) -> dict[str | None, int]:
    """How many outcomes ended with each SQLSTATE (winners are not counted)."""
    counts: dict[str | None, int] = {}
    for outcome in outcomes:
        if not outcome.won:
            counts[outcome.sqlstate] = counts.get(outcome.sqlstate, 0) + 1
    return counts


def assert_refused_only_with(outcomes: list[Outcome], allowed: set[str]) -> None:
    """Fail, quoting the database's whole message, if any call was refused with
    a SQLSTATE outside ``allowed`` (a deadlock, an exclusion violation, ...)."""
    bad = [
        f"racer {o.racer}: {o.sqlstate}: {o.message}"
        for o in outcomes
        if not o.won and o.sqlstate not in allowed
    ]
    assert not bad, f"{len(bad)} unexpected refusal(s):\n" + "\n\n".join(bad)


def backend_pid(conn: psycopg.Connection[Any]) -> int:
    """The pid of the server process that runs ``conn``'s transaction, opening
    one if none is open; it stays the same until that transaction ends.

    Asked of the server, not read from ``conn.info.backend_pid``: through a
    transaction-pooling PgBouncer that is the pooler's own cancel key, and a
    client has a server process of its own only inside a transaction."""
    assert not conn.autocommit, "a pid outside a transaction names no one's session"
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


class Step:
    """One session running one call in the background, as an isolation-tester
    step: its backend pid is known before it starts, so the test can wait
    until it is blocked on the lock the scenario says it must wait for.

    The call runs in a transaction of its own, opened when the step is made
    (that is what fixes its server process, with or without a pooler) and
    committed as soon as the call returns."""

    def __init__(self, dsn: str, function: str, **args: Any) -> None:
        self.conn = psycopg.connect(dsn, row_factory=dict_row)
        self.pid = backend_pid(self.conn)
        self.outcome: Outcome | None = None
        self._thread = threading.Thread(target=self._run, args=(function, args), daemon=True)

    def _run(self, function: str, args: dict[str, Any]) -> None:
        outcome = Session(self.conn, self.pid).attempt(function, **args)
        try:
            # After a refusal the transaction is aborted: COMMIT rolls it back.
            self.conn.commit()
        except psycopg.Error as err:
            outcome = Outcome(self.pid, sqlstate=err.sqlstate, message=str(err))
        self.outcome = outcome

    def start(self) -> Step:
        self._thread.start()
        return self

    def wait_blocked_by(self, observer: psycopg.Connection[Any], *pids: int) -> None:
        """Wait until this step waits for a lock held (or queued for) by one
        of ``pids``, or has finished (an engine that no longer waits there
        passes on)."""

        def blocked() -> bool:
            row = observer.execute("SELECT pg_blocking_pids(%s)", (self.pid,)).fetchone()
            blockers = set(row[0]) if row else set()
            return not self._thread.is_alive() or bool(blockers & set(pids))

        wait_until(blocked, f"session {self.pid} waits for one of sessions {pids}")

    def join(self) -> Outcome:
        self._thread.join(BARRIER_TIMEOUT)
        self.conn.close()
        assert self.outcome is not None, f"session {self.pid} did not finish"
        return self.outcome


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll until ``condition()`` holds. Used to wait for a state (a hold has
    lapsed on the database clock, a session is blocked on a lock), never to
    order racers."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.005)
