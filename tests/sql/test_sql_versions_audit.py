"""I6: every change of a booking raises its version by exactly one and leaves
one audit row (who, what, old and new) written in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from contract_kit import (
    Conn,
    add_resource,
    book,
    get,
    hold,
    lapsed_hold,
    one,
    rows,
    scalar,
    violations,
)

At = Callable[[float], datetime]


def _audit(conn: Conn, booking_id: int) -> list[dict[str, Any]]:
    return rows(
        conn,
        """SELECT version, action, old_status, new_status, changes, actor
             FROM bookingdb.audit_log WHERE booking_id = %s ORDER BY version""",
        (booking_id,),
    )


def test_each_change_raises_the_version_by_one_and_is_audited(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    other = add_resource(conn, venue, "T2", seats_max=4)
    held = hold(conn, venue, [table], at(10), at(12), party_size=2)
    assert held["version"] == 1
    extended = one(
        conn, "SELECT * FROM bookingdb.extend_hold(%s, %s, '5 minutes')", (venue, held["id"])
    )
    assert extended["version"] == 2
    confirmed = one(
        conn,
        "SELECT * FROM bookingdb.confirm_hold(%s, %s, '{\"name\": \"Ada\"}', 'pay-7')",
        (venue, held["id"]),
    )
    assert confirmed["version"] == 3
    moved = one(
        conn,
        "SELECT * FROM bookingdb.reschedule_booking(%s, %s, 3, %s, %s, %s)",
        (venue, held["id"], at(13), at(15), [other]),
    )
    assert moved["version"] == 4
    cancelled = one(
        conn,
        "SELECT * FROM bookingdb.cancel_booking(%s, %s, 4, 'ill')",
        (venue, held["id"]),
    )
    assert cancelled["version"] == 5
    assert get(conn, venue, held["id"])["version"] == 5

    audit = _audit(conn, held["id"])
    assert [a["version"] for a in audit] == [1, 2, 3, 4, 5]
    assert [(a["old_status"], a["new_status"]) for a in audit] == [
        (None, "held"),
        ("held", "held"),
        ("held", "confirmed"),
        ("confirmed", "confirmed"),
        ("confirmed", "cancelled"),
    ]
    assert all(a["action"] for a in audit)
    session_user = scalar(conn, "SELECT session_user")
    assert {a["actor"] for a in audit} == {session_user}
    # old and new values of what changed.
    assert set(audit[1]["changes"]) == {"expires_at"}
    assert audit[2]["changes"]["customer"] == [None, {"name": "Ada"}]
    assert audit[2]["changes"]["payment_ref"] == [None, "pay-7"]
    assert audit[3]["changes"]["resource_ids"] == [[table], [other]]
    moved_from, moved_to = map(datetime.fromisoformat, audit[3]["changes"]["starts_at"])
    assert (moved_from, moved_to) == (at(10), at(13))
    assert audit[4]["changes"]["cancel_reason"] == [None, "ill"]
    assert violations(conn) == []


def test_release_raises_the_version_and_is_audited(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    held = hold(conn, venue, [table], at(10), at(12))
    released = one(conn, "SELECT * FROM bookingdb.release_hold(%s, %s)", (venue, held["id"]))
    assert (released["status"], released["version"]) == ("released", 2)
    assert [(a["version"], a["new_status"]) for a in _audit(conn, held["id"])] == [
        (1, "held"),
        (2, "released"),
    ]


def test_lazy_expiry_by_a_new_booking_is_a_versioned_audited_change(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    lapsed = lapsed_hold(conn, venue, [table], at(10), at(12))
    book(conn, venue, [table], at(10), at(12))
    after = get(conn, venue, lapsed["id"])
    assert (after["status"], after["version"]) == ("expired", 2)
    assert [(a["old_status"], a["new_status"]) for a in _audit(conn, lapsed["id"])] == [
        (None, "held"),
        ("held", "expired"),
    ]
    assert violations(conn) == []


def test_sweeper_expiry_is_a_versioned_audited_change(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    lapsed = lapsed_hold(conn, venue, [table], at(10), at(12))
    assert scalar(conn, "SELECT bookingdb.expire_holds()") == 1
    assert get(conn, venue, lapsed["id"])["version"] == 2
    assert [a["new_status"] for a in _audit(conn, lapsed["id"])] == ["held", "expired"]


def test_reading_does_not_change_the_version(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    booking = book(conn, venue, [table], at(10), at(12))
    get(conn, venue, booking["id"])
    scalar(
        conn,
        "SELECT count(*) FROM bookingdb.list_bookings(%s, %s, %s)",
        (venue, at(0), at(24)),
    )
    scalar(
        conn,
        "SELECT bookingdb.check_availability(%s, %s, %s, %s)",
        (venue, [table], at(10), at(12)),
    )
    # Confirming an already confirmed booking again is a replay, not a change.
    one(conn, "SELECT * FROM bookingdb.confirm_hold(%s, %s)", (venue, booking["id"]))
    assert get(conn, venue, booking["id"])["version"] == 1
    assert len(_audit(conn, booking["id"])) == 1
