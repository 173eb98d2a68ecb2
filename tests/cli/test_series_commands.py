"""``bookingdb series create|cancel``."""

from __future__ import annotations

from .conftest import Invoke
from .kit import at, ok_json, one_error_line


def test_series_create_and_cancel(cli: Invoke) -> None:
    venue = ok_json(cli("venue", "create", "Studio", "--json"))["venue_id"]
    room = ok_json(cli("resource", "add", venue, "Room", "--capacity", 10, "--json"))["resource_id"]
    booked = ok_json(
        cli("series", "create", venue, "-r", room, "--start", at(18), "--duration", "1h",
            "--every", "1d", "--occurrences", 3, "--key", "yoga", "--json")
    )  # fmt: skip
    assert len(booked) == 3 and len({b["series_id"] for b in booked}) == 1
    text = cli("series", "create", venue, "-r", room, "--start", at(18), "--duration", "1h",
               "--every", "1d", "--occurrences", 3, "--key", "yoga")  # fmt: skip
    assert text.exit_code == 0 and booked[0]["reference"] in text.stdout
    cancelled = ok_json(
        cli("series", "cancel", venue, booked[0]["series_id"], "--from", at(18 + 24), "--json")
    )
    assert [b["id"] for b in cancelled] == [booked[1]["id"], booked[2]["id"]]
    # Without --from: from now on, which leaves only the first one to cancel.
    rest = ok_json(cli("series", "cancel", venue, booked[0]["series_id"], "--json"))
    assert [b["id"] for b in rest] == [booked[0]["id"]]
    assert "nothing left" in cli("series", "cancel", venue, booked[0]["series_id"]).stdout


def test_series_refusals_are_one_line(cli: Invoke) -> None:
    venue = ok_json(cli("venue", "create", "Studio", "--json"))["venue_id"]
    table = ok_json(cli("resource", "add", venue, "T1", "--json"))["resource_id"]
    bad = cli("series", "create", venue, "-r", table, "--start", at(18), "--duration", "1h",
              "--every", "1d", "--occurrences", 0)  # fmt: skip
    assert bad.exit_code == 3 and "BK008" in one_error_line(bad)
    unknown = cli("series", "cancel", venue, 987654)
    assert unknown.exit_code == 3 and "BK007" in one_error_line(unknown)
