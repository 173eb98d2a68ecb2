"""Reading times and durations from the command line (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bookingdb.cli.params import (
    InputError,
    parse_duration,
    parse_ids,
    parse_rules,
    parse_time,
    time_range,
)

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", timedelta(minutes=10)),
        ("90m", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d", timedelta(days=1)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "--ttl") == expected


@pytest.mark.parametrize("text", ["", "m", "10", "1.5h", "30m2h", "-5m", "ten minutes"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="--ttl"):
        parse_duration(text, "--ttl")


@pytest.mark.parametrize(
    "text", ["9999999999999999999999m", "36601d", "878425h", f"{10**400}s", "36600d1s"]
)
def test_durations_longer_than_any_function_accepts_are_refused(text: str) -> None:
    with pytest.raises(InputError, match=r"--ttl: .* is longer than 100 years"):
        parse_duration(text, "--ttl")


def test_the_longest_duration_is_accepted() -> None:
    assert parse_duration("36600d", "--ttl") == timedelta(days=36_600)


def test_a_time_with_an_offset_is_kept() -> None:
    parsed = parse_time("2027-03-28T19:00+01:00", "--start", LONDON)
    assert parsed == datetime(2027, 3, 28, 18, 0, tzinfo=UTC)


def test_a_naive_time_needs_a_zone() -> None:
    with pytest.raises(InputError, match="no UTC offset"):
        parse_time("2027-03-28T19:00", "--start", None)
    assert parse_time("2027-03-28T19:00", "--start", LONDON).utcoffset() == timedelta(hours=1)


def test_local_times_that_a_clock_change_skips_or_repeats_are_refused() -> None:
    with pytest.raises(InputError, match="does not exist"):
        parse_time("2027-03-28T01:30", "--start", LONDON)
    with pytest.raises(InputError, match="happens twice"):
        parse_time("2027-10-31T01:30", "--start", LONDON)


def test_a_duration_is_elapsed_time_across_a_clock_change() -> None:
    starts_at, ends_at = time_range("2027-10-31T00:30", None, "2h", LONDON)
    assert ends_at.astimezone(UTC) - starts_at.astimezone(UTC) == timedelta(hours=2)
    # 00:30 BST plus two hours is 01:30 GMT, the second 01:30 of that night.
    assert ends_at == datetime(2027, 10, 31, 1, 30, tzinfo=UTC)


def test_not_iso_is_refused() -> None:
    with pytest.raises(InputError, match="not an ISO 8601 time"):
        parse_time("tomorrow 7pm", "--start", LONDON)


def test_id_lists() -> None:
    assert parse_ids("3,1, 2", "--resources") == [3, 1, 2]
    assert parse_ids("7", "--seats") == [7]
    for text in ("", "1,,2", "1;2", "a", "-1"):
        with pytest.raises(InputError, match="--seats"):
            parse_ids(text, "--seats")


def test_rules_read_booleans_numbers_null_and_text() -> None:
    assert parse_rules(["notify=false", "min_party=2", "min_age=null", "hold_ttl=5 minutes"]) == {
        "notify": False,
        "min_party": 2,
        "min_age": None,
        "hold_ttl": "5 minutes",
    }
    assert parse_rules(["notify=true"]) == {"notify": True}
