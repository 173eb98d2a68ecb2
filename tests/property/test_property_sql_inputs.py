"""Arbitrary arguments straight from SQL, as any driver or psql can send them:
NULL anywhere, 'infinity', customer JSON of any shape, NULL inside the
resource array, any interval. Each call succeeds or fails with a SQLSTATE
from bookingdb.error_codes(); a refusal writes nothing; the invariants hold."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from hypothesis import event, given, settings
from hypothesis import strategies as st
from property_kit import (
    INT4_MAX,
    INT4_MIN,
    RAW_IDS,
    RESOURCE_NAMES,
    SETTINGS,
    Conn,
    World,
    base_time,
    clear,
    error_codes,
    examples,
    fingerprint,
    json_objects,
    json_values,
    make_world,
    mostly,
    ranges,
    text_no_nul,
)
from psycopg.types.json import Jsonb

from bookingdb import BookingDB

CALLS = {
    "hold": "SELECT * FROM bookingdb.create_hold(%s::bigint, %s::bigint[], %s::timestamptz, "
    "%s::timestamptz, %s::int, %s::int, %s::text, %s::interval)",
    "book": "SELECT * FROM bookingdb.create_booking_atomic(%s::bigint, %s::bigint[], "
    "%s::timestamptz, %s::timestamptz, %s::int, %s::jsonb, %s::int, %s::text)",
    "confirm": "SELECT * FROM bookingdb.confirm_hold(%s::bigint, %s::bigint, %s::jsonb, %s::text)",
    "extend": "SELECT * FROM bookingdb.extend_hold(%s::bigint, %s::bigint, %s::interval)",
    "release": "SELECT * FROM bookingdb.release_hold(%s::bigint, %s::bigint)",
    "cancel": "SELECT * FROM bookingdb.cancel_booking(%s::bigint, %s::bigint, %s::int, %s::text)",
    "reschedule": "SELECT * FROM bookingdb.reschedule_booking(%s::bigint, %s::bigint, %s::int, "
    "%s::timestamptz, %s::timestamptz, %s::bigint[])",
    "check": "SELECT bookingdb.check_availability(%s::bigint, %s::bigint[], %s::timestamptz, "
    "%s::timestamptz, %s::int, %s::bigint)",
    "get": "SELECT * FROM bookingdb.get_booking(%s::bigint, %s::bigint)",
    "list": "SELECT * FROM bookingdb.list_bookings(%s::bigint, %s::timestamptz, %s::timestamptz)",
    "expire": "SELECT bookingdb.expire_holds(%s::int)",
    "venue": "SELECT bookingdb.create_venue(%s::text, %s::text)",
    "resource": "SELECT bookingdb.add_resource(%s::bigint, %s::text, %s::int, %s::int, %s::int, "
    "%s::text)",
}

ints = st.none() | st.integers(min_value=-3, max_value=60) | st.sampled_from([INT4_MAX, INT4_MIN])
# Party sizes and quantities: usually ones that fit, so calls get past
# validation and build up state to collide with.
small = mostly(st.sampled_from([1, 1, 2]), ints)
texts = st.none() | text_no_nul | st.sampled_from(["", " ", "x" * 200, "x" * 201])
intervals = mostly(
    st.sampled_from([None, "1 microsecond", "10 minutes"]),
    st.one_of(
        st.none(),
        st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=400)),
        st.sampled_from(["0", "-1 second", "1 mon -40 days", "-1 mon 40 days"]),
    ),
)
customers = mostly(st.none() | json_objects.map(Jsonb), json_values.map(Jsonb))
zones = st.sampled_from(
    [None, "UTC", "Europe/London", "America/St_Johns", "Mars/Olympus", "", "utc", "+05:00"]
)


def _arguments(data: st.DataObject, world: World) -> tuple[str, tuple[Any, ...]]:
    draw = data.draw
    base = base_time()

    def venue() -> Any:
        return draw(st.sampled_from([world.venue] * 12 + [world.other_venue, None, 10**12, -1]))

    def resource_ids() -> Any:
        tokens = draw(
            mostly(
                st.sampled_from([["two_top"], ["room"], ["hall"], ["room", "two_top"]]),
                st.none()
                | st.lists(st.sampled_from(RESOURCE_NAMES) | st.sampled_from(RAW_IDS) | st.none()),
            )
        )
        if tokens is None:
            return None
        return [None if t is None else world.resolve(t) for t in tokens]

    def when() -> Any:
        start, end = draw(ranges(base))
        special = draw(mostly(st.just("keep"), st.sampled_from([None, "infinity", "-infinity"])))
        if special == "keep":
            return start, end
        return draw(st.sampled_from([(special, end), (start, special)]))

    def booking() -> Any:
        return draw(
            st.sampled_from(["unknown", "foreign", 0, 1, 2, 3, 4, 5]).map(world.booking) | st.none()
        )

    name = draw(st.sampled_from([*sorted(CALLS), "hold", "book", "confirm", "reschedule"]))
    if name == "hold":
        args = (venue(), resource_ids(), *when(), draw(small), draw(small), draw(texts))
        return name, (*args, draw(intervals))
    if name == "book":
        args = (venue(), resource_ids(), *when(), draw(small), draw(customers), draw(small))
        return name, (*args, draw(texts))
    if name == "confirm":
        return name, (venue(), booking(), draw(customers), draw(texts))
    if name == "extend":
        return name, (venue(), booking(), draw(intervals))
    if name in ("release", "get"):
        return name, (venue(), booking())
    if name == "cancel":
        return name, (venue(), booking(), draw(ints), draw(texts))
    if name == "reschedule":
        return name, (venue(), booking(), draw(ints), *when(), resource_ids())
    if name == "check":
        return name, (venue(), resource_ids(), *when(), draw(small), booking())
    if name == "list":
        return name, (venue(), *when())
    if name == "expire":
        return name, (draw(ints),)
    if name == "venue":
        return name, (draw(texts), draw(zones))
    return name, (venue(), draw(texts), draw(ints), draw(ints), draw(ints), draw(texts))


@settings(SETTINGS, max_examples=examples(100))
@given(data=st.data())
def test_any_sql_arguments_succeed_or_fail_with_a_documented_code_and_write_nothing(
    db: BookingDB, conn: Conn, data: st.DataObject
) -> None:
    codes = error_codes(conn)
    clear(conn)
    world = make_world(db, base_time())
    for _ in range(data.draw(st.integers(min_value=1, max_value=6), label="steps")):
        name, args = _arguments(data, world)
        before = fingerprint(conn)
        try:
            result = conn.execute(CALLS[name], args).fetchall()
        except psycopg.Error as error:
            code = error.diag.sqlstate
            event(f"{name} refused {code}")
            assert code in codes, f"{name}{args!r} failed with undocumented {code}: {error}"
            assert fingerprint(conn) == before, f"{name} refused with {code} but wrote"
        else:
            event(f"{name} ok")
            if name in ("hold", "book") and result and result[0][1] == world.venue:
                world.bookings.append(result[0][0])
        assert db.verify_invariants() == [], f"after {name}{args!r}"
