"""The waitlist: freed capacity is offered, as a hold made in the same
transaction, to the first matching entry (priority, then first come); an
offer that lapses passes to the next entry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from contract_kit import (
    Conn,
    add_resource,
    book,
    expire_now,
    hold,
    one,
    refuse,
    rows,
    scalar,
    set_rules,
    violations,
)
from psycopg.types.json import Jsonb

JOIN = "SELECT bookingdb.join_waitlist(%s, %s, %s, %s, %s, %s, %s, %s)"


def join(
    conn: Conn,
    venue: int,
    resource_ids: list[int],
    starts_at: datetime | None,
    ends_at: datetime | None,
    party_size: int = 2,
    name: str = "guest",
    priority: int = 0,
    event_id: int | None = None,
) -> int:
    return int(
        scalar(
            conn,
            JOIN,
            (
                venue,
                resource_ids,
                starts_at,
                ends_at,
                party_size,
                Jsonb({"name": name}),
                priority,
                event_id,
            ),
        )
    )


def entries(conn: Conn, venue: int, include_closed: bool = True) -> dict[int, dict[str, Any]]:
    return {
        e["entry_id"]: e
        for e in rows(conn, "SELECT * FROM bookingdb.waitlist(%s, %s)", (venue, include_closed))
    }


def cancel(conn: Conn, venue: int, booking_id: int) -> None:
    conn.execute("SELECT bookingdb.cancel_booking(%s, %s)", (venue, booking_id))


def offer(conn: Conn, venue: int, entry_id: int) -> dict[str, Any]:
    """The hold an entry was offered."""
    booking_id = entries(conn, venue)[entry_id]["booking_id"]
    assert booking_id is not None, f"entry {entry_id} has no offer"
    return one(conn, "SELECT * FROM bookingdb.get_booking(%s, %s)", (venue, booking_id))


def lapsing_hold_and_waiting_entry(
    conn: Conn, venue: int, table: int, at: Callable[[float], datetime]
) -> tuple[dict[str, Any], int]:
    """A 1 ms hold on the table and an entry waiting for it, made in one
    transaction (whose clock stands still, so the hold is live when the
    entry joins); the hold has lapsed for every later transaction."""
    with conn.transaction():
        lapsing = hold(conn, venue, [table], at(19), at(21), party_size=2, ttl="1 millisecond")
        waiting = join(conn, venue, [table], at(19), at(21))
    return lapsing, waiting


def test_a_cancellation_is_offered_to_the_highest_priority_then_the_first_to_join(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    booked = book(conn, venue, [table], at(19), at(21), party_size=2)
    first = join(conn, venue, [table], at(19), at(21), name="first")
    vip = join(conn, venue, [table], at(19), at(21), name="vip", priority=5)
    last = join(conn, venue, [table], at(19), at(21), name="last")
    assert {e["status"] for e in entries(conn, venue).values()} == {"waiting"}

    cancel(conn, venue, booked["id"])

    state = entries(conn, venue)
    assert (state[vip]["status"], state[first]["status"], state[last]["status"]) == (
        "offered",
        "waiting",
        "waiting",
    )
    held = offer(conn, venue, vip)
    assert held["status"] == "held" and held["waitlist_entry_id"] == vip
    assert held["customer"] == {"name": "vip"}
    assert (held["resource_ids"], held["starts_at"], held["ends_at"]) == ([table], at(19), at(21))
    actions = [
        c["action"]
        for c in rows(conn, "SELECT * FROM bookingdb.changes_since(%s)", (venue,))
        if c["booking_id"] == held["id"]
    ]
    assert actions == ["waitlist_offer"]
    # The offer is listed first, then the line in serving order.
    assert [
        e["entry_id"] for e in rows(conn, "SELECT * FROM bookingdb.waitlist(%s)", (venue,))
    ] == [
        vip,
        first,
        last,
    ]
    assert violations(conn) == []


def test_a_confirmed_offer_books_the_entry_and_a_released_one_passes_on(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    booked = book(conn, venue, [table], at(19), at(21), party_size=2)
    first = join(conn, venue, [table], at(19), at(21), name="first")
    second = join(conn, venue, [table], at(19), at(21), name="second")
    cancel(conn, venue, booked["id"])

    conn.execute("SELECT bookingdb.release_hold(%s, %s)", (venue, offer(conn, venue, first)["id"]))
    state = entries(conn, venue)
    assert (state[first]["status"], state[second]["status"]) == ("lapsed", "offered")

    conn.execute("SELECT bookingdb.confirm_hold(%s, %s)", (venue, offer(conn, venue, second)["id"]))
    assert entries(conn, venue)[second]["status"] == "booked"
    assert offer(conn, venue, second)["status"] == "confirmed"
    assert violations(conn) == []


def test_a_lapsed_offer_passes_to_the_next_entry_when_the_sweeper_runs(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    booked = book(conn, venue, [table], at(19), at(21), party_size=2)
    first = join(conn, venue, [table], at(19), at(21), name="first")
    second = join(conn, venue, [table], at(19), at(21), name="second")
    set_rules(conn, venue, hold_ttl="1 millisecond")
    cancel(conn, venue, booked["id"])
    lapsing = offer(conn, venue, first)
    expire_now(conn, lapsing)
    # Read before anything marks it: the offer already reads lapsed.
    assert entries(conn, venue)[first]["status"] == "lapsed"

    set_rules(conn, venue, hold_ttl="10 minutes")
    assert scalar(conn, "SELECT bookingdb.expire_holds()") == 1
    state = entries(conn, venue)
    assert (state[first]["status"], state[second]["status"]) == ("lapsed", "offered")
    assert offer(conn, venue, second)["status"] == "held"
    assert violations(conn) == []


@pytest.mark.parametrize("serve", ["expire_holds", "process_waitlist", "join_waitlist"])
def test_a_hold_that_lapses_unwatched_is_offered_by_the_sweeper_or_the_next_waitlist_call(
    conn: Conn, venue: int, at: Callable[[float], datetime], serve: str
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    lapsing, waiting = lapsing_hold_and_waiting_entry(conn, venue, table, at)
    assert entries(conn, venue)[waiting]["status"] == "waiting"
    expire_now(conn, lapsing)
    assert entries(conn, venue)[waiting]["status"] == "waiting"  # nothing has run yet

    if serve == "expire_holds":
        assert scalar(conn, "SELECT bookingdb.expire_holds()") == 1
    elif serve == "process_waitlist":
        assert scalar(conn, "SELECT bookingdb.process_waitlist(%s)", (venue,)) == 1
    else:
        join(conn, venue, [table], at(19), at(21), name="later")

    assert entries(conn, venue)[waiting]["status"] == "offered"
    assert offer(conn, venue, waiting)["status"] == "held"
    assert violations(conn) == []


def test_a_booking_that_finds_a_lapsed_hold_in_its_way_takes_the_slot_itself(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    lapsing, waiting = lapsing_hold_and_waiting_entry(conn, venue, table, at)
    expire_now(conn, lapsing)
    walk_in = book(conn, venue, [table], at(19), at(21), party_size=2)
    assert walk_in["status"] == "confirmed"
    assert entries(conn, venue)[waiting]["status"] == "waiting"
    assert violations(conn) == []


def test_an_entry_is_offered_a_resource_that_fits_its_party(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    small = add_resource(conn, venue, "T2", seats_max=2)
    large = add_resource(conn, venue, "T6", seats_max=6)
    small_booking = book(conn, venue, [small], at(19), at(21), party_size=2)
    large_booking = book(conn, venue, [large], at(19), at(21), party_size=5)
    party_of_five = join(conn, venue, [small, large], at(19), at(21), party_size=5)

    cancel(conn, venue, small_booking["id"])  # the two-top does not seat five
    assert entries(conn, venue)[party_of_five]["status"] == "waiting"
    cancel(conn, venue, large_booking["id"])
    assert offer(conn, venue, party_of_five)["resource_ids"] == [large]


def test_shared_capacity_is_offered_in_places_for_the_party(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    spin = add_resource(conn, venue, "Spin class", capacity=4, kind="class")
    three = book(conn, venue, [spin], at(9), at(10), party_size=3, quantity=3)
    book(conn, venue, [spin], at(9), at(10), party_size=1, quantity=1)
    pair = join(conn, venue, [spin], at(9), at(10), party_size=2)
    assert entries(conn, venue)[pair]["status"] == "waiting"
    cancel(conn, venue, three["id"])
    offered = offer(conn, venue, pair)
    assert (offered["quantity"], offered["party_size"]) == (2, 2)
    assert violations(conn) == []


def test_event_entries_are_offered_tickets_with_their_price(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    gig = int(
        scalar(conn, "SELECT bookingdb.create_event(%s, 'Gig', %s, %s)", (venue, at(20), at(23)))
    )
    floor = add_resource(conn, venue, "Floor", capacity=4, kind="ga")
    conn.execute(
        "SELECT bookingdb.add_event_inventory(%s, %s, %s, 'standing', 3000)", (venue, gig, [floor])
    )
    sold = one(conn, "SELECT * FROM bookingdb.hold_event_tickets(%s, %s, 4)", (venue, gig))
    fan = join(conn, venue, [floor], None, None, party_size=3, event_id=gig)
    assert entries(conn, venue)[fan]["starts_at"] == at(20)
    conn.execute("SELECT bookingdb.release_hold(%s, %s)", (venue, sold["id"]))
    offered = offer(conn, venue, fan)
    assert (offered["event_id"], offered["quantity"], offered["total_cents"]) == (gig, 3, 9000)
    ttl = scalar(
        conn,
        "SELECT %s::timestamptz - %s::timestamptz",
        (offered["expires_at"], offered["created_at"]),
    )
    assert ttl.total_seconds() == 15 * 60


def test_leaving_the_waitlist_gives_back_an_offer_which_passes_on(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    booked = book(conn, venue, [table], at(19), at(21), party_size=2)
    first = join(conn, venue, [table], at(19), at(21), name="first")
    second = join(conn, venue, [table], at(19), at(21), name="second")
    third = join(conn, venue, [table], at(19), at(21), name="third")

    left = one(conn, "SELECT * FROM bookingdb.leave_waitlist(%s, %s)", (venue, third))
    assert left["status"] == "left"
    cancel(conn, venue, booked["id"])
    first_offer = offer(conn, venue, first)
    conn.execute("SELECT bookingdb.leave_waitlist(%s, %s)", (venue, first))
    assert (
        one(conn, "SELECT * FROM bookingdb.get_booking(%s, %s)", (venue, first_offer["id"]))[
            "status"
        ]
        == "released"
    )
    assert entries(conn, venue)[second]["status"] == "offered"
    assert list(entries(conn, venue, include_closed=False)) == [second]

    refuse(conn, "BK006", "SELECT * FROM bookingdb.leave_waitlist(%s, %s)", (venue, first))
    refuse(conn, "BK007", "SELECT * FROM bookingdb.leave_waitlist(%s, %s)", (venue, 10**9))
    assert violations(conn) == []


def test_bad_waitlist_requests_are_refused(
    conn: Conn, venue: int, other_venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1")
    customer = Jsonb({"name": "x"})
    bad: list[tuple[str, tuple[Any, ...]]] = [
        ("BK007", (other_venue, [table], at(19), at(21), 2, customer, 0, None)),
        ("BK008", (venue, [], at(19), at(21), 2, customer, 0, None)),
        ("BK011", (venue, [table], at(21), at(19), 2, customer, 0, None)),
        ("BK014", (venue, [table], at(19), at(21), 0, customer, 0, None)),
        ("BK008", (venue, [table], at(19), at(21), 2, Jsonb([1]), 0, None)),
        ("BK008", (venue, [table], at(19), at(21), 2, customer, None, None)),
        ("BK007", (venue, [table], at(19), at(21), 2, customer, 0, 10**9)),
    ]
    for code, params in bad:
        refuse(conn, code, JOIN, params)
    refuse(conn, "BK007", "SELECT * FROM bookingdb.waitlist(%s)", (-1,))
    refuse(conn, "BK008", "SELECT bookingdb.process_waitlist(%s, 0)", (venue,))
