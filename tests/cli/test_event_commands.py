"""``bookingdb event create|list|seats|inventory|hold|availability``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest

from .conftest import Invoke, Place
from .kit import at, ok_json, one_error_line


@dataclass(frozen=True)
class Gig:
    """An event with a row of eight seats (Stalls, 45.00) and a standing
    area for 20 (Floor, 25.00)."""

    venue: int
    event: int
    seats: list[int]
    floor: int


@pytest.fixture
def gig(cli: Invoke, place: Place) -> Gig:
    event = ok_json(
        cli("event", "create", place.venue, "Gig", "--starts", at(20), "--ends", at(23), "--json")
    )
    assert datetime.fromisoformat(event["starts_at"]) == datetime.fromisoformat(at(20))
    seats = ok_json(
        cli("event", "seats", place.venue, "--section", "Stalls", "--row", "A", "--first", 1,
            "--count", 8, "--json")
    )["resource_ids"]  # fmt: skip
    floor = ok_json(
        cli("resource", "add", place.venue, "Floor", "--capacity", 20, "--seats-max", 20,
            "--kind", "ga", "--json")
    )["resource_id"]  # fmt: skip
    for ids, category, price in ((seats, "Stalls", 4500), ([floor], "Floor", 2500)):
        sale = cli("event", "inventory", place.venue, event["event_id"],
                   "--resources", ",".join(map(str, ids)), "--category", category,
                   "--price-cents", price)  # fmt: skip
        assert sale.exit_code == 0, sale.output
        assert f"{len(ids)} resource(s) on sale" in sale.stdout
    return Gig(place.venue, event["event_id"], seats, floor)


def test_events_are_listed(cli: Invoke, gig: Gig) -> None:
    listed = ok_json(cli("event", "list", gig.venue, "--json"))
    assert [(e["event_id"], e["name"]) for e in listed] == [(gig.event, "Gig")]
    text = cli("event", "list", gig.venue)
    assert text.exit_code == 0 and "Gig" in text.stdout


def test_seats_print_their_ids(cli: Invoke, place: Place) -> None:
    text = cli("event", "seats", place.venue, "--section", "Circle", "--row", "B",
               "--first", 10, "--count", 3)  # fmt: skip
    assert text.exit_code == 0, text.output
    assert "3 seat(s) added" in text.stdout and "Circle row B 10-12" in text.stdout


def test_hold_picks_adjacent_seats_and_prices_them(cli: Invoke, gig: Gig) -> None:
    hold = ok_json(
        cli("event", "hold", gig.venue, gig.event, "--quantity", 2, "--category", "Stalls",
            "--name", "Ada", "--key", "web-1", "--ttl", "5m", "--json")
    )  # fmt: skip
    assert hold["resource_ids"] == gig.seats[3:5]
    assert (hold["event_id"], hold["total_cents"], hold["status"]) == (gig.event, 9000, "held")
    assert hold["customer"] == {"name": "Ada"}
    replay = ok_json(
        cli("event", "hold", gig.venue, gig.event, "--quantity", 2, "--category", "Stalls",
            "--name", "Ada", "--key", "web-1", "--ttl", "5m", "--json")
    )  # fmt: skip
    assert replay["id"] == hold["id"]
    text = cli("event", "hold", gig.venue, gig.event, "--seats", f"{gig.seats[0]},{gig.seats[1]}")
    assert text.exit_code == 0, text.output
    assert "total (cents)" in text.stdout and "9000" in text.stdout


def test_general_admission_and_availability(cli: Invoke, gig: Gig) -> None:
    ok_json(cli("event", "hold", gig.venue, gig.event, "--quantity", 5, "--category", "Floor",
                "--json"))  # fmt: skip
    ok_json(cli("event", "hold", gig.venue, gig.event, "--seats", gig.seats[0], "--json"))
    left = ok_json(cli("event", "availability", gig.venue, gig.event, "--json"))
    assert {c["category"]: (c["resources"], c["remaining"]) for c in left["categories"]} == {
        "Stalls": (8, 7),
        "Floor": (1, 15),
    }
    assert {r["resource_id"]: r["remaining"] for r in left["resources"]}[gig.seats[0]] == 0
    text = cli("event", "availability", gig.venue, gig.event)
    assert text.exit_code == 0, text.output
    assert "Stalls A1" in text.stdout and "Floor" in text.stdout


def test_event_refusals_and_bad_input_are_one_line(cli: Invoke, gig: Gig) -> None:
    unknown = cli("event", "hold", gig.venue, 987654, "--quantity", 1)
    assert unknown.exit_code == 3 and one_error_line(unknown).startswith("error BK007 ")
    no_category = cli("event", "hold", gig.venue, gig.event, "--quantity", 1)
    assert no_category.exit_code == 3 and "BK008" in one_error_line(no_category)
    bad_seats = cli("event", "hold", gig.venue, gig.event, "--seats", "1,two")
    assert bad_seats.exit_code == 2 and "--seats" in one_error_line(bad_seats)
    huge = cli("event", "hold", gig.venue, gig.event, "--quantity", 2**40)
    assert huge.exit_code == 2 and "32-bit" in one_error_line(huge)
    naive = cli("event", "create", gig.venue, "X", "--starts", "2030-01-01T20:00", "--ends", at(1))
    assert naive.exit_code == 2 and "no UTC offset" in one_error_line(naive)
