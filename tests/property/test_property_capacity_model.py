"""The engine agrees with a model of the rules: on a shared resource a
booking fits exactly when the highest number of units in use at any instant
of its range, plus its quantity, is within capacity (not a count of
overlapping bookings); on an exclusive resource exactly when nothing
overlaps. Cancelling frees, rescheduling is all or nothing, and a hold that
lapses frees its slot without any sweeper."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st
from property_kit import SETTINGS, Conn, base_time, clear, examples

from bookingdb import BookingDB, CapacityExceeded, SlotUnavailable

CAPACITY = 3


@dataclass
class Claim:
    booking_id: int
    resource: str
    start: int  # quarter-hours from the base
    end: int
    quantity: int


def _used_at(claims: list[Claim], resource: str, instant: int) -> int:
    return sum(c.quantity for c in claims if c.resource == resource and c.start <= instant < c.end)


def _fits(claims: list[Claim], resource: str, start: int, end: int, quantity: int) -> bool:
    # Occupancy only changes where a claim starts, so these instants suffice.
    instants = {start} | {c.start for c in claims if start < c.start < end}
    peak = max(_used_at(claims, resource, t) for t in instants)
    limit = CAPACITY if resource == "room" else 1
    return peak + quantity <= limit


operations = st.lists(
    st.tuples(
        st.sampled_from(["book", "book", "book", "tiny_hold", "cancel", "move"]),
        st.sampled_from(["room", "room", "table"]),
        st.integers(min_value=0, max_value=12),  # start
        st.integers(min_value=1, max_value=6),  # length
        st.integers(min_value=1, max_value=CAPACITY),  # quantity on the room
        st.integers(min_value=0, max_value=50),  # which claim to cancel or move
    ),
    min_size=1,
    max_size=14,
)


@settings(SETTINGS, max_examples=examples(100))
@given(ops=operations)
def test_bookings_succeed_exactly_when_the_occupancy_model_says_they_fit(
    db: BookingDB, conn: Conn, ops: list[tuple[str, str, int, int, int, int]]
) -> None:
    clear(conn)
    base = base_time()
    venue = db.create_venue("Model venue")
    ids = {
        "room": db.add_resource(venue, "Room", capacity=CAPACITY),
        "table": db.add_resource(venue, "Table"),
    }
    claims: list[Claim] = []

    def at(quarter: int) -> datetime:
        return base + timedelta(minutes=15 * quarter)

    for kind, resource, start, length, units, pick in ops:
        end = start + length
        quantity = units if resource == "room" else 1
        refusal = CapacityExceeded if resource == "room" else SlotUnavailable
        if kind in ("book", "tiny_hold"):
            expected = _fits(claims, resource, start, end, quantity)
            answer = db.check_availability(
                venue, [ids[resource]], at(start), at(end), quantity=quantity
            )
            assert answer is expected, (kind, resource, start, end, quantity, claims)
            try:
                if kind == "book":
                    made = db.create_booking_atomic(
                        venue, [ids[resource]], at(start), at(end), quantity=quantity
                    )
                else:
                    made = db.create_hold(
                        venue,
                        [ids[resource]],
                        at(start),
                        at(end),
                        quantity=quantity,
                        ttl=timedelta(microseconds=1),
                    )
            except refusal:
                event(f"{kind} {resource} refused")
                assert not expected, (kind, resource, start, end, quantity, claims)
            else:
                event(f"{kind} {resource} ok")
                assert expected, (kind, resource, start, end, quantity, claims)
                # A tiny hold has lapsed by the next statement: it claims nothing.
                if kind == "book":
                    claims.append(Claim(made.id, resource, start, end, quantity))
        elif claims and kind == "cancel":
            claim = claims.pop(pick % len(claims))
            assert db.cancel_booking(venue, claim.booking_id).status == "cancelled"
        elif claims and kind == "move":
            claim = claims[pick % len(claims)]
            others = [c for c in claims if c is not claim]
            expected = _fits(others, claim.resource, start, end, claim.quantity)
            before = db.get_booking(venue, claim.booking_id)
            try:
                moved = db.reschedule_booking(
                    venue, claim.booking_id, before.version, at(start), at(end)
                )
            except (CapacityExceeded, SlotUnavailable):
                event(f"move {claim.resource} refused")
                assert not expected, (claim, start, end, claims)
                assert db.get_booking(venue, claim.booking_id) == before
            else:
                event(f"move {claim.resource} ok")
                assert expected, (claim, start, end, claims)
                assert moved.version == before.version + 1
                claim.start, claim.end = start, end
        assert db.verify_invariants() == []

    # The engine's own view of what occupies the day matches the model.
    listed = sorted((s.booking_id, s.quantity) for s in db.list_bookings(venue, at(0), at(24)))
    assert listed == sorted((c.booking_id, c.quantity) for c in claims)
