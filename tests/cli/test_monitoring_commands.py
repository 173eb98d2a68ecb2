"""``bookingdb watch``, ``stats`` and ``health``."""

from __future__ import annotations

import json

import psycopg

from .conftest import Invoke, Place, book_table
from .kit import at, ok_json, one_error_line, printed_json


def test_watch_prints_each_change_once_in_order(cli: Invoke, place: Place) -> None:
    first = book_table(cli, place, 0)
    book_table(cli, place, 1)
    ok_json(cli("cancel", place.venue, first["id"], "--json"))
    lines = cli("watch", place.venue, "--timeout", 0, "--json")
    assert lines.exit_code == 0, lines.output
    changes = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [(c["seq"], c["action"]) for c in changes] == [
        (1, "create"),
        (2, "create"),
        (3, "cancelled"),
    ]
    assert changes[2]["reference"] == first["reference"]
    text = cli("watch", place.venue, "--after-seq", 2, "--timeout", 0)
    assert text.exit_code == 0, text.output
    [line] = text.stdout.splitlines()
    assert line.startswith("#3 ") and "cancelled" in line and str(first["reference"]) in line


def test_a_venue_without_notify_is_still_watched(cli: Invoke, place: Place) -> None:
    rules = ok_json(cli("rules", "set", place.venue, "notify=false", "--json"))
    assert rules["notify"] is False
    book_table(cli, place, 0)
    lines = cli("watch", place.venue, "--timeout", 0, "--poll", 0.05, "--json")
    assert [json.loads(line)["seq"] for line in lines.stdout.splitlines()] == [1]


def test_watch_refusal_is_one_line(cli: Invoke) -> None:
    unknown = cli("watch", 987654, "--timeout", 0)
    assert unknown.exit_code == 3 and one_error_line(unknown).startswith("error BK007 ")
    negative = cli("watch", 1, "--timeout", -1)
    assert negative.exit_code == 2 and "--timeout" in one_error_line(negative)


def test_stats_show_bookings_refusals_utilisation_and_the_hour_heatmap(
    cli: Invoke, place: Place
) -> None:
    book_table(cli, place, 0)
    book_table(cli, place, 24)
    # A refusal through the CLI is counted too.
    taken = cli("book", place.venue, "-r", place.table, "--start", at(0), "--duration", "1h")
    assert taken.exit_code == 3
    stats = ok_json(cli("stats", place.venue, "--json"))
    assert stats["bookings_by_status"] == {"confirmed": 2}
    assert stats["refusals"] == {"BK001": 1}
    assert len(stats["bookings_per_hour"]) == 2
    text = cli("stats", place.venue)
    assert text.exit_code == 0, text.output
    out = text.stdout
    for heading in ("bookings by status", "holds made in the window", "refusals by code",
                    "utilisation per resource", "bookings per local hour"):  # fmt: skip
        assert heading in out
    assert "SlotUnavailable" in out
    # Two days with a booking each: two heatmap rows, each with one busiest cell.
    day_rows = [line for line in out.splitlines() if line[:4].isdigit() and "█" in line]
    assert len(day_rows) == 2
    assert all(line.count("██") == 1 for line in day_rows)


def test_stats_refuse_a_bad_window(cli: Invoke, place: Place) -> None:
    bad = cli("stats", place.venue, "--since", at(10), "--until", at(5))
    assert bad.exit_code == 3 and one_error_line(bad).startswith("error BK011 ")


def test_health_exit_code_follows_the_verdict(
    cli: Invoke, place: Place, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    healthy = cli("health", "--max-unswept", "10m", "--json")
    assert healthy.exit_code == 0, healthy.output
    assert printed_json(healthy)["healthy"] is True
    assert cli("health").stdout.startswith("healthy")
    # A hold that lapses at once, and no sweeper.
    conn.execute(
        "SELECT bookingdb.create_hold(%s, %s, %s, %s, ttl => interval '1 microsecond')",
        (place.venue, [place.table], at(0), at(1)),
    )
    sick = cli("health", "--max-unswept", "0s", "--no-invariants")
    assert sick.exit_code == 1, sick.output
    assert sick.stdout.startswith("unhealthy: expired holds unswept for")
    assert "not checked" in sick.stdout
    report = printed_json(cli("health", "--max-unswept", "0s", "--json"))
    assert report["healthy"] is False and report["unswept_holds"] == 1
    # Without --max-unswept a lapsed hold is no problem: it never blocks.
    assert cli("health").exit_code == 0
    bad = cli("health", "--max-lock-wait", "soon")
    assert bad.exit_code == 2 and "--max-lock-wait" in one_error_line(bad)
