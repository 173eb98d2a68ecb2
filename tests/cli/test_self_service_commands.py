"""``cancel --reference --token``, ``find``, ``customer``, ``resource sellable``
and ``--holder``; the cancel token shown when a command confirms."""

from __future__ import annotations

from .conftest import Invoke, Place, book_table
from .kit import at, ok_json, one_error_line


def test_book_and_confirm_show_the_cancel_token_once(cli: Invoke, place: Place) -> None:
    booked = book_table(cli, place, 0)
    assert isinstance(booked["cancel_token"], str) and len(booked["cancel_token"]) == 64
    text = cli("book", place.venue, "-r", place.table, "--start", at(2), "--duration", "1h")
    assert text.exit_code == 0, text.output
    assert "cancel token" in text.stdout

    hold = ok_json(cli("hold", place.venue, "-r", place.other, "--start", at(0), "--duration",
                       "1h", "--json"))  # fmt: skip
    assert hold["cancel_token"] is None
    confirmed = ok_json(cli("confirm", place.venue, hold["id"], "--json"))
    assert len(confirmed["cancel_token"]) == 64
    again = cli("confirm", place.venue, hold["id"])
    assert again.exit_code == 0, again.output
    assert "cancel token" not in again.stdout


def test_cancel_by_reference_and_token(cli: Invoke, place: Place) -> None:
    booked = book_table(cli, place, 0)
    wrong = cli("cancel", place.venue, "--reference", booked["reference"], "--token", "0" * 64)
    assert wrong.exit_code == 3
    unknown = cli("cancel", place.venue, "--reference", "BK-0000-0000",
                  "--token", booked["cancel_token"])  # fmt: skip
    assert unknown.exit_code == 3
    # The same line for both: no hint whether the reference exists.
    assert one_error_line(wrong) == one_error_line(unknown)
    assert one_error_line(wrong).startswith("error BK007 ")

    cancelled = ok_json(
        cli("cancel", place.venue, "--reference", booked["reference"],
            "--token", booked["cancel_token"], "--reason", "ill", "--json")
    )  # fmt: skip
    assert (cancelled["id"], cancelled["status"]) == (booked["id"], "cancelled")
    assert cancelled["cancel_reason"] == "ill"
    # The customer clicks the link again: success, the same booking unchanged.
    again = ok_json(
        cli("cancel", place.venue, "--reference", booked["reference"],
            "--token", booked["cancel_token"], "--json")
    )  # fmt: skip
    assert again == cancelled


def test_cancel_takes_an_id_or_a_reference_with_a_token(cli: Invoke, place: Place) -> None:
    booked = book_table(cli, place, 0)
    for args in (
        (),
        ("--token", booked["cancel_token"]),
        ("--reference", booked["reference"]),
        (booked["id"], "--reference", booked["reference"], "--token", booked["cancel_token"]),
        ("--reference", booked["reference"], "--token", "x", "--expected-version", 1),
    ):
        result = cli("cancel", place.venue, *args)
        assert result.exit_code == 2, (args, result.output)
        assert one_error_line(result).startswith("error: ")
    # By id, as before.
    cancelled = ok_json(cli("cancel", place.venue, booked["id"], "--expected-version", 1, "--json"))
    assert cancelled["status"] == "cancelled"


def test_find_shows_the_booking_with_a_reference(cli: Invoke, place: Place) -> None:
    booked = book_table(cli, place, 0, "--name", "Ada")
    found = ok_json(cli("find", place.venue, f" {booked['reference'].lower()} ", "--json"))
    assert found["id"] == booked["id"] and found["cancel_token"] is None
    text = cli("find", place.venue, booked["reference"])
    assert text.exit_code == 0, text.output
    assert booked["reference"] in text.stdout and "name: Ada" in text.stdout
    missing = cli("find", place.venue, "BK-NONE-NONE")
    assert missing.exit_code == 3 and one_error_line(missing).startswith("error BK007 ")


def test_customer_lists_bookings_by_email_in_start_order(cli: Invoke, place: Place) -> None:
    late = book_table(cli, place, 5, "--email", "ada@example.COM")
    early = book_table(cli, place, 1, "--email", "Ada@Example.com")
    book_table(cli, place, 3, "--email", "bob@example.com")
    listed = ok_json(cli("customer", place.venue, "ADA@example.com", "--json"))
    assert [b["id"] for b in listed] == [early["id"], late["id"]]
    later = ok_json(cli("customer", place.venue, "ada@example.com", "--from", at(2), "--json"))
    assert [b["id"] for b in later] == [late["id"]]
    everything = ok_json(cli("customer", place.venue, "ada@example.com", "--all", "--json"))
    assert [b["id"] for b in everything] == [early["id"], late["id"]]
    text = cli("customer", place.venue, "ada@example.com")
    assert text.exit_code == 0, text.output
    assert early["reference"] in text.stdout and late["reference"] in text.stdout
    nobody = cli("customer", place.venue, "nobody@example.com")
    assert nobody.exit_code == 0 and "no bookings for nobody@example.com" in nobody.stdout
    both = cli("customer", place.venue, "ada@example.com", "--all", "--from", at(2))
    assert both.exit_code == 2 and "not both" in one_error_line(both)
    blank = cli("customer", place.venue, " ")
    assert blank.exit_code == 3 and one_error_line(blank).startswith("error BK008 ")


def test_resource_sellable_keeps_back_overbooks_and_refuses_below_bookings(
    cli: Invoke, place: Place
) -> None:
    hall = ok_json(cli("resource", "add", place.venue, "Hall", "--capacity", 10, "--json"))
    hall_id = hall["resource_id"]
    kept = cli("resource", "sellable", place.venue, hall_id, 6)
    assert kept.exit_code == 0 and "sells 6 at once" in kept.stdout
    ok_json(cli("book", place.venue, "-r", hall_id, "--start", at(0), "--duration", "1h",
                "--quantity", 6, "--json"))  # fmt: skip
    full = cli("book", place.venue, "-r", hall_id, "--start", at(0), "--duration", "1h")
    assert full.exit_code == 3 and one_error_line(full).startswith("error BK002 ")

    too_low = cli("resource", "sellable", place.venue, hall_id, 5)
    assert too_low.exit_code == 3 and one_error_line(too_low).startswith("error BK022 ")
    over = ok_json(cli("resource", "sellable", place.venue, hall_id, 12, "--json"))
    assert over == {"venue_id": place.venue, "resource_id": hall_id, "sellable_capacity": 12}
    listed = ok_json(cli("resource", "list", place.venue, "--json"))
    assert {r["resource_id"]: r["sellable_capacity"] for r in listed}[hall_id] == 12
    table = cli("resource", "list", place.venue)
    assert table.exit_code == 0 and "sellable" in table.stdout

    reset = cli("resource", "sellable", place.venue, hall_id, "none")
    assert reset.exit_code == 0 and "sells its capacity" in reset.stdout
    bad = cli("resource", "sellable", place.venue, hall_id, "many")
    assert bad.exit_code == 2 and "'many'" in one_error_line(bad)
    exclusive = cli("resource", "sellable", place.venue, place.table, 2)
    assert exclusive.exit_code == 3 and one_error_line(exclusive).startswith("error BK010 ")


def test_holder_counts_against_the_venues_hold_limit(cli: Invoke, place: Place) -> None:
    limit = cli("rules", "set", place.venue, "max_active_holds_per_customer=1")
    assert limit.exit_code == 0, limit.output
    first = ok_json(cli("hold", place.venue, "-r", place.table, "--start", at(0),
                        "--duration", "1h", "--holder", "cookie-1", "--json"))  # fmt: skip
    assert first["status"] == "held"
    second = cli("hold", place.venue, "-r", place.other, "--start", at(0), "--duration", "1h",
                 "--holder", "cookie-1")  # fmt: skip
    assert second.exit_code == 3 and one_error_line(second).startswith("error BK021 ")
    other = ok_json(cli("hold", place.venue, "-r", place.other, "--start", at(0),
                        "--duration", "1h", "--holder", "cookie-2", "--json"))  # fmt: skip
    assert other["status"] == "held"


def test_event_hold_takes_a_holder(cli: Invoke, place: Place) -> None:
    event = ok_json(cli("event", "create", place.venue, "Gig", "--starts", at(20),
                        "--ends", at(23), "--json"))["event_id"]  # fmt: skip
    floor = ok_json(cli("resource", "add", place.venue, "Floor", "--capacity", 20,
                        "--seats-max", 20, "--kind", "ga", "--json"))["resource_id"]  # fmt: skip
    sale = cli("event", "inventory", place.venue, event, "--resources", floor,
               "--category", "Floor", "--price-cents", 2500)  # fmt: skip
    assert sale.exit_code == 0, sale.output
    assert cli("rules", "set", place.venue, "max_active_holds_per_customer=1").exit_code == 0
    held = ok_json(cli("event", "hold", place.venue, event, "--quantity", 2,
                       "--holder", "session-9", "--json"))  # fmt: skip
    assert held["quantity"] == 2
    again = cli("event", "hold", place.venue, event, "--quantity", 2, "--holder", "session-9")
    assert again.exit_code == 3 and one_error_line(again).startswith("error BK021 ")
