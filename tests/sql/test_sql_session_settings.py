"""The functions never depend on the session's settings: the same calls give
the same instants and the same idempotency answers whatever TimeZone (or
IntervalStyle) the caller's session has."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from contract_kit import Conn, add_resource, available, one, rows, snapshot

At = Callable[[float], datetime]

HOLD_TEXT = (
    "SELECT * FROM bookingdb.create_hold(%s, %s, %s::timestamptz, %s::timestamptz, 2, 1, %s, "
    "%s::interval)"
)

ZONES = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu"]


@pytest.mark.parametrize("zone", ZONES[1:])
def test_the_same_request_gives_the_same_instants_in_any_session_time_zone(
    conn: Conn, venue: int, at: At, zone: str
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    other = add_resource(conn, venue, "T2", seats_max=4)
    # Timestamps as text with an explicit offset, the way a psql user writes them.
    start, end = at(10).isoformat(), at(12).isoformat()
    conn.execute("SET TimeZone = 'UTC'")
    in_utc = one(conn, HOLD_TEXT, (venue, [table], start, end, None, None))
    conn.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
    in_zone = one(conn, HOLD_TEXT, (venue, [other], start, end, None, None))
    assert (in_zone["starts_at"], in_zone["ends_at"]) == (in_utc["starts_at"], in_utc["ends_at"])
    assert in_zone["starts_at"] == at(10)
    assert (
        in_zone["expires_at"] - in_zone["created_at"] == in_utc["expires_at"] - in_utc["created_at"]
    )
    # Both sessions see the same occupancy.
    assert available(conn, venue, [table], at(10), at(12)) is False
    assert available(conn, venue, [table], at(12), at(13)) is True
    listed = rows(conn, "SELECT * FROM bookingdb.list_bookings(%s, %s, %s)", (venue, at(0), at(24)))
    conn.execute("SET TimeZone = 'UTC'")
    assert (
        rows(conn, "SELECT * FROM bookingdb.list_bookings(%s, %s, %s)", (venue, at(0), at(24)))
        == listed
    )


@pytest.mark.parametrize("first_zone,replay_zone", [(ZONES[0], ZONES[1]), (ZONES[2], ZONES[0])])
def test_an_idempotent_replay_from_a_session_in_another_time_zone_returns_the_booking(
    conn: Conn, venue: int, at: At, first_zone: str, replay_zone: str
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    conn.execute("SELECT set_config('TimeZone', %s, false)", (first_zone,))
    first = one(conn, HOLD_TEXT, (venue, [table], at(10), at(12), "tz-key", "15 minutes"))
    before = snapshot(conn)
    conn.execute("SELECT set_config('TimeZone', %s, false)", (replay_zone,))
    replay = one(conn, HOLD_TEXT, (venue, [table], at(10), at(12), "tz-key", "15 minutes"))
    assert replay["id"] == first["id"]
    # Same instants spelt in the replaying session's zone.
    local = ZoneInfo(replay_zone)
    replay_text = (at(10).astimezone(local).isoformat(), at(12).astimezone(local).isoformat())
    assert (
        one(conn, HOLD_TEXT, (venue, [table], *replay_text, "tz-key", "15 minutes"))["id"]
        == first["id"]
    )
    conn.execute("SET TimeZone = 'UTC'")
    assert snapshot(conn) == before


def test_an_idempotent_replay_from_a_session_with_another_interval_style_returns_the_booking(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    conn.execute("SET IntervalStyle = 'postgres'")
    first = one(conn, HOLD_TEXT, (venue, [table], at(10), at(12), "style-key", "15 minutes"))
    conn.execute("SET IntervalStyle = 'iso_8601'")
    replay = one(conn, HOLD_TEXT, (venue, [table], at(10), at(12), "style-key", "15 minutes"))
    assert replay["id"] == first["id"]
