"""S9's and S10's correctness arithmetic, without a database: the histories
here are the ones the checks must refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bookingdb.bench.acks import Ack, double_bookings, oversold, tickets, unmatched
from bookingdb.bench.scaffold import ONSALE_MIX
from bookingdb.bench.scenarios import Settings
from bookingdb.bench.serving import Call, Entry, Freed, Snapshot, check_serving

T0 = datetime(2030, 1, 1, 19, tzinfo=UTC)
SETUP = Snapshot(xmin=100, xmax=100)
TABLE = 7


def test_a_snapshot_sees_what_committed_before_it_and_nothing_in_flight() -> None:
    snap = Snapshot.parse("10:20:12,15")
    assert snap == Snapshot(10, 20, frozenset({12, 15}))
    assert [x for x in (5, 10, 12, 13, 15, 19, 20, 25) if snap.sees(x)] == [5, 10, 13, 19]
    assert Snapshot.parse("10:10:").xip == frozenset()


def step(kind: str, xid: int, seen_up_to: int, *, then: int | None = None) -> Call:
    """A step with transaction ``xid`` that began seeing everything below
    ``seen_up_to`` and ended seeing everything below ``then``."""
    end = then if then is not None else seen_up_to
    return Call(
        kind,
        xid,
        T0 + timedelta(milliseconds=xid),
        Snapshot(seen_up_to, seen_up_to),
        Snapshot(end, end),
    )


def entry(
    entry_id: int, priority: int, *, joined: Call | None = None, offered: Call | None = None
) -> Entry:
    """An entry for TABLE, first come by id, that joined before the load
    (unless ``joined``) and was offered TABLE by ``offered``."""
    return Entry(
        entry_id,
        TABLE,
        priority,
        T0 + timedelta(seconds=entry_id),
        joined=joined,
        offered=offered,
        offered_resource=TABLE if offered is not None else None,
    )


def test_a_cancellation_offered_to_the_first_in_line_passes() -> None:
    cancel = step("cancel", 200, 200)
    line = [entry(1, priority=0), entry(2, priority=2, offered=cancel), entry(3, priority=1)]
    report = check_serving([Freed(cancel, TABLE)], line)
    assert (report.freed, report.with_waiting, report.offered) == (1, 1, 1)
    assert report.missed == report.out_of_order == report.twice == []


def test_an_offer_to_a_later_entry_is_out_of_serving_order() -> None:
    cancel = step("cancel", 200, 200)
    # Entry 2 has the higher priority and waited throughout; entry 1 got the table.
    line = [entry(1, priority=0, offered=cancel), entry(2, priority=2)]
    report = check_serving([Freed(cancel, TABLE)], line)
    assert len(report.out_of_order) == 1
    assert "entry 1" in report.out_of_order[0] and "entry 2" in report.out_of_order[0]


def test_equal_priority_is_served_first_come() -> None:
    cancel = step("cancel", 200, 200)
    line = [entry(1, priority=1), entry(2, priority=1, offered=cancel)]
    assert len(check_serving([Freed(cancel, TABLE)], line).out_of_order) == 1


def test_a_freed_slot_with_someone_waiting_and_no_offer_is_missed() -> None:
    release = step("release", 200, 200)
    report = check_serving([Freed(release, TABLE)], [entry(1, priority=0)])
    assert len(report.missed) == 1
    # Nobody waiting: nothing to offer, nothing missed.
    empty = check_serving([Freed(release, TABLE)], [])
    assert (empty.freed, empty.with_waiting, empty.missed) == (1, 0, [])


def test_one_slot_offered_twice_is_caught() -> None:
    sweep = step("sweep", 200, 200)
    line = [entry(1, priority=0, offered=sweep), entry(2, priority=0, offered=sweep)]
    assert len(check_serving([Freed(sweep, TABLE)], line).twice) == 1


def test_an_entry_that_joined_while_the_step_ran_may_be_served_or_not() -> None:
    join = step("join", 150, 150)
    # The cancellation began before the join committed and ended after it.
    cancel = step("cancel", 200, 140, then=210)
    early = entry(1, priority=2, joined=join)
    later = entry(2, priority=0)
    assert check_serving([Freed(cancel, TABLE)], [early]).missed == []
    served = entry(2, priority=0, offered=cancel)
    assert check_serving([Freed(cancel, TABLE)], [early, served]).out_of_order == []
    first = entry(1, priority=2, joined=join, offered=cancel)
    assert check_serving([Freed(cancel, TABLE)], [first, later]).out_of_order == []


def test_an_offer_to_an_entry_that_had_not_joined_yet_is_refused() -> None:
    cancel = step("cancel", 200, 200)
    join = step("join", 300, 300)
    line = [entry(1, priority=0, joined=join, offered=cancel)]
    report = check_serving([Freed(cancel, TABLE)], line)
    assert "had not joined yet" in report.out_of_order[0]


def test_an_entry_being_served_by_another_step_may_be_passed_over() -> None:
    cancel = step("cancel", 200, 200)
    # Step 201 ran alongside (it did not see 200 commit): the entry it served
    # was not certainly waiting for the cancellation.
    beside = step("sweep", 201, 200)
    line = [entry(1, priority=2, offered=beside), entry(2, priority=0, offered=cancel)]
    assert check_serving([Freed(cancel, TABLE)], line).out_of_order == []
    # Served strictly after the cancellation committed: it was waiting, and first.
    after = step("sweep", 300, 250)
    line = [entry(1, priority=2, offered=after), entry(2, priority=0, offered=cancel)]
    assert len(check_serving([Freed(cancel, TABLE)], line).out_of_order) == 1


def test_what_a_join_frees_on_its_way_is_not_held_to_the_promise() -> None:
    join = step("join", 200, 200)
    report = check_serving([Freed(join, TABLE)], [entry(1, priority=0)])
    assert (report.freed, report.missed) == (0, [])


def test_failures_beside_a_join_are_counted() -> None:
    cancel = step("cancel", 200, 200)
    beside = step("join", 201, 200)
    before = step("join", 150, 150)
    line = [entry(1, priority=0, offered=cancel), entry(2, priority=2)]
    assert check_serving([Freed(cancel, TABLE)], line, [before]).beside_join == 0
    assert check_serving([Freed(cancel, TABLE)], line, [before, beside]).beside_join == 1


def test_a_ticket_hold_counts_seats_or_places() -> None:
    assert tickets(Ack((1, 2, 3), 0, 1)) == 3
    assert tickets(Ack((9,), 0, 1, quantity=4)) == 4


def test_acknowledged_and_stored_holds_must_match_ticket_for_ticket() -> None:
    told = [Ack((9,), 0, 1, 3, booking_id=1), Ack((1, 2), 0, 1, 1, booking_id=2)]
    assert unmatched(told, told) == (0, 0)
    # Booking 2 lost a seat in storage; booking 3 was never acknowledged.
    stored = [told[0], Ack((1,), 0, 1, 1, booking_id=2), Ack((9,), 0, 1, 2, booking_id=3)]
    assert unmatched(told, stored) == (2, 3)


def test_an_oversold_area_and_a_seat_sold_twice_are_caught() -> None:
    area = [Ack((9,), 0, 1, 2_000), Ack((9,), 0, 1, 501)]
    assert oversold(area, {9: 2_500}) == 1
    seats = [Ack((1, 2), 0, 1), Ack((2, 3), 0, 1)]
    assert double_bookings(seats) == 1


def test_the_on_sale_mix_covers_every_pick() -> None:
    assert sum(kind.percent for kind in ONSALE_MIX) == 100
    assert ONSALE_MIX[0].percent > 50, "most buyers want general admission"


def test_seconds_shortens_the_timed_loads_but_not_the_sell_out() -> None:
    quick = Settings.preset(quick=True, seconds=1)
    assert (quick.s9_reference_seconds, quick.s10_seconds) == (1, 1)
    assert quick.s9_limit_seconds == Settings.preset(quick=True).s9_limit_seconds
    assert quick.onsale_clients == 128
