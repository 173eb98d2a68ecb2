"""Events and tickets through the Python client: numbered seats picked side by
side, general admission counted, prices summed, replays answered with the
same hold, and a busy on-sale rush retried only when a key makes it safe."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
import pytest
from api_kit import Conn, retried_past_busy, table_counts

from bookingdb import (
    Booking,
    BookingDB,
    Busy,
    CapacityExceeded,
    Event,
    EventInventoryItem,
    IdempotencyConflict,
    InvalidArgument,
    NotFound,
    SlotUnavailable,
)

At = Callable[[float], datetime]


@dataclass(frozen=True)
class Concert:
    """An event with two rows of ten seats (row A added first: the better
    row) at 50.00 and a standing area for 10 at 30.00."""

    venue: int
    event: int
    row_a: list[int]
    row_b: list[int]
    floor: int


@pytest.fixture
def concert(db: BookingDB, venue: int, at: At) -> Concert:
    event = db.create_event(venue, "Night at the Opera", at(19), at(22))
    row_a = db.add_seat_block(venue, "Stalls", "A", 1, 10)
    row_b = db.add_seat_block(venue, "Stalls", "B", 1, 10)
    db.add_event_inventory(venue, event, row_a + row_b, "Stalls", 5000)
    floor = db.add_resource(venue, "Floor", capacity=10, seats_max=10, kind="ga")
    db.add_event_inventory(venue, event, [floor], "Standing", 3000)
    return Concert(venue, event, row_a, row_b, floor)


def test_events_are_listed_in_start_order(db: BookingDB, venue: int, at: At) -> None:
    late = db.create_event(venue, "Late show", at(22), at(23))
    early = db.create_event(venue, "Matinee", at(14), at(16))
    assert db.list_events(venue) == [
        Event(early, "Matinee", at(14), at(16)),
        Event(late, "Late show", at(22), at(23)),
    ]


def test_a_seat_block_is_numbered_in_seat_order_and_cannot_be_added_twice(
    db: BookingDB, venue: int
) -> None:
    seats = db.add_seat_block(venue, "Circle", "C", 5, 3)
    assert len(seats) == 3 and seats == sorted(seats)
    names = {r.resource_id: (r.name, r.kind, r.capacity) for r in db.list_resources(venue)}
    assert [names[s] for s in seats] == [
        ("Circle C5", "seat", 1),
        ("Circle C6", "seat", 1),
        ("Circle C7", "seat", 1),
    ]
    with pytest.raises(InvalidArgument):
        db.add_seat_block(venue, "Circle", "C", 7, 2)


def test_the_best_adjacent_seats_are_held_in_the_best_row_nearest_the_middle(
    db: BookingDB, concert: Concert, at: At
) -> None:
    hold = db.hold_event_tickets(concert.venue, concert.event, quantity=4, category="Stalls")
    assert isinstance(hold, Booking)
    # Row A, seats 4 to 7: the run of four centred in a row of ten.
    assert hold.resource_ids == tuple(concert.row_a[3:7])
    assert (hold.status, hold.event_id, hold.total_cents) == ("held", concert.event, 4 * 5000)
    assert (hold.party_size, hold.quantity) == (4, 1)
    assert (hold.starts_at, hold.ends_at) == (at(19), at(22))
    assert hold.waitlist_entry_id is None
    assert hold.expires_at is not None
    assert hold.expires_at - hold.created_at == timedelta(minutes=15)


def test_held_seats_split_a_row_and_the_next_pick_stays_adjacent(
    db: BookingDB, concert: Concert
) -> None:
    middle = db.hold_event_tickets(concert.venue, concert.event, seat_ids=[concert.row_a[4]])
    assert middle.resource_ids == (concert.row_a[4],)
    assert middle.total_cents == 5000 and middle.party_size == 1
    # A1-A4 and A6-A10 are free: A6-A9 is the run of four nearest the middle.
    four = db.hold_event_tickets(concert.venue, concert.event, quantity=4, category="Stalls")
    assert four.resource_ids == tuple(concert.row_a[5:9])
    # No run of six is left in row A: row B, seats 3 to 8.
    six = db.hold_event_tickets(concert.venue, concert.event, quantity=6, category="Stalls")
    assert six.resource_ids == tuple(concert.row_b[2:8])
    with pytest.raises(SlotUnavailable):
        db.hold_event_tickets(concert.venue, concert.event, quantity=5, category="Stalls")


def test_named_seats_that_are_taken_are_refused(db: BookingDB, concert: Concert) -> None:
    db.hold_event_tickets(concert.venue, concert.event, seat_ids=concert.row_a[:2])
    with pytest.raises(SlotUnavailable):
        db.hold_event_tickets(concert.venue, concert.event, seat_ids=concert.row_a[1:3])


def test_general_admission_counts_places_and_refuses_beyond_capacity(
    db: BookingDB, concert: Concert
) -> None:
    hold = db.hold_event_tickets(concert.venue, concert.event, quantity=3, category="Standing")
    assert hold.resource_ids == (concert.floor,)
    assert (hold.quantity, hold.party_size, hold.total_cents) == (3, 3, 3 * 3000)
    with pytest.raises(CapacityExceeded):
        db.hold_event_tickets(concert.venue, concert.event, quantity=8, category="Standing")


def test_availability_counts_live_holds_per_resource(db: BookingDB, concert: Concert) -> None:
    db.hold_event_tickets(concert.venue, concert.event, quantity=3, category="Standing")
    db.hold_event_tickets(concert.venue, concert.event, seat_ids=[concert.row_b[0]])
    rows = db.event_availability(concert.venue, concert.event)
    assert all(isinstance(row, EventInventoryItem) for row in rows)
    left = {row.resource_id: (row.category, row.remaining) for row in rows}
    assert left[concert.floor] == ("Standing", 7)
    assert left[concert.row_b[0]] == ("Stalls", 0)
    assert left[concert.row_b[1]] == ("Stalls", 1)
    assert sum(n for category, n in left.values() if category == "Stalls") == 19


def test_the_category_may_be_omitted_only_when_the_event_has_one(
    db: BookingDB, concert: Concert, venue: int, at: At
) -> None:
    with pytest.raises(InvalidArgument):
        db.hold_event_tickets(concert.venue, concert.event, quantity=2)
    solo = db.create_event(venue, "Solo", at(30), at(32))
    db.add_event_inventory(venue, solo, concert.row_a, "Stalls", 2500)
    hold = db.hold_event_tickets(venue, solo, quantity=2)
    assert hold.event_id == solo and hold.total_cents == 5000


def test_a_replay_with_the_same_key_returns_the_same_hold(
    db: BookingDB, concert: Concert, conn: Conn
) -> None:
    first = db.hold_event_tickets(
        concert.venue, concert.event, quantity=2, category="Stalls", idempotency_key="order-7"
    )
    before = table_counts(conn)
    # The best seats are now others, but the replay answers with the first hold.
    again = db.hold_event_tickets(
        concert.venue, concert.event, quantity=2, category="Stalls", idempotency_key="order-7"
    )
    assert again == first
    assert table_counts(conn) == before
    with pytest.raises(IdempotencyConflict):
        db.hold_event_tickets(
            concert.venue, concert.event, quantity=3, category="Stalls", idempotency_key="order-7"
        )


def test_a_ticket_hold_is_confirmed_like_any_hold(db: BookingDB, concert: Concert) -> None:
    hold = db.hold_event_tickets(
        concert.venue, concert.event, quantity=2, category="Stalls", customer={"name": "Freddie"}
    )
    booking = db.confirm_hold(concert.venue, hold.id)
    assert booking.status == "confirmed"
    assert booking.customer == {"name": "Freddie"}
    assert (booking.event_id, booking.total_cents) == (concert.event, 10000)


def test_an_unknown_event_is_not_found(db: BookingDB, venue: int) -> None:
    with pytest.raises(NotFound):
        db.event_availability(venue, 424242)
    with pytest.raises(NotFound):
        db.hold_event_tickets(venue, 424242, quantity=1)


# -- BK020: a lock wait past the function's lock_timeout -----------------------------------


@pytest.fixture
def blocker(dsn: str, concert: Concert) -> Iterator[Conn]:
    """A transaction holding, uncommitted, two places in the standing area: a
    hold there waits for it (the area's lock) until lock_timeout."""
    with psycopg.connect(dsn) as other:
        other.execute(
            "SELECT bookingdb.hold_event_tickets(venue_id => %s, event_id => %s, quantity => 2,"
            " category => 'Standing')",
            (concert.venue, concert.event),
        )
        yield other
        other.rollback()


def test_busy_without_a_key_is_raised_not_retried(
    db: BookingDB, concert: Concert, blocker: Conn
) -> None:
    with pytest.raises(Busy) as info:
        db.hold_event_tickets(concert.venue, concert.event, quantity=1, category="Standing")
    assert info.value.retryable and info.value.sqlstate == "BK020"


def test_busy_with_a_key_is_retried_until_the_lock_is_free(
    db: BookingDB, concert: Concert, blocker: Conn, conn: Conn
) -> None:
    result = retried_past_busy(
        conn,
        lambda: db.hold_event_tickets(
            concert.venue, concert.event, quantity=1, category="Standing", idempotency_key="rush-1"
        ),
        blocker,
    )
    assert (result.status, result.quantity, result.resource_ids) == ("held", 1, (concert.floor,))
    # A refusal that was retried away is not counted.
    assert db.stats(concert.venue)["refusals"] == {}
