"""What the clients do around a call, without a database: the plans of
:mod:`bookingdb.steps` walked by a fake driver that answers each step from a
script, records it, and never sleeps (pauses and waits move a fake clock).

The retries and their backoff, refusal reporting, the alternatives of a BK001
refusal and watch()'s catch-up and reconnect are checked here in milliseconds;
the end-to-end tests in tests/api remain for the real drivers that perform
the steps."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from psycopg.errors import DeadlockDetected, SerializationFailure
from psycopg.rows import class_row, dict_row

from bookingdb import steps
from bookingdb.calls import Call
from bookingdb.errors import (
    BookingError,
    Busy,
    CapacityExceeded,
    SlotUnavailable,
    VersionConflict,
)
from bookingdb.models import Alternative, Change
from bookingdb.steps import Dropped, Policy

VENUE = 7
T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)
ALTERNATIVE = Alternative(resource_id=3, starts_at=T0, ends_at=T0, score=1.0)


# -- the fakes -----------------------------------------------------------------------------


class DatabaseError(psycopg.Error):
    """A psycopg error as the server would raise it, with its diagnostics."""

    def __init__(self, sqlstate: str, detail: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"refused with {sqlstate}")
        self._diag = Diag(sqlstate, f"refused with {sqlstate}", detail, hint)

    @property
    def diag(self) -> Any:
        return self._diag


@dataclass(frozen=True)
class Diag:
    sqlstate: str
    message_primary: str
    message_detail: str | None
    message_hint: str | None


class FakeClock:
    """steps.clock in these tests: time moves only when a step waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class TopOfRange:
    """steps.random in these tests: every jitter takes the top of its range,
    so pauses are exact; the ranges asked for are kept in ``bounds``."""

    def __init__(self) -> None:
        self.bounds: list[tuple[float, float]] = []

    def uniform(self, low: float, high: float) -> float:
        self.bounds.append((low, high))
        return high


Outcome = list[Any] | Exception | None
UNSCRIPTED = object()


@dataclass
class FakeDriver:
    """Walks a plan as the clients do (with :class:`steps.Stepper`), answering
    each Execute with the next item of ``rows``, each Listen with the next of
    ``listen`` and each AwaitNotify with the next of ``notify``: an exception
    is thrown into the plan, anything else is the step's outcome. Listen and
    AwaitNotify succeed once their scripts are used up; an Execute beyond its
    script fails the test. ``log`` says which steps were asked for, in order."""

    rows: Iterable[Outcome] = ()
    listen: Iterable[Outcome] = ()
    notify: Iterable[Outcome] = ()
    clock: FakeClock = field(default_factory=FakeClock)
    log: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def drive(self, plan: Any) -> Any:
        rows, listen, notify = iter(self.rows), iter(self.listen), iter(self.notify)
        walk = steps.Stepper(plan)
        for step in walk:
            if isinstance(step, Change):
                self.changes.append(step)
                continue
            assert len(self.log) < 100, f"the plan does not end: {self.log}"
            if isinstance(step, steps.Execute):
                self.log.append(_statement(step.call))
                outcome = next(rows, UNSCRIPTED)
                assert outcome is not UNSCRIPTED, f"no rows scripted for {self.log[-1]}"
            elif isinstance(step, steps.Pause):
                self.log.append(f"pause {step.seconds:g}")
                self.clock.now += step.seconds
                outcome = None
            elif isinstance(step, steps.Listen):
                self.log.append("listen")
                outcome = next(listen, None)
            else:
                self.log.append(f"await {step.venue} {step.seconds:g}")
                outcome = next(notify, None)
                if outcome is None:
                    self.clock.now += step.seconds
            if isinstance(outcome, Exception):
                walk.fail(outcome)
            else:
                walk.answer(outcome)
        return walk.result


def _statement(call: Call[Any]) -> str:
    """'changes_since(7, 0, 1000)': the function a call runs, and its parameters."""
    match = re.search(r"bookingdb\.(\w+)\(", call.sql)
    assert match is not None, call.sql
    return f"{match[1]}({', '.join(map(repr, call.params))})"


def booking_call(
    *, retry_safe: bool = False, venue_scoped: bool = True, alternatives: bool = False
) -> Call[dict[str, Any]]:
    """A call like create_hold's: one row back; on BK001 (if ``alternatives``)
    the question whose answer goes on the refusal."""
    return Call(
        "SELECT * FROM bookingdb.book(%s)",
        (VENUE,),
        dict_row,
        lambda rows: rows[0],
        retry_safe,
        venue_scoped,
        ALTERNATIVES if alternatives else None,
    )


ALTERNATIVES = Call(
    "SELECT * FROM bookingdb.suggest_alternatives(%s)",
    (VENUE,),
    class_row(Alternative),
    list,
    retry_safe=True,
)


def change(seq: int) -> Change:
    return Change(seq, T0, 100 + seq, 3, T0, T0, None, "confirmed", "create", f"R{seq}")


@pytest.fixture(autouse=True)
def jitter(monkeypatch: pytest.MonkeyPatch) -> TopOfRange:
    """Exact pauses in every test; a test asks for this to see the ranges."""
    fake = TopOfRange()
    monkeypatch.setattr(steps, "random", fake)
    return fake


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    # steps' own name for the time module, so time.monotonic stays real elsewhere.
    fake = FakeClock()
    monkeypatch.setattr(steps, "clock", fake)
    return fake


# -- attempt(): retries ----------------------------------------------------------------------

RETRYABLE = [
    pytest.param(DatabaseError("BK020"), Busy, id="BK020"),
    pytest.param(DatabaseError("55P03"), Busy, id="lock_not_available"),
    pytest.param(psycopg.OperationalError(), psycopg.OperationalError, id="connection"),
    pytest.param(SerializationFailure(), SerializationFailure, id="serialization"),
    pytest.param(DeadlockDetected(), DeadlockDetected, id="deadlock"),
]


@pytest.mark.parametrize(("failure", "raised"), RETRYABLE)
def test_a_retry_safe_call_is_retried_with_growing_backoff_then_raised(
    failure: Exception, raised: type[Exception], jitter: TopOfRange
) -> None:
    driver = FakeDriver(rows=[failure] * 4)
    with pytest.raises(raised):
        driver.drive(steps.attempt(booking_call(retry_safe=True), max_retries=3))
    assert driver.log == [
        "book(7)",
        "pause 0.1",
        "book(7)",
        "pause 0.2",
        "book(7)",
        "pause 0.4",
        "book(7)",
    ]
    assert jitter.bounds == [(0, 0.1), (0, 0.2), (0, 0.4)]


@pytest.mark.parametrize(("failure", "raised"), RETRYABLE)
def test_a_retry_that_succeeds_returns_the_result(
    failure: Exception, raised: type[Exception]
) -> None:
    driver = FakeDriver(rows=[failure, failure, [{"id": 1}]])
    assert driver.drive(steps.attempt(booking_call(retry_safe=True), max_retries=3)) == {"id": 1}
    assert driver.log == ["book(7)", "pause 0.1", "book(7)", "pause 0.2", "book(7)"]


@pytest.mark.parametrize(("failure", "raised"), RETRYABLE)
@pytest.mark.parametrize(
    ("retry_safe", "max_retries"),
    [pytest.param(False, 3, id="not-retry-safe"), pytest.param(True, 0, id="max_retries=0")],
)
def test_a_call_is_not_retried_unless_retry_safe_and_allowed(
    failure: Exception, raised: type[Exception], retry_safe: bool, max_retries: int
) -> None:
    driver = FakeDriver(rows=[failure, [{"id": 1}]])
    with pytest.raises(raised):
        driver.drive(steps.attempt(booking_call(retry_safe=retry_safe), max_retries))
    assert driver.log == ["book(7)"]


@pytest.mark.parametrize(
    ("sqlstate", "raised"),
    [("BK001", SlotUnavailable), ("BK004", VersionConflict), ("BK999", BookingError)],
)
def test_a_refusal_that_is_not_retryable_is_raised_at_once(
    sqlstate: str, raised: type[BookingError]
) -> None:
    failure = DatabaseError(sqlstate, detail="resource_id: 3", hint="Pick another time.")
    driver = FakeDriver(rows=[failure, [{"id": 1}]])
    with pytest.raises(raised) as refused:
        driver.drive(steps.attempt(booking_call(retry_safe=True), max_retries=3))
    assert driver.log == ["book(7)"]
    refusal = refused.value
    assert type(refusal) is raised
    assert (refusal.sqlstate, refusal.detail, refusal.hint) == (
        sqlstate,
        "resource_id: 3",
        "Pick another time.",
    )
    assert refusal.__cause__ is failure


@pytest.mark.parametrize("failure", [DatabaseError("23505"), psycopg.errors.UniqueViolation()])
def test_a_database_error_outside_class_bk_is_raised_as_is(failure: psycopg.Error) -> None:
    driver = FakeDriver(rows=[failure, [{"id": 1}]])
    with pytest.raises(psycopg.Error) as raised:
        driver.drive(steps.attempt(booking_call(retry_safe=True), max_retries=3))
    assert raised.value is failure
    assert driver.log == ["book(7)"]


def test_success_returns_the_calls_result_of_the_rows() -> None:
    driver = FakeDriver(rows=[[{"id": 1}, {"id": 2}]])
    assert driver.drive(steps.attempt(booking_call(), max_retries=3)) == {"id": 1}
    assert driver.log == ["book(7)"]


# -- run() and aftermath(): reporting and alternatives ----------------------------------------


def test_a_refusal_is_reported_with_its_venue_and_code_then_raised() -> None:
    driver = FakeDriver(rows=[DatabaseError("BK004"), [None]])
    with pytest.raises(VersionConflict):
        driver.drive(steps.run(booking_call(), Policy()))
    assert driver.log == ["book(7)", "record_refusal(7, 'BK004')"]


@pytest.mark.parametrize(
    ("policy", "venue_scoped"),
    [pytest.param(Policy(report=False), True, id="report-off"), (Policy(), False)],
)
def test_a_refusal_is_not_reported_when_off_or_without_a_venue(
    policy: Policy, venue_scoped: bool
) -> None:
    driver = FakeDriver(rows=[DatabaseError("BK004")])
    with pytest.raises(VersionConflict):
        driver.drive(steps.run(booking_call(venue_scoped=venue_scoped), policy))
    assert driver.log == ["book(7)"]


def test_a_retried_call_is_reported_once_after_its_last_try() -> None:
    driver = FakeDriver(rows=[DatabaseError("BK020"), DatabaseError("BK020"), [None]])
    with pytest.raises(Busy):
        driver.drive(steps.run(booking_call(retry_safe=True), Policy(max_retries=1)))
    assert driver.log == ["book(7)", "pause 0.1", "book(7)", "record_refusal(7, 'BK020')"]


def test_slot_unavailable_carries_the_alternatives() -> None:
    driver = FakeDriver(rows=[DatabaseError("BK001"), [None], [ALTERNATIVE]])
    with pytest.raises(SlotUnavailable) as refused:
        driver.drive(steps.run(booking_call(alternatives=True), Policy()))
    assert refused.value.alternatives == (ALTERNATIVE,)
    assert driver.log == ["book(7)", "record_refusal(7, 'BK001')", "suggest_alternatives(7)"]


@pytest.mark.parametrize(
    ("sqlstate", "policy", "alternatives"),
    [
        pytest.param("BK001", Policy(alternatives=False), True, id="policy-off"),
        pytest.param("BK002", Policy(), True, id="not-BK001"),
        pytest.param("BK001", Policy(), False, id="call-without-alternatives"),
    ],
)
def test_no_alternatives_are_fetched_unless_asked_for_on_bk001(
    sqlstate: str, policy: Policy, alternatives: bool
) -> None:
    driver = FakeDriver(rows=[DatabaseError(sqlstate), [None]])
    with pytest.raises(BookingError) as refused:
        driver.drive(steps.run(booking_call(alternatives=alternatives), policy))
    assert driver.log == ["book(7)", f"record_refusal(7, '{sqlstate}')"]
    assert getattr(refused.value, "alternatives", ()) == ()


@pytest.mark.parametrize(
    "failure", [psycopg.OperationalError(), DatabaseError("BK007")], ids=["connection", "BK007"]
)
def test_a_failed_report_is_logged_and_the_refusal_raised(
    failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    driver = FakeDriver(rows=[DatabaseError("BK001"), failure, [ALTERNATIVE]])
    with pytest.raises(SlotUnavailable) as refused:
        driver.drive(steps.run(booking_call(alternatives=True), Policy()))
    assert refused.value.alternatives == (ALTERNATIVE,)
    assert driver.log == ["book(7)", "record_refusal(7, 'BK001')", "suggest_alternatives(7)"]
    [record] = [r for r in caplog.records if r.name == "bookingdb.steps"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is not None and record.exc_info[1] is not None


@pytest.mark.parametrize(
    ("failure", "reported"),
    [
        pytest.param(psycopg.OperationalError(), [], id="connection"),
        # The alternatives' own refusal is counted too.
        pytest.param(DatabaseError("BK008"), ["record_refusal(7, 'BK008')"], id="BK008"),
    ],
)
def test_failed_alternatives_become_a_note_on_the_refusal(
    failure: Exception, reported: list[str]
) -> None:
    driver = FakeDriver(rows=[DatabaseError("BK001"), [None], failure, [None]])
    with pytest.raises(SlotUnavailable) as refused:
        driver.drive(steps.run(booking_call(alternatives=True), Policy(max_retries=0)))
    assert refused.value.alternatives == ()
    assert [note.split(":")[0] for note in refused.value.__notes__] == [
        "alternatives could not be fetched"
    ]
    assert driver.log == [
        "book(7)",
        "record_refusal(7, 'BK001')",
        "suggest_alternatives(7)",
        *reported,
    ]


def test_settle_runs_the_aftermath_of_each_refusal() -> None:
    slot_taken = SlotUnavailable("taken", sqlstate="BK001")
    too_many = CapacityExceeded("full", sqlstate="BK002")
    refused = [(booking_call(alternatives=True), slot_taken), (booking_call(), too_many)]
    driver = FakeDriver(rows=[[None], [ALTERNATIVE], [None]])
    assert driver.drive(steps.settle(refused, Policy())) is None
    assert driver.log == [
        "record_refusal(7, 'BK001')",
        "suggest_alternatives(7)",
        "record_refusal(7, 'BK002')",
    ]
    assert slot_taken.alternatives == (ALTERNATIVE,)


# -- watch() -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_seq", "poll_interval", "idle_timeout"),
    [(0, 0, None), (0, -1, None), (0, 1, -0.5), (-1, 1, None)],
)
def test_watch_checks_its_arguments_before_any_step(
    after_seq: int, poll_interval: float, idle_timeout: float | None
) -> None:
    # Raised by the call itself: the plan has not been asked for a step.
    with pytest.raises(ValueError):
        steps.watch(VENUE, after_seq, poll_interval, idle_timeout, reconnect_timeout=5.0)


def watching(
    after_seq: int = 0, poll_interval: float = 0.5, idle_timeout: float | None = 0.5
) -> Any:
    return steps.watch(VENUE, after_seq, poll_interval, idle_timeout, reconnect_timeout=1.0)


def test_watch_listens_catches_up_page_by_page_then_waits(clock: FakeClock) -> None:
    driver = FakeDriver(rows=[[change(41), change(42)], [change(43)], [], [], []], clock=clock)
    driver.drive(watching(after_seq=40, poll_interval=0.5, idle_timeout=0.75))
    assert [c.seq for c in driver.changes] == [41, 42, 43]
    assert driver.log == [
        "listen",
        "changes_since(7, 40, 1000)",
        "changes_since(7, 42, 1000)",
        "changes_since(7, 43, 1000)",
        "await 7 0.5",
        "changes_since(7, 43, 1000)",
        "await 7 0.25",
        "changes_since(7, 43, 1000)",
    ]


def test_watch_idle_timeout_counts_from_the_last_change(clock: FakeClock) -> None:
    driver = FakeDriver(rows=[[], [change(1)], [], []], clock=clock)
    driver.drive(watching(idle_timeout=0.5))
    assert [c.seq for c in driver.changes] == [1]
    assert driver.log == [
        "listen",
        "changes_since(7, 0, 1000)",
        "await 7 0.5",
        "changes_since(7, 0, 1000)",
        "changes_since(7, 1, 1000)",
        "await 7 0.5",
        "changes_since(7, 1, 1000)",
    ]
    assert clock.now == 1.0


def test_watch_with_idle_timeout_zero_ends_after_catching_up(clock: FakeClock) -> None:
    driver = FakeDriver(rows=[[change(1)], []], clock=clock)
    driver.drive(watching(idle_timeout=0))
    assert driver.log == ["listen", "changes_since(7, 0, 1000)", "changes_since(7, 1, 1000)"]


def test_watch_after_a_drop_while_waiting_reconnects_and_goes_on_after_the_last_seq(
    clock: FakeClock,
) -> None:
    driver = FakeDriver(
        rows=[[change(1), change(2)], [], [change(3)], [], []], notify=[Dropped()], clock=clock
    )
    driver.drive(watching())
    assert [c.seq for c in driver.changes] == [1, 2, 3]
    assert driver.log == [
        "listen",
        "changes_since(7, 0, 1000)",
        "changes_since(7, 2, 1000)",
        "await 7 0.5",
        "pause 0.1",
        "listen",
        "changes_since(7, 2, 1000)",
        "changes_since(7, 3, 1000)",
        "await 7 0.5",
        "changes_since(7, 3, 1000)",
    ]


def test_watch_after_a_drop_while_catching_up_goes_on_after_the_last_seq(
    clock: FakeClock,
) -> None:
    driver = FakeDriver(
        rows=[[change(1), change(2)], Dropped(), [change(3)], []],
        listen=[None, psycopg.OperationalError(), psycopg.OperationalError()],
        clock=clock,
    )
    driver.drive(watching(idle_timeout=0))
    assert [c.seq for c in driver.changes] == [1, 2, 3]
    assert driver.log == [
        "listen",
        "changes_since(7, 0, 1000)",
        "changes_since(7, 2, 1000)",
        "pause 0.1",
        "listen",
        "pause 0.2",
        "listen",
        "pause 0.4",
        "listen",
        "changes_since(7, 2, 1000)",
        "changes_since(7, 3, 1000)",
    ]


@pytest.mark.parametrize(
    ("reconnect_timeout", "pauses"),
    [
        (0.0, [0.1]),
        (0.3, [0.1, 0.2]),
        (1.0, [0.1, 0.2, 0.4, 0.8]),
        (1.6, [0.1, 0.2, 0.4, 0.8, 1.6]),
        (3.5, [0.1, 0.2, 0.4, 0.8, 1.6, 2]),
    ],
)
def test_watch_raises_when_reconnecting_fails_for_reconnect_timeout(
    clock: FakeClock, reconnect_timeout: float, pauses: list[float]
) -> None:
    down = psycopg.OperationalError("server closed the connection")
    # The connection drops in the second wait: reconnect_timeout counts from then.
    driver = FakeDriver(
        rows=[[], []], listen=[None] + [down] * 10, notify=[None, Dropped()], clock=clock
    )
    with pytest.raises(psycopg.OperationalError) as raised:
        driver.drive(steps.watch(VENUE, 0, 0.5, None, reconnect_timeout))
    assert raised.value is down
    waited = ["changes_since(7, 0, 1000)", "await 7 0.5"]
    assert driver.log[:5] == ["listen", *waited, *waited]
    assert driver.log[5:] == [step for p in pauses for step in (f"pause {p:g}", "listen")]


def test_watch_raises_a_failure_of_its_first_connection_at_once() -> None:
    driver = FakeDriver(listen=[psycopg.OperationalError()])
    with pytest.raises(psycopg.OperationalError):
        driver.drive(watching())
    assert driver.log == ["listen"]


# -- the booking lock and the watch connection -------------------------------------------------


def test_a_taken_booking_lock_is_refused_as_busy() -> None:
    refusal = steps.lock_taken(VENUE, 3)
    assert isinstance(refusal, Busy)
    assert refusal.retryable
    assert (refusal.sqlstate, refusal.detail) == ("BK020", "venue_id: 7, resource_id: 3")
    assert refusal.hint


@pytest.mark.parametrize(
    "dsn", ["host=db dbname=shop user=app", "postgresql://app@db:5432/shop?sslmode=require"]
)
def test_a_watch_connection_is_named_for_pg_stat_activity(dsn: str) -> None:
    named = conninfo_to_dict(steps.listen_dsn(dsn))
    assert named == conninfo_to_dict(dsn) | {"application_name": steps.WATCH}


@pytest.mark.parametrize(
    "dsn",
    ["host=db dbname=shop application_name=mine", "postgresql://db/shop?application_name=mine"],
)
def test_a_watch_connection_keeps_the_name_the_dsn_gives(dsn: str) -> None:
    assert steps.listen_dsn(dsn) == dsn
