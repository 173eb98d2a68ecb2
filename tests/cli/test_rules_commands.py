"""Venue rules, opening hours and resource settings from the CLI: ``rules``,
``hours`` and ``resource buffers|pricing|link|unlink``. Refusals are one line
and exit 3 (BK007 unknown venue or resource, BK010 bad rule or setting); bad
command-line values exit 2."""

from __future__ import annotations

import pytest
from typer.testing import Result

from .conftest import Invoke, Place
from .kit import at, ok_json, one_error_line


def refused(result: Result, code: str) -> str:
    """The one line of a database refusal with ``code`` (exit 3)."""
    assert result.exit_code == 3, result.output
    line = one_error_line(result)
    assert line.startswith(f"error {code} "), line
    return line


# -- rules ---------------------------------------------------------------------------------


def test_rules_show_prints_the_defaults(cli: Invoke, place: Place) -> None:
    rules = ok_json(cli("rules", "show", place.venue, "--json"))
    assert rules["venue_id"] == place.venue
    assert rules["timezone"] == "Europe/London"
    assert (rules["min_party"], rules["max_party"], rules["min_age"]) == (1, 50, None)
    assert rules["has_hours"] is False

    text = cli("rules", "show", place.venue)
    assert text.exit_code == 0, text.output
    assert "Europe/London" in text.stdout
    assert "max_party" in text.stdout


def test_rules_set_takes_numbers_intervals_and_null(cli: Invoke, place: Place) -> None:
    default_notice = ok_json(cli("rules", "show", place.venue, "--json"))["min_notice"]
    rules = ok_json(
        cli(
            "rules",
            "set",
            place.venue,
            "min_party=2",
            "max_party=8",
            "min_age=18",
            "min_notice=2 hours",
            "--json",
        )
    )
    assert (rules["min_party"], rules["max_party"], rules["min_age"]) == (2, 8, 18)
    assert rules["min_notice"] != default_notice

    # null puts a rule back to its default; the others keep their value.
    restored = ok_json(
        cli("rules", "set", place.venue, "min_age=null", "min_notice=null", "--json")
    )
    assert (restored["min_party"], restored["max_party"], restored["min_age"]) == (2, 8, None)
    assert restored["min_notice"] == default_notice

    text = cli("rules", "set", place.venue, "max_party=10")
    assert text.exit_code == 0, text.output
    assert "max_party" in text.stdout and "10" in text.stdout


def test_a_rule_is_enforced_after_it_is_set(cli: Invoke, place: Place) -> None:
    ok_json(cli("rules", "set", place.venue, "max_party=3", "--json"))
    result = cli(
        "book", place.venue, "-r", place.table, "--start", at(0), "--duration", "1h", "--party", 4
    )
    refused(result, "BK014")


def test_an_unknown_or_bad_rule_is_bk010_in_one_line(cli: Invoke, place: Place) -> None:
    refused(cli("rules", "set", place.venue, "bogus=1"), "BK010")
    refused(cli("rules", "set", place.venue, "min_party=many"), "BK010")
    refused(cli("rules", "set", place.venue, "max_advance=soon"), "BK010")
    refused(cli("rules", "set", place.venue, "min_party=9", "max_party=3"), "BK010")
    # Nothing changed.
    assert ok_json(cli("rules", "show", place.venue, "--json"))["max_party"] == 50


def test_a_rule_that_is_not_key_value_is_bad_input(cli: Invoke, place: Place) -> None:
    for pairs in (["min_party"], ["=3"], ["min_party=2", "min_party=3"]):
        result = cli("rules", "set", place.venue, *pairs)
        assert result.exit_code == 2, pairs
        assert one_error_line(result).startswith("error: ")


def test_rules_of_an_unknown_venue_are_bk007(cli: Invoke) -> None:
    refused(cli("rules", "show", 999_999), "BK007")
    refused(cli("rules", "set", 999_999, "min_party=2"), "BK007")


# -- opening hours -------------------------------------------------------------------------


def test_a_venue_without_hours_is_open_around_the_clock(cli: Invoke, place: Place) -> None:
    text = cli("hours", "show", place.venue)
    assert text.exit_code == 0, text.output
    assert "open around the clock" in text.stdout
    assert ok_json(cli("hours", "show", place.venue, "--json")) == {
        "venue_id": place.venue,
        "timezone": "Europe/London",
        "open_around_the_clock": True,
        "weekly": [],
        "overrides": [],
    }


def test_hours_set_show_and_clear(cli: Invoke, place: Place) -> None:
    added = ok_json(
        cli(
            "hours",
            "set",
            place.venue,
            "--weekday",
            1,
            "--opens",
            "09:00",
            "--closes",
            "17:00",
            "--json",
        )
    )
    assert added == {
        "venue_id": place.venue,
        "weekday": 1,
        "opens": "09:00:00",
        "closes": "17:00:00",
    }
    late = cli("hours", "set", place.venue, "--weekday", 5, "--opens", "18:00", "--closes", "2:00")
    assert late.exit_code == 0, late.output
    assert (
        late.stdout.strip() == f"venue {place.venue}: Friday 18:00-02:00 (ends the next day) added"
    )

    hours = ok_json(cli("hours", "show", place.venue, "--json"))
    assert hours["open_around_the_clock"] is False
    assert hours["weekly"] == [
        {"weekday": 1, "opens": "09:00:00", "closes": "17:00:00"},
        {"weekday": 5, "opens": "18:00:00", "closes": "02:00:00"},
    ]
    text = cli("hours", "show", place.venue)
    assert text.exit_code == 0, text.output
    assert "Europe/London" in text.stdout
    assert "Monday" in text.stdout and "09:00-17:00" in text.stdout
    assert "weekdays not listed are closed" in text.stdout

    cleared = cli("hours", "clear", place.venue, "--weekday", 1)
    assert cleared.stdout.strip() == f"venue {place.venue}: the hours of Monday cleared"
    assert [
        row["weekday"] for row in ok_json(cli("hours", "show", place.venue, "--json"))["weekly"]
    ] == [5]

    everything = ok_json(cli("hours", "clear", place.venue, "--json"))
    assert everything == {"venue_id": place.venue, "weekday": None, "open_around_the_clock": True}
    assert "open around the clock" in cli("hours", "show", place.venue).stdout


def test_date_overrides_close_a_day_or_replace_its_hours(cli: Invoke, place: Place) -> None:
    closed = cli("hours", "override", place.venue, "--day", "2027-12-25")
    assert closed.exit_code == 0, closed.output
    assert closed.stdout.strip() == f"venue {place.venue}: 2027-12-25 closed all day"
    short = ok_json(
        cli(
            "hours",
            "override",
            place.venue,
            "--day",
            "2027-12-24",
            "--opens",
            "10:00",
            "--closes",
            "15:00",
            "--json",
        )
    )
    assert short == {
        "venue_id": place.venue,
        "day": "2027-12-24",
        "opens": "10:00:00",
        "closes": "15:00:00",
    }

    hours = ok_json(cli("hours", "show", place.venue, "--json"))
    assert hours["open_around_the_clock"] is False
    assert hours["overrides"] == [
        {"day": "2027-12-24", "opens": "10:00:00", "closes": "15:00:00"},
        {"day": "2027-12-25", "opens": None, "closes": None},
    ]
    text = cli("hours", "show", place.venue).stdout
    assert "2027-12-25" in text and "closed all day" in text
    assert "open around the clock except on the dates listed" in text

    one = cli("hours", "clear-override", place.venue, "--day", "2027-12-25")
    assert one.stdout.strip() == f"venue {place.venue}: the overrides of 2027-12-25 removed"
    left = ok_json(cli("hours", "show", place.venue, "--json"))["overrides"]
    assert [row["day"] for row in left] == ["2027-12-24"]
    assert ok_json(cli("hours", "clear-override", place.venue, "--json")) == {
        "venue_id": place.venue,
        "day": None,
    }
    assert ok_json(cli("hours", "show", place.venue, "--json"))["open_around_the_clock"] is True


def test_a_bad_weekday_is_bk010_in_one_line(cli: Invoke, place: Place) -> None:
    for weekday in (0, 8):
        set_hours = ("hours", "set", place.venue, "--weekday", weekday)
        refused(cli(*set_hours, "--opens", "09:00", "--closes", "17:00"), "BK010")
        refused(cli("hours", "clear", place.venue, "--weekday", weekday), "BK010")
    assert ok_json(cli("hours", "show", place.venue, "--json"))["weekly"] == []


def test_an_override_with_only_one_time_is_bk010(cli: Invoke, place: Place) -> None:
    override = ("hours", "override", place.venue, "--day", "2027-12-24")
    refused(cli(*override, "--opens", "10:00"), "BK010")
    refused(cli(*override, "--closes", "15:00"), "BK010")


@pytest.mark.parametrize(
    "args",
    [
        ("set", "--weekday", 1, "--opens", "9am", "--closes", "17:00"),
        ("set", "--weekday", 1, "--opens", "09:00", "--closes", "24:00"),
        ("override", "--day", "2027-02-30"),
        ("override", "--day", "25/12/2027"),
        ("clear-override", "--day", "tomorrow"),
    ],
)
def test_bad_clock_times_and_dates_are_bad_input(
    cli: Invoke, place: Place, args: tuple[object, ...]
) -> None:
    subcommand, *options = args
    result = cli("hours", subcommand, place.venue, *options)
    assert result.exit_code == 2, result.output
    assert one_error_line(result).startswith("error: --")


def test_hours_of_an_unknown_venue_are_bk007(cli: Invoke) -> None:
    refused(cli("hours", "show", 999_999), "BK007")
    refused(
        cli("hours", "set", 999_999, "--weekday", 1, "--opens", "9:00", "--closes", "17:00"),
        "BK007",
    )
    refused(cli("hours", "clear", 999_999), "BK007")
    refused(cli("hours", "override", 999_999, "--day", "2027-12-25"), "BK007")
    refused(cli("hours", "clear-override", 999_999), "BK007")


def test_a_booking_outside_opening_hours_is_bk015(cli: Invoke, place: Place) -> None:
    # Open one hour on every weekday, but not at the time of the booking.
    for weekday in range(1, 8):
        opened = cli(
            "hours",
            "set",
            place.venue,
            "--weekday",
            weekday,
            "--opens",
            "00:00",
            "--closes",
            "00:01",
        )
        assert opened.exit_code == 0, opened.output
    result = cli("book", place.venue, "-r", place.table, "--start", at(3), "--duration", "1h")
    refused(result, "BK015")


# -- resource settings ---------------------------------------------------------------------


def test_resource_buffers(cli: Invoke, place: Place) -> None:
    text = cli("resource", "buffers", place.venue, place.table, "--before", "10m", "--after", "15m")
    assert text.exit_code == 0, text.output
    assert text.stdout.strip() == (
        f"resource {place.table} of venue {place.venue}: 10m before and 15m after every booking"
    )
    assert ok_json(
        cli(
            "resource",
            "buffers",
            place.venue,
            place.table,
            "--before",
            "0m",
            "--after",
            "1h",
            "--json",
        )
    ) == {
        "venue_id": place.venue,
        "resource_id": place.table,
        "before_seconds": 0,
        "after_seconds": 3600,
    }
    # The hour after a booking is now taken: the next booking starting then is refused.
    first = cli("book", place.venue, "-r", place.table, "--start", at(0), "--duration", "1h")
    assert first.exit_code == 0, first.output
    second = cli("book", place.venue, "-r", place.table, "--start", at(1.5), "--duration", "1h")
    refused(second, "BK001")


def test_bad_buffers(cli: Invoke, place: Place) -> None:
    buffers = ("resource", "buffers", place.venue, place.table)
    refused(cli(*buffers, "--before", "0m", "--after", "2d"), "BK010")
    refused(
        cli("resource", "buffers", place.venue, 999_999, "--before", "0m", "--after", "0m"), "BK007"
    )
    bad = cli(*buffers, "--before", "ten", "--after", "0m")
    assert bad.exit_code == 2
    assert one_error_line(bad).startswith("error: --before: ")


def test_resource_pricing_shows_in_combinations(cli: Invoke, place: Place) -> None:
    priced = ok_json(
        cli(
            "resource",
            "pricing",
            place.venue,
            place.table,
            "--deposit-cents",
            1000,
            "--min-spend-cents",
            5000,
            "--zone",
            "terrace",
            "--json",
        )
    )
    assert priced == {
        "venue_id": place.venue,
        "resource_id": place.table,
        "deposit_cents": 1000,
        "min_spend_cents": 5000,
        "zone": "terrace",
    }
    text = cli(
        "resource",
        "pricing",
        place.venue,
        place.other,
        "--deposit-cents",
        0,
        "--min-spend-cents",
        2500,
    )
    assert text.stdout.strip() == (
        f"resource {place.other} of venue {place.venue}: deposit 0 cents, minimum spend 2500 cents"
    )
    combos = ok_json(
        cli("combos", place.venue, "--start", at(0), "--duration", "2h", "--party", 3, "--json")
    )
    by_tables = {tuple(c["resource_ids"]): c for c in combos}
    assert by_tables[(place.table,)]["total_deposit_cents"] == 1000
    assert by_tables[(place.table,)]["zone"] == "terrace"
    assert by_tables[(place.other,)]["total_min_spend_cents"] == 2500

    refused(
        cli(
            "resource",
            "pricing",
            place.venue,
            place.table,
            "--deposit-cents",
            -1,
            "--min-spend-cents",
            0,
        ),
        "BK010",
    )


def test_link_and_unlink_tables(cli: Invoke, place: Place) -> None:
    combos = ("combos", place.venue, "--start", at(0), "--duration", "2h", "--party", 9, "--json")
    assert ok_json(cli(*combos)) == []

    linked = cli("resource", "link", place.venue, place.other, place.table)
    assert linked.exit_code == 0, linked.output
    assert linked.stdout.strip() == (
        f"resources {place.other} and {place.table} of venue {place.venue} linked"
    )
    assert [c["resource_ids"] for c in ok_json(cli(*combos))] == [[place.table, place.other]]

    unlinked = ok_json(cli("resource", "unlink", place.venue, place.table, place.other, "--json"))
    assert unlinked == {"venue_id": place.venue, "unlinked": [place.table, place.other]}
    assert ok_json(cli(*combos)) == []


def test_linking_a_table_to_itself_or_an_unknown_one_is_refused(cli: Invoke, place: Place) -> None:
    refused(cli("resource", "link", place.venue, place.table, place.table), "BK010")
    refused(cli("resource", "link", place.venue, place.table, 999_999), "BK007")
    refused(cli("resource", "unlink", 999_999, place.table, place.other), "BK007")


def test_resource_list_shows_settings_and_links(cli: Invoke) -> None:
    venue = ok_json(cli("venue", "create", "Lister", "--json"))["venue_id"]
    ids = [
        ok_json(cli("resource", "add", venue, name, "--seats-max", 4, "--json"))["resource_id"]
        for name in ("A", "B")
    ]
    ok_json(cli("resource", "link", venue, *ids, "--json"))
    pricing = ("--deposit-cents", 500, "--min-spend-cents", 0, "--zone", "bar", "--json")
    ok_json(cli("resource", "pricing", venue, ids[0], *pricing))
    listed = ok_json(cli("resource", "list", venue, "--json"))
    assert [(r["resource_id"], r["linked_to"], r["zone"]) for r in listed] == [
        (ids[0], [ids[1]], "bar"),
        (ids[1], [ids[0]], None),
    ]
    text = cli("resource", "list", venue).stdout
    assert "bar" in text and "1-4" in text
    unknown = cli("resource", "list", 987654)
    assert unknown.exit_code == 3 and "BK007" in one_error_line(unknown)
