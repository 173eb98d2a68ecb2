"""Arbitrary requests through the Python client: every call either succeeds
or raises a BookingError whose SQLSTATE is in bookingdb.error_codes(), never
anything else; a refusal writes nothing; and after every call
verify_invariants() is empty."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st
from property_kit import (
    SETTINGS,
    Conn,
    World,
    base_time,
    clear,
    error_codes,
    fingerprint,
    json_objects,
    keys,
    make_world,
    mostly,
    party_sizes,
    quantities,
    ranges,
    resource_tokens,
    text_no_nul,
    ttls,
    versions,
)

from bookingdb import Booking, BookingDB, BookingError

booking_tokens = mostly(
    st.integers(min_value=0, max_value=20), st.sampled_from(["foreign", "unknown"])
)
customers = st.none() | json_objects


def _operation(draw: Callable[..., Any], world: World, base: datetime) -> tuple[str, Callable]:
    """Draw one call on the client with arbitrary arguments."""
    db_op = draw(
        st.sampled_from(
            [
                "hold",
                "hold",
                "book",
                "book",
                "confirm",
                "extend",
                "release",
                "cancel",
                "reschedule",
                "check",
                "get",
                "list",
            ]
        )
    )
    ids = [world.resolve(t) for t in draw(resource_tokens)]
    start, end = draw(ranges(base))
    booking = world.booking(draw(booking_tokens))
    venue = draw(st.sampled_from([world.venue] * 10 + [world.other_venue, 10**12]))
    if db_op == "hold":
        party, qty, key, ttl = draw(party_sizes), draw(quantities), draw(keys), draw(ttls)
        return db_op, lambda db: db.create_hold(
            venue, ids, start, end, party_size=party, quantity=qty, idempotency_key=key, ttl=ttl
        )
    if db_op == "book":
        party, qty, key, who = draw(party_sizes), draw(quantities), draw(keys), draw(customers)
        return db_op, lambda db: db.create_booking_atomic(
            venue,
            ids,
            start,
            end,
            party_size=party,
            customer=who,
            quantity=qty,
            idempotency_key=key,
        )
    if db_op == "confirm":
        who, ref = draw(customers), draw(st.none() | text_no_nul)
        return db_op, lambda db: db.confirm_hold(venue, booking, customer=who, payment_ref=ref)
    if db_op == "extend":
        extra = draw(ttls.filter(lambda t: t is not None))
        return db_op, lambda db: db.extend_hold(venue, booking, extra)
    if db_op == "release":
        return db_op, lambda db: db.release_hold(venue, booking)
    if db_op == "cancel":
        version, reason = draw(versions), draw(st.none() | text_no_nul)
        return db_op, lambda db: db.cancel_booking(
            venue, booking, expected_version=version, reason=reason
        )
    if db_op == "reschedule":
        version = draw(versions)
        new_ids = draw(st.none() | st.just(ids))
        return db_op, lambda db: db.reschedule_booking(
            venue, booking, version, start, end, resource_ids=new_ids
        )
    if db_op == "check":
        qty = draw(quantities)
        exclude = draw(st.none() | st.just(booking))
        return db_op, lambda db: db.check_availability(
            venue, ids, start, end, quantity=qty, exclude_booking_id=exclude
        )
    if db_op == "get":
        return db_op, lambda db: db.get_booking(venue, booking)
    return db_op, lambda db: db.list_bookings(venue, start, end)


@SETTINGS
@given(data=st.data())
def test_any_request_succeeds_or_is_a_documented_refusal_that_writes_nothing(
    db: BookingDB, conn: Conn, data: st.DataObject
) -> None:
    codes = error_codes(conn)
    base = base_time()
    clear(conn)
    world = make_world(db, base)
    steps = data.draw(st.integers(min_value=1, max_value=8), label="steps")
    for _ in range(steps):
        name, call = _operation(data.draw, world, base)
        before = fingerprint(conn)
        try:
            result = call(db)
        except BookingError as refusal:
            event(f"{name} refused {refusal.sqlstate}")
            assert refusal.sqlstate in codes, f"{name}: undocumented {refusal.sqlstate}"
            assert fingerprint(conn) == before, f"{name} refused with {refusal.sqlstate} but wrote"
        else:
            event(f"{name} ok")
            if (
                isinstance(result, Booking)
                and result.venue_id == world.venue
                and result.id not in world.bookings
            ):
                world.bookings.append(result.id)
            if name in ("get", "list", "check"):
                assert fingerprint(conn) == before, f"{name} only reads but wrote"
        assert db.verify_invariants() == [], f"after {name}"
