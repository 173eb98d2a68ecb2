"""Shared pieces of the property-based layer: a small world per example, the
"nothing written" fingerprint, and strategies for arbitrary input."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from bookingdb import BookingDB

Conn = psycopg.Connection[Any]


def examples(full: int) -> int:
    """A property's example count under the loaded hypothesis profile:
    ``full`` in "ci" (100 examples by default), a share of it in "dev"
    (tests/conftest.py)."""
    return max(3, full * settings.default.max_examples // 100)


# One database per test function (the fixtures); each example empties it (clear)
# and builds a fresh world of venues.
SETTINGS = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

INT4_MAX = 2**31 - 1
INT4_MIN = -(2**31)


def fingerprint(conn: Conn) -> tuple[Any, ...]:
    """Row counts of venues, resources, bookings, allocations and audit_log
    and a digest of every booking, allocation and audit row: equal before and
    after means nothing was written."""
    row = conn.execute(
        """SELECT (SELECT count(*) FROM bookingdb.venues),
                  (SELECT count(*) FROM bookingdb.resources),
                  (SELECT count(*) FROM bookingdb.bookings),
                  (SELECT count(*) FROM bookingdb.allocations),
                  (SELECT count(*) FROM bookingdb.audit_log),
                  md5(concat_ws('|',
                      (SELECT string_agg(b::text, ',' ORDER BY b.venue_id, b.booking_id)
                         FROM bookingdb.bookings b),
                      (SELECT string_agg(a::text, ',' ORDER BY a.venue_id, a.booking_id,
                                         a.resource_id)
                         FROM bookingdb.allocations a),
                      (SELECT string_agg(l::text, ',' ORDER BY l.venue_id, l.audit_id)
                         FROM bookingdb.audit_log l)))"""
    ).fetchone()
    assert row is not None
    return tuple(row)


def clear(conn: Conn) -> None:
    """Empty every table (ids keep rising), so each example starts from a
    clean database and verify_invariants() stays cheap however many ran."""
    conn.execute(
        "TRUNCATE bookingdb.audit_log, bookingdb.allocations, bookingdb.bookings, "
        "bookingdb.resource_links, bookingdb.opening_hours, bookingdb.date_overrides, "
        "bookingdb.series, bookingdb.changes, bookingdb.feed_heads, bookingdb.refusal_counts, "
        "bookingdb.waitlist, bookingdb.event_inventory, bookingdb.events, "
        "bookingdb.tenant_roles, bookingdb.resources, bookingdb.venues"
    )


def error_codes(conn: Conn) -> frozenset[str]:
    return frozenset(code for (code,) in conn.execute("SELECT code FROM bookingdb.error_codes()"))


# Symbolic resources, resolved per example (ids are only known at run time).
RESOURCE_NAMES = ("two_top", "four_top", "six_top", "room", "hall", "foreign", "unknown")
# Raw ids that name nothing (or overflow nothing: all fit in bigint).
RAW_IDS = (0, -1, 2**63 - 1, -(2**63))


@dataclass
class World:
    """A venue with exclusive tables, shared rooms, and a second venue whose
    resource and booking must never be reachable from the first."""

    venue: int
    other_venue: int
    resources: dict[str, int]
    foreign_booking: int
    bookings: list[int] = field(default_factory=list)

    def resolve(self, token: str | int) -> int:
        if isinstance(token, int):
            return token
        if token == "unknown":
            return 10**12
        return self.resources[token]

    def booking(self, token: int | str) -> int:
        if token == "foreign":
            return self.foreign_booking
        if token == "unknown":
            return 10**12
        assert isinstance(token, int)
        if not self.bookings:
            return 10**12
        return self.bookings[token % len(self.bookings)]


def make_world(db: BookingDB, base: datetime) -> World:
    venue = db.create_venue("Property venue", "Australia/Lord_Howe")
    other = db.create_venue("Elsewhere")
    resources = {
        "two_top": db.add_resource(venue, "Two-top", seats_max=2),
        "four_top": db.add_resource(venue, "Four-top", seats_min=2, seats_max=4),
        "six_top": db.add_resource(venue, "Six-top", seats_min=4, seats_max=6),
        "room": db.add_resource(venue, "Room", capacity=3, kind="room"),
        "hall": db.add_resource(venue, "Hall", capacity=50, kind="area"),
        "foreign": db.add_resource(other, "Their table"),
    }
    foreign = db.create_booking_atomic(
        other, [resources["foreign"]], base + timedelta(days=3), base + timedelta(days=3, hours=1)
    )
    world = World(venue, other, resources, foreign.id)
    # Something to confirm, extend, cancel, move and collide with from the
    # first step on: a booking in every status a caller can reach (live hold,
    # lapsed hold, released hold, confirmed, cancelled) and shared units.
    hour = timedelta(hours=1)
    released = db.create_hold(venue, [resources["six_top"]], base, base + hour, party_size=4)
    db.release_hold(venue, released.id)
    cancelled = db.create_booking_atomic(
        venue, [resources["six_top"]], base + hour, base + 2 * hour, party_size=5
    )
    db.cancel_booking(venue, cancelled.id)
    world.bookings = [
        released.id,
        cancelled.id,
        db.create_hold(venue, [resources["two_top"]], base + hour, base + 2 * hour).id,
        db.create_hold(
            venue, [resources["two_top"]], base, base + hour, ttl=timedelta(microseconds=1)
        ).id,
        db.create_booking_atomic(
            venue, [resources["four_top"]], base + hour, base + 3 * hour, party_size=3
        ).id,
        db.create_booking_atomic(venue, [resources["room"]], base, base + 2 * hour, quantity=2).id,
    ]
    return world


def base_time() -> datetime:
    """A whole hour a day ahead: slots on a quarter-hour grid from here collide."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


# -- strategies -------------------------------------------------------------------------

text_no_nul = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    max_size=12,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text_no_nul,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(text_no_nul, children, max_size=4)
    ),
    max_leaves=8,
)

json_objects = st.dictionaries(text_no_nul, json_values, max_size=5)


def mostly(valid: st.SearchStrategy[Any], arbitrary: st.SearchStrategy[Any]) -> Any:
    """Three times in four a well-formed value, so that requests get past
    validation often enough to book, collide, replay and change bookings.
    (Not one_of(valid, valid, valid, arbitrary): hypothesis merges equal
    branches, which would make it one in two.)"""
    return st.sampled_from((True, True, True, False)).flatmap(
        lambda well_formed: valid if well_formed else arbitrary
    )


resource_tokens = mostly(
    st.sampled_from(
        [
            ["two_top"],
            ["four_top"],
            ["room"],
            ["hall"],
            ["four_top", "six_top"],
            ["room", "two_top"],
        ]
    ),
    st.lists(st.sampled_from(RESOURCE_NAMES) | st.sampled_from(RAW_IDS), max_size=4),
)

party_sizes = mostly(
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=-3, max_value=60) | st.sampled_from([0, -1, 51, INT4_MAX, INT4_MIN]),
)

quantities = mostly(
    st.sampled_from([1, 1, 2]),
    st.integers(min_value=-2, max_value=6) | st.sampled_from([0, 50, 51, INT4_MAX, INT4_MIN]),
)

ttls = mostly(
    st.sampled_from([None, timedelta(microseconds=1), timedelta(minutes=10)]),
    st.just(timedelta(0))
    | st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=400)),
)

versions = mostly(
    st.none() | st.integers(min_value=1, max_value=3),
    st.integers(min_value=-1, max_value=6) | st.sampled_from([INT4_MAX, INT4_MIN]),
)

keys = st.sampled_from([None, None, "key-a", "key-b", ""])

# Any UTC offset PostgreSQL accepts: the instant is what matters.
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)


@st.composite
def instants(draw: st.DrawFn, base: datetime) -> datetime:
    """Quarter-hours near the base (to collide), in the past, far ahead, or
    anywhere within two years, in any UTC offset."""
    kind = draw(st.sampled_from(["grid", "past", "far", "any"]))
    if kind == "grid":
        when = base + timedelta(minutes=15 * draw(st.integers(min_value=0, max_value=24)))
    elif kind == "past":
        when = base - timedelta(days=draw(st.integers(min_value=2, max_value=3650)))
    elif kind == "far":
        when = datetime(9999, 12, 30, tzinfo=UTC) - timedelta(
            minutes=15 * draw(st.integers(min_value=0, max_value=8))
        )
    else:
        when = base + draw(
            st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=800))
        )
    return when.astimezone(draw(offsets))


@st.composite
def _any_range(draw: st.DrawFn, base: datetime) -> tuple[datetime, datetime]:
    start = draw(instants(base))
    shape = draw(st.sampled_from(["forward", "empty", "inverted", "free"]))
    if shape == "forward":
        end = start + timedelta(minutes=15 * draw(st.integers(min_value=1, max_value=8)))
    elif shape == "empty":
        end = start
    elif shape == "inverted":
        end = start - timedelta(minutes=15 * draw(st.integers(min_value=1, max_value=8)))
    else:
        end = draw(instants(base))
    return start, end


@st.composite
def _slot(draw: st.DrawFn, base: datetime) -> tuple[datetime, datetime]:
    start = base + timedelta(minutes=15 * draw(st.integers(min_value=0, max_value=24)))
    end = start + timedelta(minutes=15 * draw(st.integers(min_value=1, max_value=8)))
    zone = draw(offsets)
    return start.astimezone(zone), end.astimezone(zone)


def ranges(base: datetime) -> Any:
    """Mostly a slot on a quarter-hour grid a day ahead (so requests collide);
    else any start and end: empty, inverted, past, far future, unrelated."""
    return mostly(_slot(base), _any_range(base))
