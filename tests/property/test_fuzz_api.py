"""Fuzzing the Python client, method by method, with arguments of the
declared types: the same kinds of hostile values as test_fuzz_sql.py, as
Python values (aware datetimes in year 1 and 9999, ``timedelta.max``, ids
of the other venue, duplicated ids, 10,000-character and mojibake text,
customers and rules of the wrong shape).

The contract under test (the README's "Python API"):

- a call returns, or raises a :class:`bookingdb.BookingError` whose code is
  in ``bookingdb.error_codes()``, or a ``ValueError`` from the client's own
  argument checks (a naive datetime, an int beyond SQL int; see
  ``bookingdb/calls.py``), or a psycopg ``DataError`` of class 22 raised by
  PostgreSQL's input conversion of an argument before any function runs.
  Never a psycopg ``InternalError`` (XX000), an ``IntegrityError`` naming a
  raw constraint, a ``ProgrammingError`` (42xxx: the call did not even find
  its function), a client-side psycopg error without a SQLSTATE, or any
  other exception;
- a refused call writes nothing (except the refusal count the client
  records for ``stats()``, by design); a call that succeeds and writes
  adds no row to ``verify_invariants()``.

The methods are those of :class:`bookingdb.BookingDB` derived from
``bookingdb/calls.py``, so a new call is fuzzed without touching this file;
their arguments are built from the declarations' type hints. Type-edge
values that mypy accepts but the generic fuzz would trip over on every
call (ids beyond bigint, NUL in text, ``True`` for an int, a ``datetime``
for a ``date``, a ``time`` with a zone) are swept, every parameter of every
method, by the tests at the end.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fuzz_kit import (
    FUZZ,
    INT4_MAX,
    INT4_MIN,
    INT8_MAX,
    INT8_MIN,
    LONG_TEXTS,
    NOWHERE,
    POSTGRES_ANSWERS,
    SQL_INJECTION,
    STATEMENT_TIMEOUT,
    WRONG_JSON,
    Conn,
    Fingerprint,
    Strategy,
    World,
    build_world,
    changed_tables,
    database_from,
    declared_function_names,
    describe,
    documented_codes,
    fuzz_connection,
    hostile_texts,
    json_values,
    plain_by_name,
    public_functions,
    why_undocumented,
)
from hypothesis import event, given
from hypothesis import strategies as st
from psycopg.conninfo import make_conninfo

from bookingdb import BookingDB, BookingError, Customer, SlotRequest, calls, client

Drawn = dict[str, Any]


def _client_methods() -> dict[str, Callable[..., Any]]:
    """Method name -> its declaration in bookingdb.calls (aliases once)."""
    found: dict[str, Callable[..., Any]] = {}
    for value in vars(client._Calls).values():
        declaration = getattr(value, "__wrapped__", None)
        if declaration is not None and declaration.__module__ == calls.__name__:
            found.setdefault(declaration.__name__, declaration)
    return dict(sorted(found.items()))


METHODS = _client_methods()

# Where the README puts the calls that have no BookingDB method.
ON_THE_LOCK_HANDLE = {"acquire_booking_lock", "try_booking_lock"}


@pytest.fixture(scope="module")
def api_db(server_dsn: str, template_db: str) -> Iterator[tuple[Conn, BookingDB]]:
    """One database for this module's tests, a psql-like connection to it
    and a client (its connections with a statement timeout, so a runaway
    call fails its test). Each test works in venues of its own."""
    with database_from(server_dsn, template_db, "bookingdb_fuzzapi") as dsn:
        timed = make_conninfo(dsn, options=f"-c statement_timeout={STATEMENT_TIMEOUT}")
        with fuzz_connection(dsn) as conn, BookingDB.connect(timed, max_size=2) as db:
            yield conn, db


@pytest.fixture
def fuzzed(api_db: tuple[Conn, BookingDB]) -> tuple[Conn, BookingDB, World]:
    """A world of two fresh venues of this test's own."""
    conn, db = api_db
    return conn, db, build_world(conn)


# -- values of the declared types -------------------------------------------------------------

_ID_NAMES = {
    "venue_id",
    "booking_id",
    "resource_id",
    "event_id",
    "series_id",
    "entry_id",
    "exclude_booking_id",
    "a",
    "b",
    "after_seq",
}

HOSTILE_INSTANTS = (
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),  # 1 BC in UTC
    datetime.max.replace(tzinfo=UTC),
    datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-14))),  # year 10000 in UTC
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2027, 3, 28, 1, 30, tzinfo=ZoneInfo("Europe/London")),  # in a spring-forward gap
    datetime(2027, 10, 31, 1, 30, fold=1, tzinfo=ZoneInfo("Europe/London")),
    datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=45, seconds=30))),
    datetime(2030, 1, 1),  # naive: the client refuses it (ValueError)
)

HOSTILE_DELTAS = (
    timedelta(0),
    timedelta(microseconds=1),
    timedelta(microseconds=-1),
    timedelta(minutes=-10),
    timedelta(minutes=10),
    timedelta(days=1),
    timedelta(days=400),
    timedelta(days=999_999_999),
    timedelta.max,
    timedelta.min,
)

HOSTILE_DAYS = (date.min, date.max, date(2027, 3, 28), date(2027, 10, 31), date(2000, 2, 29))
HOSTILE_CLOCK = (time.min, time.max, time(0), time(3), time(9), time(12), time(17), time(23, 59))

HOSTILE_INTS = (0, -1, 1, 2, 3, 50, 51, 366, 367, 1000, 1001, 1_000_000, 1_000_001)
EDGE_INTS = (INT4_MAX, INT4_MIN, INT4_MAX + 1, INT4_MIN - 1, INT8_MAX, INT8_MIN)

RULE_KEYS = (
    "hold_ttl",
    "min_notice",
    "max_advance",
    "buffer_before",
    "buffer_after",
    "slot_step",
    "min_party",
    "max_party",
    "min_age",
    "max_active_holds_per_customer",
    "notify",
    "timezone",
    "",
    "unknown",
)


class ApiValues:
    """Strategies for a method's parameters from their type hints:
    ``hostile`` anything of the type, ``plausible`` what a reasonable caller
    would pass for that name in the fuzzed world."""

    def __init__(self, world: World) -> None:
        self.world = world
        ids = [*world.every_id(), 0, -1, INT8_MAX, INT8_MIN, NOWHERE]
        self.ids: Strategy = st.sampled_from(ids)
        base = world.base
        self.grid: Strategy = st.integers(0, 96).map(lambda k: base + timedelta(minutes=15 * k))
        self.instants: Strategy = (
            st.sampled_from(HOSTILE_INSTANTS)
            | self.grid
            | st.integers(-3650, 3650).map(lambda d: base + timedelta(days=d))
        )
        self.deltas: Strategy = st.sampled_from(HOSTILE_DELTAS) | st.timedeltas(
            min_value=timedelta(days=-3), max_value=timedelta(days=800)
        )

    # Hostile: anything of one atom of a hint.

    def hostile_atom(self, name: str, atom: Any) -> Strategy:
        w = self.world
        origin = typing.get_origin(atom)
        if atom is type(None):
            return st.none()
        if atom is bool:
            return st.booleans()
        if atom is int:
            if name in _ID_NAMES:
                return self.ids
            return st.sampled_from(HOSTILE_INTS + EDGE_INTS) | st.integers(-5, 60)
        if atom is str:
            return hostile_texts
        if atom is datetime:
            return self.instants
        if atom is date:
            return st.sampled_from(HOSTILE_DAYS) | st.integers(-400, 400).map(
                lambda d: w.base.date() + timedelta(days=d)
            )
        if atom is time:
            return st.sampled_from(HOSTILE_CLOCK)
        if atom is timedelta:
            return self.deltas
        if atom is Customer:
            return self._customers(hostile_texts, st.sampled_from(HOSTILE_DAYS))
        if origin is tuple:  # a window
            return st.tuples(self.instants, self.instants)
        if origin is Sequence and typing.get_args(atom) == (int,):
            return self._id_lists()
        if origin is Sequence and typing.get_args(atom) == (SlotRequest,):
            return st.lists(self._requests(hostile=True), max_size=4)
        if origin is Mapping and name == "rules":
            return self._rules()
        if origin is Mapping:
            objects = [value for value in WRONG_JSON if isinstance(value, dict)]
            return st.sampled_from(objects) | st.dictionaries(
                st.text(max_size=10), json_values, max_size=4
            )
        pytest.fail(f"the API fuzz has no values for {name}: {atom!r}; add them to ApiValues")

    def _id_lists(self) -> Strategy:
        w = self.world
        valid = st.sampled_from(w.resources)
        foreign = st.sampled_from(
            [w.foreign["resource"], w.foreign["booking"], NOWHERE, 0, -1, INT8_MAX, INT8_MIN]
        )
        return st.one_of(
            st.just([]),
            st.lists(valid | foreign, min_size=1, max_size=5),
            valid.map(lambda r: [r, r, r]),
            valid.map(lambda r: (r, r)),  # any Sequence, not only a list
            st.tuples(valid, foreign).map(list),
            valid.map(lambda r: [r] * 300),
            st.just(range(1, 1001)),
        )

    def _customers(self, texts: Strategy, births: Strategy) -> Strategy:
        return st.builds(
            Customer,
            name=st.none() | texts,
            email=st.none() | st.sampled_from(self.world.emails) | texts,
            phone=st.none() | texts,
            date_of_birth=st.none() | births,
            notes=st.none() | texts,
        )

    def _rules(self) -> Strategy:
        values = st.one_of(
            st.none(),
            st.booleans(),
            st.sampled_from([0, -1, 1, 2, 18, 50, 151, INT4_MAX, 2**40, 2**70]),
            st.sampled_from(HOSTILE_DELTAS),
            st.sampled_from(["15 minutes", "banana", "infinity", "-1 day", "178000000 years"]),
            hostile_texts,
        )
        return st.dictionaries(st.sampled_from(RULE_KEYS), values, max_size=4)

    def _requests(self, *, hostile: bool) -> Strategy:
        times = self.instants if hostile else self.grid
        return st.builds(
            SlotRequest,
            resource_ids=self._id_lists()
            if hostile
            else st.lists(st.sampled_from(self.world.resources), min_size=1, max_size=2),
            starts_at=times,
            ends_at=times,
            quantity=st.sampled_from(HOSTILE_INTS + EDGE_INTS) if hostile else st.just(1),
        )

    def hostile(self, name: str, hint: Any) -> Strategy:
        return st.one_of(*(self.hostile_atom(name, atom) for atom in _atoms(hint)))

    # Plausible: by name, else one of the type's values.

    def plausible(self, name: str, hint: Any, drawn: Drawn) -> Strategy:
        w = self.world
        base = w.base
        tokens = list(w.tokens_by_reference.values())
        later = st.integers(0, 120).map(lambda k: base + timedelta(minutes=15 * k))
        by_name: dict[str, Callable[[], Strategy]] = {
            "venue_id": lambda: st.just(w.venue),
            "resource_ids": lambda: st.lists(
                st.sampled_from(w.tables + w.shared), min_size=1, max_size=2
            ),
            "seat_ids": lambda: (
                st.none()
                if drawn.get("quantity") is not None
                else st.lists(st.sampled_from(w.seats), min_size=1, max_size=3)
            ),
            "resource_id": lambda: st.sampled_from(w.resources),
            "a": lambda: st.sampled_from(w.tables),
            "b": lambda: st.sampled_from(w.tables),
            "booking_id": lambda: st.sampled_from(list(w.bookings.values())),
            "exclude_booking_id": lambda: st.none() | st.sampled_from(list(w.bookings.values())),
            "event_id": lambda: st.sampled_from(w.events),
            "series_id": lambda: st.sampled_from(w.series),
            "entry_id": lambda: st.sampled_from(w.entries),
            "starts_at": lambda: later,
            "first_starts_at": lambda: later,
            "ends_at": lambda: _after(drawn.get("starts_at"), later),
            "until": lambda: st.none() | _after(drawn.get("since"), later),
            "window": lambda: later.flatmap(
                lambda s: st.integers(1, 48).map(lambda k: (s, s + timedelta(minutes=15 * k)))
            ),
            "party_size": lambda: st.integers(1, 4),
            "quantity": lambda: st.sampled_from([1, 1, 2] if hint is int else [None, 1, 2]),
            "expected_version": lambda: st.sampled_from([None, 1, 2, 3]),
            "occurrences": lambda: st.integers(1, 3),
            "seat_count": lambda: st.integers(1, 4),
            "first_number": lambda: st.integers(1, 100),
            "weekday": lambda: st.integers(1, 7),
            "capacity": lambda: st.integers(1, 10),
            "seats_min": lambda: st.integers(1, 3),
            "seats_max": lambda: st.none() | st.integers(2, 8),
            "sellable_capacity": lambda: st.sampled_from([None, 1, 3, 10]),
            "ttl": lambda: st.sampled_from([None, timedelta(minutes=10)]),
            "extra": lambda: st.just(timedelta(minutes=5)),
            "duration": lambda: st.sampled_from([timedelta(hours=1), timedelta(minutes=90)]),
            "every": lambda: st.sampled_from([timedelta(days=7), "1 mon", "1 day"]),
            "step": lambda: st.sampled_from([None, timedelta(minutes=15)]),
            "older_than": lambda: st.sampled_from([timedelta(days=30), timedelta(0)]),
            "timezone": lambda: st.sampled_from(["UTC", "Europe/London", "Asia/Kolkata"]),
            "kind": lambda: st.sampled_from(["table", "room", "ga"]),
            "status": lambda: st.sampled_from(["confirmed", "pending"]),
            "category": lambda: st.sampled_from(w.categories),
            "reference": lambda: st.sampled_from(w.references),
            "token": lambda: st.sampled_from(
                [w.tokens_by_reference.get(str(drawn.get("reference")), ""), *tokens]
            ),
            "email": lambda: st.sampled_from(w.emails),
            "code": lambda: st.sampled_from(["BK001", "BK007"]),
            "role_name": lambda: st.sampled_from(["bookingdb_app", "bookingdb_readonly"]),
            "customer": lambda: (
                st.none() | self._customers(hostile_texts, st.just(date(1990, 5, 17)))
            ),
            "requests": lambda: st.lists(self._requests(hostile=False), min_size=1, max_size=3),
            "rules": lambda: st.dictionaries(
                st.sampled_from(RULE_KEYS[:11]),
                st.sampled_from([None, timedelta(minutes=15), "1 hour", 2, 8, True]),
                max_size=3,
            ),
            "day": lambda: st.integers(0, 30).map(lambda d: base.date() + timedelta(days=d)),
            "opens": lambda: st.sampled_from([time(9), time(18)]),
            "closes": lambda: st.sampled_from([time(17), time(2)]),
        }
        pick = by_name.get(name)
        if pick is not None:
            return pick()
        return self.hostile(name, hint)


def _atoms(hint: Any) -> tuple[Any, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def _after(start: Any, otherwise: Strategy) -> Strategy:
    """Quarter-hours after a drawn start (if it leaves room), else ``otherwise``."""
    if isinstance(start, datetime) and start.year < 9999:
        return st.integers(1, 12).map(lambda k: start + timedelta(minutes=15 * k))
    return otherwise


@st.composite
def method_arguments(draw: st.DrawFn, values: ApiValues, name: str) -> dict[str, Any]:
    """Keyword arguments for ``name``: the required ones, a drawn share of
    the optional ones; all plausible, one hostile, or each either way."""
    declaration = METHODS[name]
    hints = typing.get_type_hints(declaration)
    params = [
        p
        for p in inspect.signature(declaration).parameters.values()
        if p.default is inspect.Parameter.empty or draw(st.booleans())
    ]
    mode = draw(st.sampled_from(["plausible", "one hostile", "one hostile", "any"]))
    odd_one = draw(st.integers(min_value=0, max_value=max(len(params) - 1, 0)))
    drawn: Drawn = {}
    for i, p in enumerate(params):
        hostile = draw(st.booleans()) if mode == "any" else (mode == "one hostile" and i == odd_one)
        hint = hints[p.name]
        strategy = (
            values.hostile(p.name, hint) if hostile else values.plausible(p.name, hint, drawn)
        )
        drawn[p.name] = draw(strategy, label=p.name)
    return drawn


# -- the verdict ------------------------------------------------------------------------------


def api_problem(error: Exception, codes: frozenset[str]) -> str | None:
    """None when ``error`` is an answer the Python contract allows."""
    if isinstance(error, BookingError):
        if error.sqlstate in codes or error.sqlstate in POSTGRES_ANSWERS:
            return None
        return f"{type(error).__name__} with undocumented code {error.sqlstate!r}"
    if isinstance(error, psycopg.Error):
        problem = why_undocumented(error, codes)
        if problem is None:
            return None
        return f"raw psycopg {type(error).__name__}: {problem} | {describe(error)}"
    if type(error) is ValueError:
        return None  # the client's own argument checks (bookingdb/calls.py)
    return f"{type(error).__name__}: {error}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 90 else f"{text[:60]}...<{len(text)} chars>"


def _call_text(name: str, kwargs: Mapping[str, Any]) -> str:
    return f"db.{name}({', '.join(f'{k}={_short(v)}' for k, v in kwargs.items())})"


# -- the tests --------------------------------------------------------------------------------


def test_every_public_sql_function_can_be_called_from_python() -> None:
    """The README: "one method per SQL function, with the same names".
    acquire_booking_lock and try_booking_lock are on the booking_lock
    handle (BookingTransaction), as the README says."""
    methods = {name for name in dir(client.BookingDB) if not name.startswith("_")}
    on_handle = {name for name in dir(client.BookingTransaction) if not name.startswith("_")}
    missing = [
        name
        for name in declared_function_names()
        if name not in methods and not (name in ON_THE_LOCK_HANDLE and name in on_handle)
    ]
    assert missing == [], f"public SQL functions without a client method: {missing}"


def test_every_client_method_calls_a_public_sql_function(conn: Conn) -> None:
    catalog = {function.name for function in public_functions(conn)}
    assert set(METHODS) - catalog == set()


@pytest.mark.parametrize("name", [name for name in METHODS if name not in ON_THE_LOCK_HANDLE])
def test_any_arguments_return_or_raise_a_documented_exception_and_write_nothing(
    fuzzed: tuple[Conn, BookingDB, World], name: str
) -> None:
    """Arguments of the declared types, mostly plausible, one or several
    hostile: each call returns or raises a documented exception; a refusal
    changes no row; a success that writes breaks no invariant."""
    conn, db, world = fuzzed
    values = ApiValues(world)
    codes = documented_codes(conn)
    # The client counts every refusal for stats() (record_refusal): by design.
    fingerprint = Fingerprint(conn, [world.venue, world.other_venue], skip=["refusal_counts"])
    last = [fingerprint()]
    # Only violations this test's calls cause count (the database is shared).
    known = set(db.verify_invariants())
    method = getattr(db, name)

    @FUZZ
    @given(data=st.data())
    def one_call(data: st.DataObject) -> None:
        kwargs = data.draw(method_arguments(values, name), label="arguments")
        call = _call_text(name, kwargs)
        before = last[0]
        try:
            method(**kwargs)
        except Exception as error:
            last[0] = after = fingerprint()
            event(f"{name}: {getattr(error, 'sqlstate', None) or type(error).__name__}")
            problem = api_problem(error, codes)
            assert problem is None, f"{call}\n  {problem}"
            assert after == before, (
                f"{call}\n  refused but wrote to {changed_tables(before, after)}"
            )
        else:
            last[0] = after = fingerprint()
            event(f"{name}: ok")
            if after != before:  # it wrote: did it leave anything half done?
                broken = set(db.verify_invariants()) - known
                assert not broken, f"{call}\n  succeeded and broke an invariant: {broken}"

    one_call()


def test_booking_lock_with_any_arguments_returns_or_raises_a_documented_exception(
    fuzzed: tuple[Conn, BookingDB, World],
) -> None:
    """The lock's block: any resource and range either locks (and the block
    commits) or is refused with a documented exception before it starts."""
    conn, db, world = fuzzed
    values = ApiValues(world)
    codes = documented_codes(conn)

    @FUZZ
    @given(
        resource=st.sampled_from(world.resources) | values.ids,
        venue=st.sampled_from([world.venue, world.other_venue, NOWHERE, INT8_MAX]),
        starts_at=values.instants,
        ends_at=values.instants,
        wait=st.booleans(),
    )
    def lock(resource: int, venue: int, starts_at: datetime, ends_at: datetime, wait: bool) -> None:
        try:
            with db.booking_lock(venue, resource, starts_at, ends_at, wait=wait) as tx:
                tx.check_availability(venue, [resource], starts_at, ends_at)
        except Exception as error:
            problem = api_problem(error, codes)
            assert problem is None, (
                f"booking_lock({venue}, {resource}, {starts_at!r}, {ends_at!r}, wait={wait})"
                f"\n  {problem}"
            )

    lock()


# -- sweeps: every parameter of every method, one type-edge value at a time -------------------


def _plain(name: str, hint: Any, world: World, drawn: Drawn) -> Any:
    """A plain, deterministic value for a parameter the sweep is not about."""
    w = world
    start = w.base + timedelta(days=20)
    fixed: dict[str, Any] = {
        **plain_by_name(w),
        "starts_at": start,
        "first_starts_at": start,
        "ends_at": start + timedelta(hours=1),
        "window": (start, start + timedelta(hours=4)),
        "day": start.date(),
        "opens": time(9),
        "closes": time(17),
        "starts": time(9),
        "ends": time(17),
        "every": timedelta(days=7),
        "duration": timedelta(hours=1),
        "requests": [SlotRequest([w.tables[0]], start, start + timedelta(hours=1))],
        "rules": {"max_party": 20},
        "customer": Customer(name="Ada"),
    }
    if name in fixed:
        return fixed[name]
    atoms = _atoms(hint)
    if type(None) in atoms:
        return None
    atom = atoms[0]
    plain: dict[Any, Any] = {
        int: 1,
        str: f"plain {name}",
        bool: False,
        timedelta: timedelta(minutes=30),
        datetime: start,
        date: start.date(),
        time: time(12),
    }
    if atom in plain:
        return plain[atom]
    pytest.fail(f"no plain value for {name}: {hint!r}")


def _sweep(
    conn: Conn,
    db: BookingDB,
    world: World,
    swap: Callable[[str, Any], list[Any]],
) -> list[str]:
    """Calls every method once per (parameter, value in ``swap(name,
    hint)``), the other arguments plain; returns what the contract does not
    allow."""
    codes = documented_codes(conn)
    findings = []
    for name, declaration in METHODS.items():
        if name in ON_THE_LOCK_HANDLE:
            continue
        hints = typing.get_type_hints(declaration)
        params = list(inspect.signature(declaration).parameters)
        for swept in params:
            for value in swap(swept, hints[swept]):
                kwargs: Drawn = {}
                for p in params:
                    kwargs[p] = value if p == swept else _plain(p, hints[p], world, kwargs)
                try:
                    getattr(db, name)(**kwargs)
                except Exception as error:
                    problem = api_problem(error, codes)
                    if problem is not None:
                        findings.append(f"{name}({swept}={_short(value)}): {problem}")
    return findings


def _ints(hint: Any) -> bool:
    return int in _atoms(hint)


def test_an_int_beyond_bigint_is_refused_as_invalid_input(
    fuzzed: tuple[Conn, BookingDB, World],
) -> None:
    """Python ints have no bound; SQL's stop at 2^63 - 1. Every int
    parameter given 2^63 or -2^63 - 1 gets a ValueError from the client
    (as int parameters beyond 32 bits already do) or a documented refusal,
    never a psycopg error saying the function does not exist."""
    conn, db, world = fuzzed
    findings = _sweep(
        conn, db, world, lambda name, hint: [INT8_MAX + 1, INT8_MIN - 1] if _ints(hint) else []
    )
    assert findings == [], "\n  ".join(["ints beyond bigint:", *findings])


def test_text_with_a_nul_character_is_refused_as_invalid_input(
    fuzzed: tuple[Conn, BookingDB, World],
) -> None:
    """PostgreSQL text cannot hold U+0000. Every str parameter given one
    gets a ValueError from the client or a documented refusal, not a raw
    client-side psycopg error."""
    conn, db, world = fuzzed
    findings = _sweep(
        conn, db, world, lambda name, hint: ["nul\x00byte"] if str in _atoms(hint) else []
    )
    assert findings == [], "\n  ".join(["text with NUL:", *findings])


def test_values_of_a_subtype_of_the_declared_type_are_handled(
    fuzzed: tuple[Conn, BookingDB, World],
) -> None:
    """Values a type checker accepts for the declared type: ``True`` for an
    int (bool is an int), a ``datetime`` for a ``date`` (datetime is a date),
    a ``time`` with a zone for a ``time``, a tuple or a range for a
    Sequence[int]. Each is accepted as that type or refused with a
    documented exception, never 'function does not exist'."""
    conn, db, world = fuzzed

    def swap(name: str, hint: Any) -> list[Any]:
        atoms = _atoms(hint)
        found: list[Any] = []
        if int in atoms:
            found.append(True)
        if date in atoms:
            found.append(datetime(2030, 1, 1, 12, tzinfo=UTC))
        if time in atoms:
            found.append(time(9, tzinfo=UTC))
        if Sequence[int] in atoms:
            found += [tuple(world.tables[:1]), range(world.tables[0], world.tables[0] + 1)]
        return found

    findings = _sweep(conn, db, world, swap)
    assert findings == [], "\n  ".join(["subtypes:", *findings])


def test_injection_and_long_text_in_every_text_parameter_are_handled(
    fuzzed: tuple[Conn, BookingDB, World],
) -> None:
    """SQL injection and the two incompressible long texts (3,000 and 10,000
    characters) in every str parameter of every method: a result or a
    documented exception. (The generic fuzz draws the other hostile texts.)"""
    conn, db, world = fuzzed
    texts = [SQL_INJECTION, *LONG_TEXTS]
    findings = _sweep(conn, db, world, lambda name, hint: texts if str in _atoms(hint) else [])
    assert findings == [], "\n  ".join(["hostile text:", *findings])


def test_a_booking_the_database_accepts_can_be_read_back_from_python(
    fuzzed: tuple[Conn, BookingDB, World],
) -> None:
    """The database takes any finite end; Python's datetime stops at year
    9999. A booking ending after 9999 (UTC) is either refused with a
    documented exception, or, once made, can be read back through the
    client: the call that made it, get_booking, list_bookings and
    changes_since answer (no raw psycopg DataError for a call that in fact
    booked, and no venue whose bookings or feed the client cannot read)."""
    conn, db, world = fuzzed
    codes = documented_codes(conn)
    findings = []
    start = world.base + timedelta(days=30)
    # An aware datetime a type checker accepts: 9999-12-31 23:00 at UTC-14.
    end = datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-14)))
    table = db.add_resource(world.venue, "Long table")
    try:
        db.create_booking_atomic(world.venue, [table], start, end)
    except Exception as error:
        problem = api_problem(error, codes)
        booked = conn.execute(
            "SELECT count(*) FROM bookingdb.bookings"
            " WHERE venue_id = %s AND %s = ANY(resource_ids)",
            (world.venue, table),
        ).fetchone()
        if problem is not None:
            made = f" although it booked ({booked[0] if booked else '?'} booking)"
            findings.append(f"create_booking_atomic(ends_at={end!r}): {problem}{made}")
    # The same through SQL, as psql can: a booking until the last timestamptz.
    other = db.add_resource(world.venue, "Longer table")
    try:
        row = conn.execute(
            "SELECT id FROM bookingdb.create_booking_atomic(%s, %s, %s,"
            " '294276-12-31 23:59:59+00')",
            (world.venue, [other], start),
        ).fetchone()
    except psycopg.Error as error:
        assert why_undocumented(error, codes) is None, describe(error)
        row = None
    if row is not None:
        reads: dict[str, Callable[[], Any]] = {
            "get_booking": lambda: db.get_booking(world.venue, row[0]),
            "list_bookings": lambda: db.list_bookings(
                world.venue, start, start + timedelta(hours=1)
            ),
            "changes_since": lambda: db.changes_since(world.venue),
        }
        for name, read in reads.items():
            try:
                read()
            except Exception as error:
                problem = api_problem(error, codes)
                if problem is not None:
                    findings.append(f"{name} after a booking until 294276: {problem}")
    assert findings == [], "\n  ".join(["bookings after 9999:", *findings])
