"""verify_invariants() is quiet on a healthy database and speaks up when the
data is corrupted behind the functions' back (as a superuser could), so the
check is proven able to fail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contract_kit import Conn, add_resource, book, hold, one, rows, scalar, violations

At = Callable[[float], datetime]


def _invariants(conn: Conn) -> set[str]:
    return {invariant for invariant, _ in violations(conn)}


def test_a_freshly_migrated_database_has_no_violations(conn: Conn) -> None:
    assert violations(conn) == []


def test_a_busy_healthy_database_has_no_violations(conn: Conn, venue: int, at: At) -> None:
    a = add_resource(conn, venue, "A", seats_max=4)
    b = add_resource(conn, venue, "B", seats_max=4)
    room = add_resource(conn, venue, "Room", capacity=3)
    pair = book(conn, venue, [a, b], at(10), at(12), party_size=6)
    held = hold(conn, venue, [room], at(10), at(11), quantity=2)
    one(conn, "SELECT * FROM bookingdb.confirm_hold(%s, %s)", (venue, held["id"]))
    released = hold(conn, venue, [a], at(13), at(14))
    one(conn, "SELECT * FROM bookingdb.release_hold(%s, %s)", (venue, released["id"]))
    one(
        conn,
        "SELECT * FROM bookingdb.reschedule_booking(%s, %s, 1, %s, %s)",
        (venue, pair["id"], at(15), at(17)),
    )
    book(conn, venue, [room], at(10), at(11), quantity=1)
    one(conn, "SELECT * FROM bookingdb.cancel_booking(%s, %s)", (venue, pair["id"]))
    assert violations(conn) == []


def test_a_confirmed_booking_without_active_allocations_is_reported_as_i3(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    booking = book(conn, venue, [table], at(10), at(12))
    conn.execute(
        "UPDATE bookingdb.allocations SET active = false WHERE booking_id = %s", (booking["id"],)
    )
    assert "I3" in _invariants(conn)


def test_a_cancelled_booking_still_holding_its_slot_is_reported_as_i3(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    booking = book(conn, venue, [table], at(10), at(12))
    one(conn, "SELECT * FROM bookingdb.cancel_booking(%s, %s)", (venue, booking["id"]))
    conn.execute(
        "UPDATE bookingdb.allocations SET active = true WHERE booking_id = %s", (booking["id"],)
    )
    assert "I3" in _invariants(conn)


def test_overlapping_claims_on_an_exclusive_resource_are_reported_as_i1(
    conn: Conn, venue: int, at: At
) -> None:
    first = add_resource(conn, venue, "T1")
    second = add_resource(conn, venue, "T2")
    book(conn, venue, [first], at(10), at(12))
    other = book(conn, venue, [second], at(10), at(12))
    # exclusive = false slips past the exclusion constraint.
    conn.execute(
        """INSERT INTO bookingdb.allocations
               (venue_id, booking_id, resource_id, blocked, quantity, exclusive, active)
           VALUES (%s, %s, %s, tstzrange(%s, %s), 1, false, true)""",
        (venue, other["id"], first, at(11), at(13)),
    )
    assert "I1" in _invariants(conn)


def test_a_shared_resource_over_capacity_is_reported_as_i2(conn: Conn, venue: int, at: At) -> None:
    room = add_resource(conn, venue, "Room", capacity=2)
    table = add_resource(conn, venue, "T1")
    book(conn, venue, [room], at(10), at(12), quantity=2)
    other = book(conn, venue, [table], at(10), at(12))
    conn.execute(
        """INSERT INTO bookingdb.allocations
               (venue_id, booking_id, resource_id, blocked, quantity, exclusive, active)
           VALUES (%s, %s, %s, tstzrange(%s, %s), 1, false, true)""",
        (venue, other["id"], room, at(11), at(11.5)),
    )
    assert "I2" in _invariants(conn)


def test_a_hold_whose_claim_outlives_it_is_reported_as_i4(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    held = hold(conn, venue, [table], at(10), at(12))
    conn.execute(
        "UPDATE bookingdb.allocations SET expires_at = expires_at + interval '1 hour' "
        "WHERE booking_id = %s",
        (held["id"],),
    )
    assert "I4" in _invariants(conn)


def test_two_bookings_under_one_idempotency_key_are_reported_as_i5(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    first = book(conn, venue, [table], at(10), at(11), idempotency_key="k-1")
    second = book(conn, venue, [table], at(12), at(13), idempotency_key="k-2")
    # Remove whatever enforces the key's uniqueness (a constraint or an index).
    constraint = scalar(
        conn,
        """SELECT max(conname) FROM pg_constraint
            WHERE conrelid = 'bookingdb.bookings'::regclass AND contype = 'u'
              AND pg_get_constraintdef(oid) LIKE '%%idempotency_key%%'""",
    )
    if constraint:
        conn.execute(f'ALTER TABLE bookingdb.bookings DROP CONSTRAINT "{constraint}"')
    for (index,) in conn.execute(
        """SELECT indexname FROM pg_indexes
            WHERE schemaname = 'bookingdb' AND tablename = 'bookings'
              AND indexdef LIKE '%%UNIQUE%%idempotency_key%%'"""
    ).fetchall():
        conn.execute(f'DROP INDEX bookingdb."{index}"')
    conn.execute(
        "UPDATE bookingdb.bookings SET idempotency_key = %s WHERE booking_id = %s",
        ("k-1", second["id"]),
    )
    assert first["id"] != second["id"]
    assert "I5" in _invariants(conn)


def test_a_change_missing_from_the_audit_log_is_reported_as_i6(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    booking = book(conn, venue, [table], at(10), at(12))
    one(conn, "SELECT * FROM bookingdb.cancel_booking(%s, %s)", (venue, booking["id"]))
    conn.execute(
        "DELETE FROM bookingdb.audit_log WHERE booking_id = %s AND version = 2", (booking["id"],)
    )
    assert _invariants(conn) == {"I6"}


def test_a_version_that_skipped_a_number_is_reported_as_i6(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    booking = book(conn, venue, [table], at(10), at(12))
    conn.execute(
        "UPDATE bookingdb.audit_log SET version = 3 WHERE booking_id = %s", (booking["id"],)
    )
    assert _invariants(conn) == {"I6"}


def test_i1_finds_every_overlap_by_its_sweep_with_both_bookings_named(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    spare = add_resource(conn, venue, "T2")
    long_one = book(conn, venue, [table], at(10), at(14))
    inner = book(conn, venue, [spare], at(11), at(12))
    late = book(conn, venue, [spare], at(12.5), at(13))
    clear = book(conn, venue, [spare], at(14), at(15))
    # This test's own database: drop the guarantee to plant overlaps the
    # constraint would refuse. The late one overlaps only the long one, which
    # ended last among the earlier ones (not the one just before it).
    conn.execute("ALTER TABLE bookingdb.allocations DROP CONSTRAINT allocations_no_overlap")
    for booking in (inner, late, clear):
        conn.execute(
            "UPDATE bookingdb.allocations SET resource_id = %s WHERE booking_id = %s",
            (table, booking["id"]),
        )
    found = [
        r
        for r in rows(conn, "SELECT * FROM bookingdb.verify_invariants()")
        if r["invariant"] == "I1"
    ]
    pairs = sorted(
        tuple(
            sorted(
                int(x)
                for x in r["detail"].split("bookings ")[1].split(" overlap")[0].split(" and ")
            )
        )
        for r in found
    )
    assert pairs == sorted(
        [tuple(sorted((long_one["id"], inner["id"]))), tuple(sorted((long_one["id"], late["id"])))]
    )
