"""I5: one idempotency key per venue yields at most one booking; replaying the
same request returns that booking without writing; a different request under
the same key is refused (BK005, see test_sql_refusals)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contract_kit import (
    Conn,
    add_resource,
    book,
    hold,
    lapsed_hold,
    one,
    refuse,
    snapshot,
    violations,
)

At = Callable[[float], datetime]

HOLD = "SELECT * FROM bookingdb.create_hold(%s, %s, %s, %s, %s, %s, %s, %s::interval)"


def test_replaying_a_hold_returns_the_same_booking_and_writes_nothing(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    first = hold(conn, venue, [table], at(10), at(12), party_size=2, idempotency_key="c-1")
    before = snapshot(conn)
    again = hold(conn, venue, [table], at(10), at(12), party_size=2, idempotency_key="c-1")
    assert again["id"] == first["id"]
    assert again["reference"] == first["reference"]
    assert again["version"] == first["version"] == 1
    assert snapshot(conn) == before


def test_replaying_an_atomic_booking_returns_the_same_booking_and_writes_nothing(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    query = "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, %s, %s::jsonb, %s, %s)"
    params = (venue, [table], at(10), at(12), 3, '{"name": "Ada", "phone": "+44"}', 1, "c-2")
    first = one(conn, query, params)
    before = snapshot(conn)
    # The same customer object spelt with other whitespace and key order.
    params2 = (venue, [table], at(10), at(12), 3, '{ "phone":"+44","name":"Ada" }', 1, "c-2")
    assert one(conn, query, params2)["id"] == first["id"]
    assert snapshot(conn) == before
    refuse(conn, "BK005", query, (venue, [table], at(10), at(12), 3, '{"name": "Bob"}', 1, "c-2"))


def test_replay_after_the_hold_was_confirmed_still_returns_it(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    first = hold(conn, venue, [table], at(10), at(12), party_size=2, idempotency_key="c-3")
    one(conn, "SELECT * FROM bookingdb.confirm_hold(%s, %s)", (venue, first["id"]))
    before = snapshot(conn)
    replay = hold(conn, venue, [table], at(10), at(12), party_size=2, idempotency_key="c-3")
    assert replay["id"] == first["id"]
    assert replay["status"] == "confirmed"
    assert replay["version"] == 2
    assert snapshot(conn) == before
    refuse(conn, "BK005", HOLD, (venue, [table], at(10), at(12), 4, 1, "c-3", None))


def test_replay_after_the_booking_moved_still_returns_it(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    first = book(conn, venue, [table], at(10), at(12), idempotency_key="c-4")
    one(
        conn,
        "SELECT * FROM bookingdb.reschedule_booking(%s, %s, 1, %s, %s)",
        (venue, first["id"], at(14), at(15)),
    )
    replay = book(conn, venue, [table], at(10), at(12), idempotency_key="c-4")
    assert replay["id"] == first["id"]
    assert (replay["starts_at"], replay["version"]) == (at(14), 2)


def test_replay_of_a_lapsed_hold_returns_it_instead_of_a_new_hold(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    first = lapsed_hold(conn, venue, [table], at(10), at(12), idempotency_key="c-5")
    before = snapshot(conn)
    replay = hold(conn, venue, [table], at(10), at(12), idempotency_key="c-5", ttl="1 microsecond")
    assert (replay["id"], replay["status"]) == (first["id"], "expired")
    assert snapshot(conn) == before


def test_resource_order_and_duplicates_do_not_make_another_request(
    conn: Conn, venue: int, at: At
) -> None:
    a = add_resource(conn, venue, "A", seats_max=4)
    b = add_resource(conn, venue, "B", seats_max=4)
    first = book(conn, venue, [a, b], at(10), at(12), party_size=6, idempotency_key="c-6")
    assert (
        book(conn, venue, [b, a], at(10), at(12), party_size=6, idempotency_key="c-6")["id"]
        == first["id"]
    )
    assert (
        book(conn, venue, [b, a, b], at(10), at(12), party_size=6, idempotency_key="c-6")["id"]
        == first["id"]
    )


def test_the_same_key_in_another_venue_is_another_booking(
    conn: Conn, venue: int, other_venue: int, at: At
) -> None:
    ours = add_resource(conn, venue, "T1")
    theirs = add_resource(conn, other_venue, "T1")
    mine = book(conn, venue, [ours], at(10), at(12), idempotency_key="shared-key")
    other = book(conn, other_venue, [theirs], at(10), at(12), idempotency_key="shared-key")
    assert mine["id"] != other["id"]
    assert (mine["venue_id"], other["venue_id"]) == (venue, other_venue)
    assert violations(conn) == []


def test_requests_without_a_key_are_never_merged(conn: Conn, venue: int, at: At) -> None:
    yoga = add_resource(conn, venue, "Yoga", capacity=3)
    first = book(conn, venue, [yoga], at(10), at(11))
    second = book(conn, venue, [yoga], at(10), at(11))
    assert first["id"] != second["id"]
