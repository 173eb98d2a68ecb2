"""Finding room from the CLI: ``availability`` (a venue's local day), ``combos``
and ``alternatives``. The day is the venue's local date, computed in its zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from typer.testing import Result

from .conftest import Invoke, Place
from .kit import at, ok_json, one_error_line

LONDON = ZoneInfo("Europe/London")


def local(day: date, clock: str) -> datetime:
    """An instant at the venue: a local date and wall-clock time in London."""
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=LONDON)


def hours_in(day: date) -> int:
    """How long a local day is at the venue: 24 hours, or 23/25 on a clock change."""
    # In UTC: subtracting two times of one zone gives the wall-clock difference.
    length = local(day + timedelta(days=1), "00:00").astimezone(UTC) - local(day, "00:00")
    return int(length / timedelta(hours=1))


def local_day() -> date:
    """A 24-hour date at the venue a few days ahead: wholly in the future and
    well within the default six months' maximum advance."""
    day = datetime.now(LONDON).date() + timedelta(days=3)
    while hours_in(day) != 24:
        day += timedelta(days=1)
    return day


def open_on(cli: Invoke, place: Place, day: date, opens: str, closes: str) -> None:
    """Opening hours on the weekday of ``day`` (so other weekdays are closed)."""
    weekday = day.isoweekday()
    result = cli(
        "hours", "set", place.venue, "--weekday", weekday, "--opens", opens, "--closes", closes
    )
    assert result.exit_code == 0, result.output


def starts(result: Result, resource: int) -> list[datetime]:
    return [
        datetime.fromisoformat(slot["starts_at"])
        for slot in ok_json(result)["slots"]
        if slot["resource_id"] == resource
    ]


def bar(result: Result, resource: int) -> str:
    """The timeline row of ``resource`` in the text output."""
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    [row] = [row for row in rows if len(row) == 2 and row[0] == str(resource)]
    return row[1]


def refused(result: Result, code: str) -> str:
    assert result.exit_code == 3, result.output
    line = one_error_line(result)
    assert line.startswith(f"error {code} "), line
    return line


# -- availability --------------------------------------------------------------------------


def test_availability_json_covers_the_local_day(cli: Invoke, place: Place) -> None:
    day = local_day()
    result = cli(
        "availability", place.venue, "--date", day, "--duration", "90m", "--step", "30m", "--json"
    )
    answer = ok_json(result)
    assert (answer["venue_id"], answer["date"], answer["timezone"]) == (
        place.venue,
        day.isoformat(),
        "Europe/London",
    )
    assert answer["duration_seconds"] == 90 * 60
    window = [datetime.fromisoformat(answer["window"][k]) for k in ("starts_at", "ends_at")]
    assert window == [local(day, "00:00"), local(day + timedelta(days=1), "00:00")]

    for resource in (place.table, place.other):
        begins = starts(result, resource)
        # Every 30 minutes from local midnight until 90 minutes before the next one.
        assert begins[0] == local(day, "00:00")
        assert begins[-1] == local(day, "22:30")
        assert all(b - a == timedelta(minutes=30) for a, b in pairwise(begins))
    assert {slot["remaining"] for slot in answer["slots"]} == {1}
    # Times are printed in the venue's zone, with the offset.
    assert answer["slots"][0]["starts_at"] == local(day, "00:00").isoformat()

    resources = {row["resource_id"]: row for row in answer["resources"]}
    assert set(resources) == {place.table, place.other}
    free = resources[place.table]["free"]
    assert [datetime.fromisoformat(free[0][k]) for k in ("starts_at", "ends_at")] == window
    assert resources[place.table]["bookable_starts"] == 46


def test_a_booked_slot_is_excluded_and_drawn_as_taken(cli: Invoke, place: Place) -> None:
    day = local_day()
    booked = cli(
        "book",
        place.venue,
        "-r",
        place.table,
        "--start",
        f"{day}T12:00",
        "--duration",
        "2h",
        "--tz",
        "Europe/London",
        "--party",
        2,
    )
    assert booked.exit_code == 0, booked.output
    request = ("availability", place.venue, "--date", day, "--duration", "90m")

    begins = starts(cli(*request, "--json"), place.table)
    assert local(day, "10:30") in begins  # ends as the booking starts
    assert local(day, "14:00") in begins  # starts as it ends
    assert not [s for s in begins if local(day, "10:30") < s < local(day, "14:00")]
    # The other table is untouched.
    assert local(day, "12:00") in starts(cli(*request, "--json"), place.other)

    answer = ok_json(cli(*request, "--json"))
    [table] = [row for row in answer["resources"] if row["resource_id"] == place.table]
    assert [
        [datetime.fromisoformat(part[k]) for k in ("starts_at", "ends_at")]
        for part in table["free"]
    ] == [
        [local(day, "00:00"), local(day, "12:00")],
        [local(day, "14:00"), local(day + timedelta(days=1), "00:00")],
    ]

    text = cli(*request)
    taken = bar(text, place.table)
    # One character per 15 minutes from local midnight.
    noon = int((local(day, "12:00") - local(day, "00:00")) / timedelta(minutes=15))
    assert taken[noon : noon + 8] == "x" * 8
    assert taken[noon - 1] == taken[noon + 8] == "█"
    assert set(bar(text, place.other)) == {"█"}
    assert "Europe/London" in text.stdout
    assert "x booked" in text.stdout


def test_availability_text_lists_bookable_starts(cli: Invoke, place: Place) -> None:
    day = local_day()
    open_on(cli, place, day, "09:00", "17:00")
    result = cli("availability", place.venue, "--date", day, "--duration", "1h", "-r", place.table)
    assert result.exit_code == 0, result.output
    assert f"venue {place.venue} on {day}, local time in Europe/London" in result.stdout
    assert "29 bookable start(s) for 1h" in result.stdout
    assert "09:00-16:00" in result.stdout
    # Only the resource asked for; closed before 09:00 and from 17:00.
    assert bar(result, place.table) == "·" * 36 + "█" * 32 + "·" * 28
    assert not [
        line for line in result.stdout.splitlines() if line.split()[:1] == [str(place.other)]
    ]
    # Local hour labels above the bars.
    assert "00  01  02" in result.stdout and "22  23" in result.stdout


def test_availability_follows_opening_hours_and_party(cli: Invoke, place: Place) -> None:
    day = local_day()
    open_on(cli, place, day, "18:00", "02:00")
    request = ("availability", place.venue, "--date", day, "--duration", "2h", "--json")
    begins = starts(cli(*request), place.other)
    assert begins[0] == local(day, "18:00")
    # The evening runs past midnight, but the day's window ends there.
    assert begins[-1] == local(day, "22:00")
    # A party of 5 fits only the six-seat table.
    assert {slot["resource_id"] for slot in ok_json(cli(*request, "--party", 5))["slots"]} == {
        place.other
    }


def test_a_day_with_a_clock_change_has_23_or_25_hours(cli: Invoke, place: Place) -> None:
    ok_json(cli("rules", "set", place.venue, "max_advance=1 year", "--json"))
    today = datetime.now(LONDON).date()
    day = next(
        today + timedelta(days=n)
        for n in range(2, 370)
        if hours_in(today + timedelta(days=n)) != 24
    )
    hours = hours_in(day)
    assert hours in (23, 25)
    request = ("availability", place.venue, "--date", day, "--duration", "1h", "--step", "1h")
    assert len(bar(cli(*request), place.table)) == hours
    # A start every real hour from local midnight; the last ends at the next midnight.
    begins = starts(cli(*request, "--json"), place.table)
    assert len(begins) == hours
    assert begins[-1] + timedelta(hours=1) == local(day + timedelta(days=1), "00:00")


def test_availability_refusals_are_one_line(cli: Invoke, place: Place) -> None:
    day = local_day()
    refused(cli("availability", 999_999, "--date", day, "--duration", "1h"), "BK007")
    refused(
        cli("availability", place.venue, "--date", day, "--duration", "1h", "-r", 999_999), "BK007"
    )
    refused(cli("availability", place.venue, "--date", day, "--duration", "0m"), "BK008")
    refused(
        cli("availability", place.venue, "--date", day, "--duration", "1h", "--party", 500), "BK014"
    )


@pytest.mark.parametrize(
    ("options", "option"),
    [
        (("--date", "2027-13-01", "--duration", "1h"), "--date"),
        (("--date", "next friday", "--duration", "1h"), "--date"),
        (("--date", "2027-03-28", "--duration", "an hour"), "--duration"),
        (("--date", "2027-03-28", "--duration", "1h", "--step", "x"), "--step"),
    ],
)
def test_a_bad_date_or_duration_is_bad_input(
    cli: Invoke, place: Place, options: tuple[str, ...], option: str
) -> None:
    result = cli("availability", place.venue, *options)
    assert result.exit_code == 2, result.output
    assert one_error_line(result).startswith(f"error: {option}: ")


# -- combos --------------------------------------------------------------------------------


def test_combos_ranks_linked_tables(cli: Invoke, place: Place) -> None:
    third = ok_json(cli("resource", "add", place.venue, "T3", "--seats-max", 8, "--json"))[
        "resource_id"
    ]
    for a, b in ((place.table, place.other), (place.other, third)):
        assert cli("resource", "link", place.venue, a, b).exit_code == 0
    slot = ("--start", at(0), "--duration", "2h", "--party", 10)

    combos = ok_json(cli("combos", place.venue, *slot, "--json"))
    assert [
        (c["rank"], c["resource_ids"], c["total_seats"], c["wasted_seats"]) for c in combos
    ] == [
        (1, [place.table, place.other], 10, 0),
        (2, [place.other, third], 14, 4),
    ]
    text = cli("combos", place.venue, *slot)
    assert text.exit_code == 0, text.output
    assert "tables for a party of 10" in text.stdout
    assert f"{place.table} + {place.other}" in text.stdout
    assert "wasted" in text.stdout and "deposit" in text.stdout

    # Booking one of the tables takes its combinations off the list.
    booked = cli("book", place.venue, "-r", place.table, "--start", at(1), "--duration", "30m")
    assert booked.exit_code == 0, booked.output
    remaining = ok_json(cli("combos", place.venue, *slot, "--json"))
    assert [c["resource_ids"] for c in remaining] == [[place.other, third]]


def test_combos_max_tables_and_none_fitting(cli: Invoke, place: Place) -> None:
    cli("resource", "link", place.venue, place.table, place.other)
    slot = ("--start", at(0), "--end", at(2))
    assert (
        ok_json(cli("combos", place.venue, *slot, "--party", 9, "--max-tables", 1, "--json")) == []
    )
    empty = cli("combos", place.venue, *slot, "--party", 11)
    assert empty.exit_code == 0, empty.output
    assert "no free tables seat a party of 11" in empty.stdout


def test_combos_refusals(cli: Invoke, place: Place) -> None:
    slot = ("--start", at(0), "--duration", "2h")
    refused(cli("combos", 999_999, *slot, "--party", 4), "BK007")
    refused(cli("combos", place.venue, *slot, "--party", 4, "--max-tables", 7), "BK008")
    refused(cli("combos", place.venue, *slot, "--party", 500), "BK014")
    both = cli("combos", place.venue, *slot, "--end", at(2), "--party", 4)
    assert both.exit_code == 2
    assert one_error_line(both) == "error: give exactly one of --end and --duration"


# -- alternatives --------------------------------------------------------------------------


def test_alternatives_near_a_taken_slot(cli: Invoke, place: Place) -> None:
    booked = cli("book", place.venue, "-r", place.table, "--start", at(0), "--duration", "2h")
    assert booked.exit_code == 0, booked.output
    request = ("alternatives", place.venue, "-r", place.table, "--start", at(0), "--duration", "2h")

    found = ok_json(cli(*request, "--party", 2, "--max", 3, "--json"))
    assert len(found) == 3
    assert [a["score"] for a in found] == sorted((a["score"] for a in found), reverse=True)
    for alternative in found:
        starts_at = datetime.fromisoformat(alternative["starts_at"])
        ends_at = datetime.fromisoformat(alternative["ends_at"])
        assert ends_at - starts_at == timedelta(hours=2)
        if alternative["resource_id"] == place.table:
            # Not overlapping the booking.
            assert ends_at <= datetime.fromisoformat(at(0)) or starts_at >= datetime.fromisoformat(
                at(2)
            )
    # The best is the same time on the free table.
    assert (found[0]["resource_id"], datetime.fromisoformat(found[0]["starts_at"])) == (
        place.other,
        datetime.fromisoformat(at(0)),
    )

    text = cli(*request, "--party", 2, "--tz", "Europe/London")
    assert text.exit_code == 0, text.output
    assert "score" in text.stdout
    best = datetime.fromisoformat(at(0)).astimezone(LONDON).isoformat(timespec="minutes")
    assert best in text.stdout


def test_alternatives_refusals(cli: Invoke, place: Place) -> None:
    slot = ("--start", at(0), "--duration", "1h", "--party", 2)
    refused(cli("alternatives", 999_999, "-r", place.table, *slot), "BK007")
    refused(cli("alternatives", place.venue, "-r", 999_999, *slot), "BK007")
    refused(cli("alternatives", place.venue, "-r", place.table, *slot, "--max", 0), "BK008")
