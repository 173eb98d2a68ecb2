"""The verbs a venue manager reaches for: release and extend a hold, show a
booking, list the venues, the version, and a help screen grouped by task."""

from __future__ import annotations

from datetime import datetime, timedelta

from bookingdb import __version__
from bookingdb.cli import PANELS

from .conftest import Invoke, Place
from .kit import at, ok_json, one_error_line


def hold_table(cli: Invoke, place: Place, start: float) -> dict[str, object]:
    held: dict[str, object] = ok_json(
        cli("hold", place.venue, "-r", place.table, "--start", at(start), "--duration", "1h",
            "--ttl", "10m", "--json")
    )  # fmt: skip
    return held


def test_extend_gives_a_hold_more_time_and_release_frees_its_slot(
    cli: Invoke, place: Place
) -> None:
    held = hold_table(cli, place, 0)
    extended = ok_json(cli("extend", place.venue, held["id"], "--by", "5m", "--json"))
    before = datetime.fromisoformat(str(held["expires_at"]))
    assert datetime.fromisoformat(extended["expires_at"]) - before == timedelta(minutes=5)
    assert extended["version"] == int(str(held["version"])) + 1

    released = ok_json(cli("release", place.venue, held["id"], "--json"))
    assert released["status"] == "released"
    # The slot is free again.
    assert (
        cli("check", place.venue, "-r", place.table, "--start", at(0), "--duration", "1h").exit_code
        == 0
    )
    # Releasing twice is a refusal, one line, exit 3.
    again = cli("release", place.venue, held["id"])
    assert again.exit_code == 3
    assert "BK003" in one_error_line(again)


def test_extend_refuses_bad_durations_as_bad_input(cli: Invoke, place: Place) -> None:
    held = hold_table(cli, place, 0)
    for bad in ("soon", "-5m", "9999999999999999999999m"):
        result = cli("extend", place.venue, held["id"], "--by", bad)
        assert result.exit_code == 2, (bad, result.output)
        assert "--by" in one_error_line(result)


def test_show_prints_one_booking_in_any_status(cli: Invoke, place: Place) -> None:
    held = hold_table(cli, place, 0)
    shown = ok_json(cli("show", place.venue, held["id"], "--json"))
    assert (shown["id"], shown["status"], shown["reference"]) == (
        held["id"],
        "held",
        held["reference"],
    )
    text = cli("show", place.venue, held["id"])
    assert text.exit_code == 0 and str(held["reference"]) in text.stdout
    missing = cli("show", place.venue, 10**9)
    assert missing.exit_code == 3 and "BK007" in one_error_line(missing)


def test_venue_list_shows_every_venue_with_its_zone_and_resources(
    cli: Invoke, place: Place
) -> None:
    other = ok_json(cli("venue", "create", "Quay Salon", "--timezone", "Asia/Tokyo", "--json"))
    listed = ok_json(cli("venue", "list", "--json"))
    mine = {row["venue_id"]: row for row in listed}
    assert (mine[place.venue]["name"], mine[place.venue]["timezone"]) == (
        "Dock Diner",
        "Europe/London",
    )
    assert mine[place.venue]["resources"] == 2
    assert (mine[other["venue_id"]]["timezone"], mine[other["venue_id"]]["resources"]) == (
        "Asia/Tokyo",
        0,
    )
    assert [row["venue_id"] for row in listed] == sorted(mine)
    text = cli("venue", "list")
    assert text.exit_code == 0
    assert "Dock Diner" in text.stdout and "Asia/Tokyo" in text.stdout


def test_version_and_a_help_screen_grouped_by_task(cli: Invoke) -> None:
    version = cli("--version", with_dsn=False)
    assert version.exit_code == 0 and version.stdout.strip() == f"bookingdb {__version__}"
    shown = cli("--help", with_dsn=False).stdout
    for panel, names in PANELS.items():
        assert panel in shown
        for name in names:
            assert f" {name} " in shown, name
