"""Events and tickets: numbered seats picked by adjacency, general admission
counted, prices on the hold, and the ordinary hold life cycle afterwards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from contract_kit import Conn, add_resource, expire_now, one, refuse, rows, scalar, violations

HOLD = "SELECT * FROM bookingdb.hold_event_tickets(%s, %s, %s, %s, %s, %s, %s, %s::interval)"


def event(conn: Conn, venue: int, at: Callable[[float], datetime], name: str = "Gig") -> int:
    return int(
        scalar(conn, "SELECT bookingdb.create_event(%s, %s, %s, %s)", (venue, name, at(20), at(23)))
    )


def seats(conn: Conn, venue: int, row: str, count: int = 10, section: str = "Stalls") -> list[int]:
    return list(
        scalar(
            conn, "SELECT bookingdb.add_seat_block(%s, %s, %s, 1, %s)", (venue, section, row, count)
        )
    )


def on_sale(
    conn: Conn, venue: int, event_id: int, ids: list[int], category: str, price: int
) -> None:
    conn.execute(
        "SELECT bookingdb.add_event_inventory(%s, %s, %s, %s, %s)",
        (venue, event_id, ids, category, price),
    )


def tickets(
    conn: Conn,
    venue: int,
    event_id: int,
    quantity: int | None = None,
    seat_ids: list[int] | None = None,
    category: str | None = None,
    key: str | None = None,
    ttl: str | None = None,
    customer: Any = None,
) -> dict[str, Any]:
    return one(conn, HOLD, (venue, event_id, quantity, seat_ids, category, customer, key, ttl))


def remaining(conn: Conn, venue: int, event_id: int) -> dict[int, int]:
    return {
        r["resource_id"]: r["remaining"]
        for r in rows(conn, "SELECT * FROM bookingdb.event_availability(%s, %s)", (venue, event_id))
    }


def test_a_seat_block_is_numbered_adjacent_seats(conn: Conn, venue: int) -> None:
    ids = seats(conn, venue, "A", 5)
    listed = rows(conn, "SELECT * FROM bookingdb.list_resources(%s)", (venue,))
    assert [r["resource_id"] for r in listed] == ids
    assert [r["name"] for r in listed] == [f"Stalls A{n}" for n in range(1, 6)]
    assert {(r["kind"], r["capacity"]) for r in listed} == {("seat", 1)}
    # The same seat twice is refused, and the block is all or nothing.
    refuse(conn, "BK008", "SELECT bookingdb.add_seat_block(%s, 'Stalls', 'A', 4, 5)", (venue,))
    refuse(conn, "BK008", "SELECT bookingdb.add_seat_block(%s, 'Stalls', '', 1, 5)", (venue,))
    refuse(conn, "BK008", "SELECT bookingdb.add_seat_block(%s, 'Stalls', 'B', 1, 0)", (venue,))
    refuse(conn, "BK007", "SELECT bookingdb.add_seat_block(%s, 'Stalls', 'B', 1, 5)", (-1,))


def test_the_best_adjacent_seats_are_in_the_first_row_nearest_its_middle(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    gig = event(conn, venue, at)
    row_a, row_b = seats(conn, venue, "A"), seats(conn, venue, "B")
    on_sale(conn, venue, gig, row_a + row_b, "stalls", 4000)

    first = tickets(conn, venue, gig, 4, category="stalls")
    assert first["resource_ids"] == row_a[3:7]  # A4-A7 around the middle of A1-A10
    # Row A now has runs of three on each side: four together go to row B.
    assert tickets(conn, venue, gig, 4, category="stalls")["resource_ids"] == row_b[3:7]
    # Three fit in row A again, equally far from the middle: the lower numbers.
    assert tickets(conn, venue, gig, 3)["resource_ids"] == row_a[0:3]
    assert first["status"] == "held" and first["event_id"] == gig
    assert first["total_cents"] == 4 * 4000
    assert first["party_size"] == 4
    assert violations(conn) == []


def test_no_row_with_enough_adjacent_seats_is_bk001_and_writes_nothing(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    gig = event(conn, venue, at)
    row_a = seats(conn, venue, "A", 5)
    on_sale(conn, venue, gig, row_a, "stalls", 1000)
    tickets(conn, venue, gig, seat_ids=[row_a[2]])  # A3 taken: runs of two either side
    refuse(conn, "BK001", HOLD, (venue, gig, 3, None, "stalls", None, None, None))
    assert tickets(conn, venue, gig, 2)["resource_ids"] == row_a[0:2]


def test_named_seats_carry_the_sum_of_their_prices(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    gig = event(conn, venue, at)
    front, back = seats(conn, venue, "A", 2), seats(conn, venue, "Z", 2)
    on_sale(conn, venue, gig, front, "front", 9000)
    on_sale(conn, venue, gig, back, "back", 2500)
    held = tickets(conn, venue, gig, seat_ids=[back[0], front[1]])
    assert held["resource_ids"] == sorted([back[0], front[1]])
    assert held["total_cents"] == 11500
    # A seat already held is taken; a seat not on sale for this event is not found.
    refuse(conn, "BK001", HOLD, (venue, gig, None, [front[1]], None, None, None, None))
    stray = add_resource(conn, venue, "Box seat")
    refuse(conn, "BK007", HOLD, (venue, gig, None, [stray], None, None, None, None))
    refuse(conn, "BK008", HOLD, (venue, gig, 3, [front[0]], None, None, None, None))


def test_general_admission_sells_exactly_its_capacity(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    gig = event(conn, venue, at)
    floor = add_resource(conn, venue, "Floor", capacity=10, seats_max=None, kind="ga")
    on_sale(conn, venue, gig, [floor], "standing", 2500)
    assert tickets(conn, venue, gig, 4)["total_cents"] == 4 * 2500
    tickets(conn, venue, gig, 4)
    refuse(conn, "BK002", HOLD, (venue, gig, 3, None, None, None, None, None))
    last = tickets(conn, venue, gig, 2)
    assert (last["quantity"], last["party_size"]) == (2, 2)
    assert remaining(conn, venue, gig) == {floor: 0}
    refuse(conn, "BK002", HOLD, (venue, gig, 1, None, None, None, None, None))
    # Releasing a hold puts its places back at once.
    conn.execute("SELECT bookingdb.release_hold(%s, %s)", (venue, last["id"]))
    assert remaining(conn, venue, gig) == {floor: 2}


def test_standing_buyers_go_to_the_emptiest_area_of_the_category(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    gig = event(conn, venue, at)
    left = add_resource(conn, venue, "Left", capacity=3, kind="ga")
    right = add_resource(conn, venue, "Right", capacity=5, kind="ga")
    on_sale(conn, venue, gig, [left, right], "standing", 1000)
    assert tickets(conn, venue, gig, 2)["resource_ids"] == [right]  # 5 free against 3
    assert tickets(conn, venue, gig, 2)["resource_ids"] == [left]  # 3 and 3: the first
    assert tickets(conn, venue, gig, 2)["resource_ids"] == [right]  # 3 against 1
    # One place left in each area: two together fit nowhere.
    refuse(conn, "BK002", HOLD, (venue, gig, 2, None, None, None, None, None))
    assert remaining(conn, venue, gig) == {left: 1, right: 1}


def test_ticket_holds_last_15_minutes_and_then_behave_like_any_hold(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    gig = event(conn, venue, at)
    floor = add_resource(conn, venue, "Floor", capacity=5, kind="ga")
    on_sale(conn, venue, gig, [floor], "standing", 1000)
    held = tickets(conn, venue, gig, 2)
    ttl = scalar(
        conn, "SELECT %s::timestamptz - %s::timestamptz", (held["expires_at"], held["created_at"])
    )
    assert ttl == timedelta(minutes=15)
    confirmed = one(
        conn,
        'SELECT * FROM bookingdb.confirm_hold(%s, %s, \'{"name": "Ada"}\')',
        (venue, held["id"]),
    )
    assert confirmed["status"] == "confirmed" and confirmed["total_cents"] == 2000
    cancelled = one(conn, "SELECT * FROM bookingdb.cancel_booking(%s, %s)", (venue, held["id"]))
    assert cancelled["status"] == "cancelled"
    assert remaining(conn, venue, gig) == {floor: 5}

    # A lapsed ticket hold frees its places without any sweeper.
    short = tickets(conn, venue, gig, 5, ttl="1 millisecond")
    expire_now(conn, short)
    assert remaining(conn, venue, gig) == {floor: 5}
    assert tickets(conn, venue, gig, 5)["quantity"] == 5
    assert violations(conn) == []


def test_a_replay_returns_the_same_seats_though_the_best_ones_changed(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    gig = event(conn, venue, at)
    on_sale(conn, venue, gig, seats(conn, venue, "A"), "stalls", 1000)
    first = tickets(conn, venue, gig, 2, key="cart-1")
    tickets(conn, venue, gig, 2)
    again = tickets(conn, venue, gig, 2, key="cart-1")
    assert (again["id"], again["resource_ids"]) == (first["id"], first["resource_ids"])
    refuse(conn, "BK005", HOLD, (venue, gig, 3, None, None, None, "cart-1", None))


def test_categories_must_be_named_unless_there_is_one_and_must_not_mix_kinds(
    conn: Conn, venue: int, other_venue: int, at: Callable[[float], datetime]
) -> None:
    gig = event(conn, venue, at)
    row_a = seats(conn, venue, "A", 4)
    floor = add_resource(conn, venue, "Floor", capacity=50, kind="ga")
    on_sale(conn, venue, gig, row_a, "stalls", 1000)
    on_sale(conn, venue, gig, [floor], "standing", 500)
    refuse(conn, "BK008", HOLD, (venue, gig, 2, None, None, None, None, None))
    refuse(conn, "BK007", HOLD, (venue, gig, 2, None, "balcony", None, None, None))
    refuse(conn, "BK008", HOLD, (venue, gig, None, None, "stalls", None, None, None))
    refuse(conn, "BK008", HOLD, (venue, gig, 0, None, "stalls", None, None, None))
    refuse(
        conn,
        "BK008",
        "SELECT bookingdb.add_event_inventory(%s, %s, %s, 'stalls', 100)",
        (venue, gig, [floor]),
    )
    refuse(
        conn,
        "BK008",
        "SELECT bookingdb.add_event_inventory(%s, %s, %s, 'stalls', -1)",
        (venue, gig, row_a),
    )
    # Another venue's ids are not found.
    refuse(conn, "BK007", HOLD, (other_venue, gig, 2, None, "stalls", None, None, None))
    refuse(
        conn,
        "BK007",
        "SELECT bookingdb.add_event_inventory(%s, %s, %s, 'x', 100)",
        (other_venue, gig, row_a),
    )
    refuse(conn, "BK007", "SELECT * FROM bookingdb.event_availability(%s, %s)", (other_venue, gig))
    # Re-adding a resource re-prices it.
    on_sale(conn, venue, gig, row_a[:1], "stalls", 1500)
    assert tickets(conn, venue, gig, seat_ids=row_a[:2])["total_cents"] == 2500


@pytest.mark.parametrize(
    ("name", "starts", "ends", "code"),
    [("", 20, 23, "BK008"), ("Gig", 23, 20, "BK011"), ("Gig", None, 23, "BK011")],
)
def test_bad_events_are_refused(
    conn: Conn,
    venue: int,
    at: Callable[[float], datetime],
    name: str,
    starts: float | None,
    ends: float,
    code: str,
) -> None:
    refuse(
        conn,
        code,
        "SELECT bookingdb.create_event(%s, %s, %s, %s)",
        (venue, name, None if starts is None else at(starts), at(ends)),
    )


def test_list_events_in_start_order(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    late = event(conn, venue, lambda h: at(h + 24), "Late")
    early = event(conn, venue, at, "Early")
    listed = rows(conn, "SELECT * FROM bookingdb.list_events(%s)", (venue,))
    assert [(e["event_id"], e["name"]) for e in listed] == [(early, "Early"), (late, "Late")]
