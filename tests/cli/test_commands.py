"""The admin CLI against a real database: what it prints, and its exit codes
(0 ok, 1 the answer is no, 2 bad input, 3 refused by the database, 4 database
unreachable)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from .conftest import Invoke
from .kit import at, naive, ok_json, one_error_line, printed_json


@dataclass(frozen=True)
class Bar:
    venue: int
    table: int


@pytest.fixture
def bar(cli: Invoke) -> Bar:
    venue = ok_json(cli("venue", "create", "Harbour Bar", "--timezone", "Europe/London", "--json"))
    assert venue["timezone"] == "Europe/London"
    table = ok_json(cli("resource", "add", venue["venue_id"], "T4", "--seats-max", 4, "--json"))
    return Bar(venue["venue_id"], table["resource_id"])


def book(cli: Invoke, bar: Bar, start: float, end: float, *extra: object) -> dict[str, object]:
    result = cli(
        "book",
        bar.venue,
        "-r",
        bar.table,
        "--start",
        at(start),
        "--end",
        at(end),
        "--party",
        2,
        "--json",
        *extra,
    )
    booking: dict[str, object] = ok_json(result)
    return booking


def test_venue_resource_book_and_list(cli: Invoke, bar: Bar) -> None:
    booking = book(cli, bar, 0, 2, "--name", "Ada", "--email", "ada@example.com")
    assert booking["status"] == "confirmed"
    assert booking["resource_ids"] == [bar.table]
    assert booking["customer"] == {"name": "Ada", "email": "ada@example.com"}
    assert datetime.fromisoformat(str(booking["starts_at"])) == datetime.fromisoformat(at(0))

    listed = ok_json(cli("bookings", bar.venue, "--from", at(-1), "--to", at(3), "--json"))
    assert [(row["booking_id"], row["resource_id"], row["status"]) for row in listed] == [
        (booking["id"], bar.table, "confirmed")
    ]
    # Times come back as ISO 8601 with an offset.
    assert datetime.fromisoformat(listed[0]["ends_at"]) == datetime.fromisoformat(at(2))

    table = cli("bookings", bar.venue, "--from", at(-1), "--to", at(3))
    assert table.exit_code == 0, table.output
    assert str(booking["reference"]) in table.stdout


def test_the_human_output_shows_the_booking(cli: Invoke, bar: Bar) -> None:
    result = cli(
        "book",
        bar.venue,
        "-r",
        bar.table,
        "--start",
        at(0),
        "--duration",
        "90m",
        "--party",
        3,
        "--name",
        "Ada",
    )
    assert result.exit_code == 0, result.output
    assert "confirmed" in result.stdout
    assert "name: Ada" in result.stdout


def test_booking_the_same_slot_twice_is_refused_in_one_line(cli: Invoke, bar: Bar) -> None:
    book(cli, bar, 0, 2)
    second = cli("book", bar.venue, "-r", bar.table, "--start", at(1), "--end", at(3), "--party", 2)
    assert second.exit_code == 3
    line = one_error_line(second)
    assert line.startswith("error BK001 slot unavailable: ")


def test_a_refusal_goes_to_stderr_from_the_installed_script(
    dsn: str, cli: Invoke, bar: Bar
) -> None:
    book(cli, bar, 0, 2)
    script = Path(sys.executable).with_name("bookingdb")
    done = subprocess.run(
        [
            str(script),
            "book",
            str(bar.venue),
            "-r",
            str(bar.table),
            "--start",
            at(0),
            "--duration",
            "1h",
            "--dsn",
            dsn,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error BK001 ")
    assert "Traceback" not in done.stderr


def test_a_naive_time_is_refused_cleanly(cli: Invoke, bar: Bar) -> None:
    result = cli("book", bar.venue, "-r", bar.table, "--start", naive(0), "--duration", "1h")
    assert result.exit_code == 2
    assert "has no UTC offset" in one_error_line(result)
    # Nothing was booked.
    assert ok_json(cli("bookings", bar.venue, "--from", at(-1), "--to", at(3), "--json")) == []


def test_a_naive_time_is_read_in_an_explicit_zone(cli: Invoke, bar: Bar) -> None:
    booking = ok_json(
        cli(
            "book",
            bar.venue,
            "-r",
            bar.table,
            "--start",
            naive(0),
            "--duration",
            "2h",
            "--tz",
            "UTC",
            "--json",
        )
    )
    assert datetime.fromisoformat(booking["starts_at"]) == datetime.fromisoformat(at(0))
    assert datetime.fromisoformat(booking["ends_at"]) == datetime.fromisoformat(at(2))


def test_bad_durations_and_zones_are_refused_cleanly(cli: Invoke, bar: Bar) -> None:
    for extra in (
        ["--duration", "2x"],
        ["--duration", "9999999999999999999999m"],
        ["--duration", "1h", "--ttl", "9999999999999999999999m"],
        ["--duration", "1h", "--tz", "Mars/Olympus"],
        ["--end", at(1), "--duration", "1h"],
        [],
    ):
        result = cli("hold", bar.venue, "-r", bar.table, "--start", at(0), *extra)
        assert result.exit_code == 2, extra
        assert one_error_line(result).startswith("error: ")


def test_check_exits_0_when_available_and_1_when_not(cli: Invoke, bar: Bar) -> None:
    slot = ("check", bar.venue, "-r", bar.table, "--start", at(1), "--duration", "30m")
    free = cli(*slot)
    assert (free.exit_code, free.stdout.strip()) == (0, "available")

    book(cli, bar, 0, 2)
    taken = cli(*slot)
    assert (taken.exit_code, taken.stdout.strip()) == (1, "not available")
    answer = cli(*slot, "--json")
    assert answer.exit_code == 1
    assert printed_json(answer)["available"] is False


def test_cancel_with_a_stale_version_is_bk004(cli: Invoke, bar: Bar) -> None:
    booking = book(cli, bar, 0, 2)
    assert booking["version"] == 1
    stale = cli("cancel", bar.venue, booking["id"], "--expected-version", 2)
    assert stale.exit_code == 3
    assert one_error_line(stale).startswith("error BK004 version conflict: ")

    cancelled = ok_json(
        cli(
            "cancel",
            bar.venue,
            booking["id"],
            "--expected-version",
            1,
            "--reason",
            "rain",
            "--json",
        )
    )
    assert (cancelled["status"], cancelled["version"], cancelled["cancel_reason"]) == (
        "cancelled",
        2,
        "rain",
    )


def test_hold_confirm_reschedule(cli: Invoke, bar: Bar) -> None:
    hold = ok_json(
        cli(
            "hold",
            bar.venue,
            "-r",
            bar.table,
            "--start",
            at(0),
            "--end",
            at(2),
            "--party",
            2,
            "--ttl",
            "10m",
            "--key",
            "checkout-1",
            "--json",
        )
    )
    assert hold["status"] == "held"
    created, expires = (datetime.fromisoformat(hold[k]) for k in ("created_at", "expires_at"))
    assert (expires - created).total_seconds() == 600

    # The same request with the same key returns the same hold.
    replay = ok_json(
        cli(
            "hold",
            bar.venue,
            "-r",
            bar.table,
            "--start",
            at(0),
            "--end",
            at(2),
            "--party",
            2,
            "--ttl",
            "10m",
            "--key",
            "checkout-1",
            "--json",
        )
    )
    assert replay["id"] == hold["id"]

    confirmed = ok_json(
        cli("confirm", bar.venue, hold["id"], "--name", "Bob", "--payment-ref", "pay_1", "--json")
    )
    assert (confirmed["status"], confirmed["version"]) == ("confirmed", 2)
    assert confirmed["payment_ref"] == "pay_1"

    moved = ok_json(
        cli(
            "reschedule",
            bar.venue,
            hold["id"],
            "--expected-version",
            2,
            "--start",
            at(3),
            "--duration",
            "1h",
            "--json",
        )
    )
    assert datetime.fromisoformat(moved["starts_at"]) == datetime.fromisoformat(at(3))
    assert moved["version"] == 3

    listed = ok_json(cli("bookings", bar.venue, "--from", at(-1), "--to", at(5), "--json"))
    assert [row["booking_id"] for row in listed] == [hold["id"]]


def test_verify_exits_0_when_the_invariants_hold(cli: Invoke, bar: Bar) -> None:
    book(cli, bar, 0, 2)
    result = cli("verify")
    assert result.exit_code == 0, result.output
    assert "every invariant holds" in result.stdout
    assert ok_json(cli("verify", "--json")) == []


def test_verify_exits_1_and_lists_a_violation(
    cli: Invoke, bar: Bar, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    book(cli, bar, 0, 2)
    # Break I3 behind the functions' back: a confirmed booking without an active allocation.
    conn.execute("UPDATE bookingdb.allocations SET active = false")
    result = cli("verify", "--json")
    assert result.exit_code == 1
    assert {row["invariant"] for row in printed_json(result)} == {"I3"}


def test_expire_holds(cli: Invoke) -> None:
    assert ok_json(cli("expire-holds", "--max-rows", 10, "--json")) == {"expired": 0}
    refused = cli("expire-holds", "--max-rows", 0)
    assert refused.exit_code == 3
    assert one_error_line(refused).startswith("error BK008 ")


def test_unknown_booking_is_bk007(cli: Invoke, bar: Bar) -> None:
    result = cli("confirm", bar.venue, 999_999)
    assert result.exit_code == 3
    assert one_error_line(result).startswith("error BK007 ")


def test_an_unreachable_database_is_one_line(cli: Invoke) -> None:
    result = cli("verify", "--dsn", "postgresql://nobody@127.0.0.1:1/nothing", with_dsn=False)
    assert result.exit_code == 4
    line = one_error_line(result)
    assert line.startswith("error: ")
    assert "connection" in line.lower()


def test_db_status_of_a_stopped_server(cli: Invoke, tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    status = cli("db", "status", "--data-dir", data_dir, "--json", with_dsn=False)
    assert status.exit_code == 1
    assert printed_json(status) == {
        "data_dir": str(data_dir),
        "running": False,
        "pid": None,
        "dsn": None,
    }
    url = cli("db", "url", "--data-dir", data_dir, with_dsn=False)
    assert url.exit_code == 1
    assert "not running" in one_error_line(url)


def test_sweep_drains_lapsed_holds_in_rounds(cli: Invoke, dsn: str) -> None:
    venue = ok_json(cli("venue", "create", "Sweepers", "--json"))["venue_id"]
    tables = [
        ok_json(cli("resource", "add", venue, f"T{i}", "--json"))["resource_id"] for i in range(3)
    ]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in tables:
            conn.execute(
                "SELECT bookingdb.create_hold(%s, %s, %s::timestamptz, %s::timestamptz,"
                " ttl => '1 microsecond')",
                (venue, [table], at(10), at(11)),
            )
    # --max-rows 2 makes the first round call expire_holds twice (2 + 1).
    result = cli("sweep", "--every", "1s", "--max-rows", 2, "--rounds", 2)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("round 1: 3 hold(s) expired")
    assert lines[1].endswith("round 2: 0 hold(s) expired")
    bad = cli("sweep", "--every", "0s", "--rounds", 1)
    assert bad.exit_code == 2 and "--every" in one_error_line(bad)
