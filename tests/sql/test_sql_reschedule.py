"""reschedule_booking is atomic: the new slot is claimed and the old one given
up together, or nothing changes at all (old slot still booked, same version)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contract_kit import (
    Conn,
    add_resource,
    available,
    book,
    get,
    hold,
    one,
    refuse,
    rows,
    violations,
)

At = Callable[[float], datetime]

RESCHEDULE = "SELECT * FROM bookingdb.reschedule_booking(%s, %s, %s, %s, %s, %s)"


def _claims(conn: Conn, booking_id: int) -> list[dict[str, object]]:
    return rows(
        conn,
        "SELECT resource_id, lower(blocked) AS lo, upper(blocked) AS hi, active "
        "FROM bookingdb.allocations WHERE booking_id = %s ORDER BY resource_id",
        (booking_id,),
    )


def test_reschedule_into_a_taken_slot_keeps_the_old_slot_booked(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    mine = book(conn, venue, [table], at(10), at(12))
    book(conn, venue, [table], at(14), at(16))
    claims = _claims(conn, mine["id"])
    refuse(conn, "BK001", RESCHEDULE, (venue, mine["id"], 1, at(14), at(15), None))
    after = get(conn, venue, mine["id"])
    assert (after["starts_at"], after["ends_at"], after["version"]) == (at(10), at(12), 1)
    assert after["status"] == "confirmed"
    assert _claims(conn, mine["id"]) == claims
    assert available(conn, venue, [table], at(10), at(12)) is False
    refuse(
        conn,
        "BK001",
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s)",
        (venue, [table], at(10), at(11)),
    )
    assert violations(conn) == []


def test_reschedule_within_its_own_time_on_the_same_table_works(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    mine = book(conn, venue, [table], at(10), at(12))
    moved = one(conn, RESCHEDULE, (venue, mine["id"], 1, at(11), at(13), None))
    assert (moved["starts_at"], moved["ends_at"], moved["version"]) == (at(11), at(13), 2)
    assert moved["status"] == "confirmed"
    assert list(moved["resource_ids"]) == [table]
    assert available(conn, venue, [table], at(10), at(11)) is True
    assert available(conn, venue, [table], at(12), at(13)) is False
    assert book(conn, venue, [table], at(10), at(11))["status"] == "confirmed"
    assert violations(conn) == []


def test_reschedule_to_another_table_frees_the_first(conn: Conn, venue: int, at: At) -> None:
    first = add_resource(conn, venue, "T1", seats_max=4)
    second = add_resource(conn, venue, "T2", seats_max=4)
    mine = book(conn, venue, [first], at(10), at(12), party_size=3)
    moved = one(conn, RESCHEDULE, (venue, mine["id"], 1, at(10), at(12), [second]))
    assert list(moved["resource_ids"]) == [second]
    assert available(conn, venue, [first], at(10), at(12)) is True
    assert available(conn, venue, [second], at(10), at(12)) is False
    assert violations(conn) == []


def test_reschedule_onto_a_table_too_small_for_the_party_changes_nothing(
    conn: Conn, venue: int, at: At
) -> None:
    big = add_resource(conn, venue, "Big", seats_min=4, seats_max=8)
    small = add_resource(conn, venue, "Small", seats_max=2)
    mine = book(conn, venue, [big], at(10), at(12), party_size=6)
    refuse(conn, "BK018", RESCHEDULE, (venue, mine["id"], 1, at(10), at(12), [small]))
    assert get(conn, venue, mine["id"])["version"] == 1


def test_reschedule_on_a_full_shared_resource_keeps_the_old_units(
    conn: Conn, venue: int, at: At
) -> None:
    room = add_resource(conn, venue, "Room", capacity=2)
    mine = book(conn, venue, [room], at(10), at(12), quantity=2)
    book(conn, venue, [room], at(14), at(15), quantity=1)
    refuse(conn, "BK002", RESCHEDULE, (venue, mine["id"], 1, at(14), at(16), None))
    assert get(conn, venue, mine["id"])["starts_at"] == at(10)
    assert available(conn, venue, [room], at(10), at(12)) is False
    # Within its own time, its own units do not count against it.
    moved = one(conn, RESCHEDULE, (venue, mine["id"], 1, at(11), at(13), None))
    assert (moved["starts_at"], moved["quantity"]) == (at(11), 2)
    assert violations(conn) == []


def test_a_hold_does_not_move_it_is_released_and_held_again(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    held = hold(conn, venue, [table], at(10), at(12))
    error = refuse(conn, "BK006", RESCHEDULE, (venue, held["id"], None, at(12), at(14), None))
    assert error.diag.message_hint
    after = get(conn, venue, held["id"])
    assert (after["status"], after["starts_at"], after["version"]) == ("held", at(10), 1)
    assert available(conn, venue, [table], at(10), at(12)) is False
    assert violations(conn) == []


def test_a_finished_booking_does_not_move(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    released = hold(conn, venue, [table], at(10), at(12))
    one(conn, "SELECT * FROM bookingdb.release_hold(%s, %s)", (venue, released["id"]))
    refuse(conn, "BK006", RESCHEDULE, (venue, released["id"], None, at(13), at(14), None))
    cancelled = book(conn, venue, [table], at(10), at(12))
    one(conn, "SELECT * FROM bookingdb.cancel_booking(%s, %s)", (venue, cancelled["id"]))
    refuse(conn, "BK006", RESCHEDULE, (venue, cancelled["id"], None, at(13), at(14), None))


def test_reschedule_without_expected_version_skips_the_check(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    mine = book(conn, venue, [table], at(10), at(12))
    one(conn, RESCHEDULE, (venue, mine["id"], 1, at(12), at(13), None))
    moved = one(conn, RESCHEDULE, (venue, mine["id"], None, at(13), at(14), None))
    assert moved["version"] == 3
