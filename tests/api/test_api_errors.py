"""Refusals reach Python as one exception class per SQLSTATE, carrying the
code and the DETAIL; input the database must never see is refused first."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime, timedelta

import psycopg
import pytest
from api_kit import Conn, Connect, table_counts
from damage_kit import damage

import bookingdb
from bookingdb import (
    BeyondMaxAdvance,
    BookingDB,
    BookingError,
    Busy,
    CapacityExceeded,
    CapacityInUse,
    Customer,
    HoldExpired,
    IdempotencyConflict,
    InPast,
    InvalidArgument,
    InvalidRule,
    InvalidTimeRange,
    InvalidTransition,
    NotFound,
    NoticeTooShort,
    OutsideOpeningHours,
    OverlapsUnresolved,
    PartyDoesNotFit,
    PartySizeNotAllowed,
    QuantityNotAllowed,
    SlotUnavailable,
    TooManyHolds,
    UnderMinimumAge,
    ValidationError,
    VersionConflict,
)
from bookingdb.errors import ERRORS

At = Callable[[float], datetime]
Refusal = Callable[[BookingDB, int, At], object]


def _slot_taken(db: BookingDB, venue: int, at: At) -> object:
    table = db.add_resource(venue, "T1")
    db.create_booking_atomic(venue, [table], at(10), at(12))
    return lambda: db.create_hold(venue, [table], at(11), at(13))


def _shared_full(db: BookingDB, venue: int, at: At) -> object:
    room = db.add_resource(venue, "Room", capacity=2)
    db.create_booking_atomic(venue, [room], at(10), at(12), quantity=2)
    return lambda: db.create_booking_atomic(venue, [room], at(11), at(13))


def _hold_expired(db: BookingDB, venue: int, at: At) -> object:
    table = db.add_resource(venue, "T1")
    hold = db.create_hold(venue, [table], at(10), at(12), ttl=timedelta(microseconds=1))
    # The next call is a new transaction with a later now(): the hold lapsed.
    assert db.get_booking(venue, hold.id).status == "expired"
    return lambda: db.confirm_hold(venue, hold.id)


def _stale_version(db: BookingDB, venue: int, at: At) -> object:
    table = db.add_resource(venue, "T1")
    booking = db.create_booking_atomic(venue, [table], at(10), at(12))
    db.reschedule_booking(venue, booking.id, booking.version, at(13), at(14))
    return lambda: db.cancel_booking(venue, booking.id, expected_version=booking.version)


def _key_reused(db: BookingDB, venue: int, at: At) -> object:
    table = db.add_resource(venue, "T1", seats_max=4)
    db.create_hold(venue, [table], at(10), at(12), party_size=2, idempotency_key="k")
    return lambda: db.create_hold(venue, [table], at(10), at(12), party_size=3, idempotency_key="k")


def _cancel_a_hold(db: BookingDB, venue: int, at: At) -> object:
    table = db.add_resource(venue, "T1")
    hold = db.create_hold(venue, [table], at(10), at(12))
    return lambda: db.cancel_booking(venue, hold.id)


def _unknown_booking(db: BookingDB, venue: int, at: At) -> object:
    return lambda: db.get_booking(venue, 987654)


def _empty_resources(db: BookingDB, venue: int, at: At) -> object:
    return lambda: db.create_hold(venue, [], at(10), at(12))


def _inverted_range(db: BookingDB, venue: int, at: At) -> object:
    table = db.add_resource(venue, "T1")
    return lambda: db.create_booking_atomic(venue, [table], at(12), at(10))


def _in_the_past(db: BookingDB, venue: int, at: At) -> object:
    table = db.add_resource(venue, "T1")
    return lambda: db.create_hold(venue, [table], at(-72), at(-71))


def _party_over_venue_limit(db: BookingDB, venue: int, at: At) -> object:
    hall = db.add_resource(venue, "Hall", capacity=100)
    return lambda: db.create_hold(venue, [hall], at(10), at(12), party_size=51)


def _party_too_big(db: BookingDB, venue: int, at: At) -> object:
    table = db.add_resource(venue, "T1", seats_max=4)
    return lambda: db.create_hold(venue, [table], at(10), at(12), party_size=5)


def _too_little_notice(db: BookingDB, venue: int, at: At) -> object:
    table = db.add_resource(venue, "T1")
    db.set_venue_rules(venue, {"min_notice": timedelta(days=30)})
    return lambda: db.create_hold(venue, [table], at(10), at(12))


def _bad_rule(db: BookingDB, venue: int, at: At) -> object:
    return lambda: db.set_venue_rules(venue, {"min_notice": "soon"})


def _too_far_ahead(db: BookingDB, venue: int, at: At) -> object:
    table = db.add_resource(venue, "T1")
    db.set_venue_rules(venue, {"max_advance": "1 day"})
    return lambda: db.create_hold(venue, [table], at(10), at(12))


def _closed(db: BookingDB, venue: int, at: At) -> object:
    table = db.add_resource(venue, "T1")
    db.set_date_override(venue, at(10).date())
    return lambda: db.create_hold(venue, [table], at(10), at(12))


def _too_young(db: BookingDB, venue: int, at: At) -> object:
    table = db.add_resource(venue, "T1")
    db.set_venue_rules(venue, {"min_age": 18})
    child = Customer(name="Kid", date_of_birth=at(10).date().replace(year=at(10).year - 10))
    return lambda: db.create_booking_atomic(venue, [table], at(10), at(12), customer=child)


def _quantity_too_big(db: BookingDB, venue: int, at: At) -> object:
    room = db.add_resource(venue, "Room", capacity=3)
    return lambda: db.create_hold(venue, [room], at(10), at(12), quantity=4)


def _busy(db: BookingDB, venue: int, at: At) -> object:
    event = db.create_event(venue, "Gig", at(20), at(23))
    floor = db.add_resource(venue, "Floor", capacity=10, seats_max=10, kind="ga")
    db.add_event_inventory(venue, event, [floor], "Standing", 2000)

    def call() -> object:
        # Another transaction holds the area's lock, uncommitted: the hold
        # waits for it until the function's lock_timeout (200 ms in tests).
        with psycopg.connect(db.dsn) as other:
            other.execute(
                "SELECT bookingdb.hold_event_tickets(venue_id => %s, event_id => %s,"
                " quantity => 1)",
                (venue, event),
            )
            return db.hold_event_tickets(venue, event, quantity=1)

    return call


def _too_many_holds(db: BookingDB, venue: int, at: At) -> object:
    tables = [db.add_resource(venue, f"T{i}") for i in range(3)]
    db.set_venue_rules(venue, {"max_active_holds_per_customer": 2})
    for table in tables[:2]:
        db.create_hold(venue, [table], at(10), at(12), holder="cookie-1")
    return lambda: db.create_hold(venue, [tables[2]], at(10), at(12), holder="cookie-1")


def _capacity_in_use(db: BookingDB, venue: int, at: At) -> object:
    room = db.add_resource(venue, "Room", capacity=10)
    db.create_booking_atomic(venue, [room], at(10), at(12), quantity=6)
    return lambda: db.set_sellable_capacity(venue, room, 5)


def _overlap_unresolved(db: BookingDB, venue: int, at: At) -> object:
    # Indexes that lost live rows, one of them half of a double booking
    # (damage_kit): the repair is refused until the overlap is resolved.
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        damage(conn)
    return db.repair_allocation_indexes


CASES: list[tuple[str, type[BookingError], Refusal]] = [
    ("BK001", SlotUnavailable, _slot_taken),
    ("BK002", CapacityExceeded, _shared_full),
    ("BK003", HoldExpired, _hold_expired),
    ("BK004", VersionConflict, _stale_version),
    ("BK005", IdempotencyConflict, _key_reused),
    ("BK006", InvalidTransition, _cancel_a_hold),
    ("BK007", NotFound, _unknown_booking),
    ("BK008", InvalidArgument, _empty_resources),
    ("BK009", NoticeTooShort, _too_little_notice),
    ("BK010", InvalidRule, _bad_rule),
    ("BK011", InvalidTimeRange, _inverted_range),
    ("BK012", InPast, _in_the_past),
    ("BK013", BeyondMaxAdvance, _too_far_ahead),
    ("BK014", PartySizeNotAllowed, _party_over_venue_limit),
    ("BK015", OutsideOpeningHours, _closed),
    ("BK016", UnderMinimumAge, _too_young),
    ("BK017", QuantityNotAllowed, _quantity_too_big),
    ("BK018", PartyDoesNotFit, _party_too_big),
    ("BK020", Busy, _busy),
    ("BK021", TooManyHolds, _too_many_holds),
    ("BK022", CapacityInUse, _capacity_in_use),
    ("BK023", OverlapsUnresolved, _overlap_unresolved),
]


@pytest.mark.parametrize(("code", "cls", "setup"), CASES, ids=[c[0] for c in CASES])
def test_each_refusal_raises_its_own_exception_class_with_sqlstate_and_detail(
    db: BookingDB,
    conn: Conn,
    venue: int,
    at: At,
    code: str,
    cls: type[BookingError],
    setup: Refusal,
) -> None:
    call = setup(db, venue, at)
    assert callable(call)
    before = table_counts(conn)
    with pytest.raises(BookingError) as info:
        call()
    error = info.value
    assert type(error) is cls
    assert error.sqlstate == code == cls.sqlstate
    assert isinstance(error.detail, str) and error.detail
    assert code in str(error)
    assert isinstance(error.__cause__, psycopg.Error)
    assert table_counts(conn) == before


def test_every_code_in_the_sql_catalogue_has_exactly_one_exception_class(conn: Conn) -> None:
    catalogue = {
        code: retryable
        for code, retryable in conn.execute(
            "SELECT code, retryable FROM bookingdb.error_codes()"
        ).fetchall()
    }
    assert set(ERRORS) == set(catalogue)
    for code, cls in ERRORS.items():
        assert cls.sqlstate == code
        assert issubclass(cls, BookingError)
        assert cls.retryable == catalogue[code], code
        assert inspect.getdoc(cls), f"{cls.__name__} should say when it happens"
        assert getattr(bookingdb, cls.__name__) is cls, f"{cls.__name__} is not exported"
    assert len(set(ERRORS.values())) == len(ERRORS)


def test_every_tested_code_is_the_whole_catalogue(conn: Conn) -> None:
    codes = {code for (code,) in conn.execute("SELECT code FROM bookingdb.error_codes()")}
    assert {case[0] for case in CASES} == codes


def test_validation_refusals_share_a_base_class() -> None:
    for cls in (InvalidArgument, InvalidTimeRange, InPast, PartySizeNotAllowed, QuantityNotAllowed):
        assert issubclass(cls, ValidationError)
    for cls in (SlotUnavailable, CapacityExceeded, HoldExpired, VersionConflict, NotFound):
        assert not issubclass(cls, ValidationError)


NAIVE = datetime(2099, 1, 1, 10, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda db, aware: db.create_hold(1, [1], NAIVE, aware),
        lambda db, aware: db.create_hold(1, [1], aware, NAIVE),
        lambda db, aware: db.create_booking_atomic(1, [1], NAIVE, aware),
        lambda db, aware: db.reschedule_booking(1, 1, None, aware, NAIVE),
        lambda db, aware: db.list_bookings(1, NAIVE, aware),
        lambda db, aware: db.check_availability(1, [1], aware, NAIVE),
    ],
    ids=["hold-start", "hold-end", "book", "reschedule", "list", "check"],
)
def test_a_naive_datetime_is_refused_before_reaching_the_database(
    connect: Connect, dsn: str, call: Callable[[BookingDB, datetime], object], at: At
) -> None:
    # A client whose pool is closed cannot reach the database at all: the
    # ValueError must come first.
    client = connect(dsn, max_size=1)
    client.close()
    with pytest.raises(ValueError, match="timezone"):
        call(client, at(10))


def test_a_naive_datetime_writes_nothing(db: BookingDB, conn: Conn, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    before = table_counts(conn)
    with pytest.raises(ValueError):
        db.create_booking_atomic(venue, [table], at(10).replace(tzinfo=None), at(12))
    assert table_counts(conn) == before


@pytest.mark.parametrize(
    "kwargs",
    [{"party_size": 2**40}, {"quantity": 2**40}, {"party_size": -(2**63)}],
    ids=["party-2^40", "quantity-2^40", "party--2^63"],
)
def test_an_integer_beyond_sql_int_is_refused_as_a_booking_error(
    db: BookingDB, conn: Conn, venue: int, at: At, kwargs: dict[str, int]
) -> None:
    room = db.add_resource(venue, "Room", capacity=10)
    before = table_counts(conn)
    # Typed `int` in Python, `int` (32 bits) in SQL: the caller must get a
    # documented refusal (or a ValueError before the database), never a
    # driver error such as "function does not exist".
    with pytest.raises((BookingError, ValueError)):
        db.create_hold(venue, [room], at(10), at(12), **kwargs)
    assert table_counts(conn) == before


def test_a_ttl_beyond_what_a_client_can_read_is_refused_not_committed(
    db: BookingDB, conn: Conn, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    before = table_counts(conn)
    # now() + 100 million days is after the year 10000: no Python datetime
    # can hold the expires_at of such a hold. The engine must refuse it
    # (BK008, say) instead of committing a hold that blocks the slot for
    # millennia while the caller receives a driver error.
    with pytest.raises(BookingError):
        db.create_hold(venue, [table], at(10), at(12), ttl=timedelta(days=100_000_000))
    assert table_counts(conn) == before
