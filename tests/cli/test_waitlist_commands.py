"""``bookingdb waitlist join|leave|list|process``."""

from __future__ import annotations

from .conftest import Invoke, Place
from .kit import at, ok_json, one_error_line


def _book(cli: Invoke, place: Place) -> dict[str, object]:
    booking: dict[str, object] = ok_json(
        cli("book", place.venue, "-r", place.table, "--start", at(0), "--end", at(2), "--json")
    )
    return booking


def test_a_cancellation_offers_the_slot_to_the_waiting_entry(cli: Invoke, place: Place) -> None:
    booking = _book(cli, place)
    entry = ok_json(
        cli("waitlist", "join", place.venue, "--resources", place.table, "--starts", at(0),
            "--ends", at(2), "--party", 2, "--name", "Grace", "--json")
    )  # fmt: skip
    assert (entry["status"], entry["party_size"], entry["customer"]) == (
        "waiting",
        2,
        {"name": "Grace"},
    )
    assert ok_json(cli("waitlist", "process", place.venue, "--json"))["offered"] == 0
    ok_json(cli("cancel", place.venue, booking["id"], "--json"))
    [offered] = ok_json(cli("waitlist", "list", place.venue, "--json"))
    assert (offered["entry_id"], offered["status"]) == (entry["entry_id"], "offered")
    hold = ok_json(cli("confirm", place.venue, offered["booking_id"], "--json"))
    assert (hold["status"], hold["waitlist_entry_id"]) == ("confirmed", entry["entry_id"])
    text = cli("waitlist", "list", place.venue, "--all")
    assert text.exit_code == 0 and "booked" in text.stdout
    assert "nobody is waiting" in cli("waitlist", "list", place.venue).stdout


def test_leave_and_its_refusal(cli: Invoke, place: Place) -> None:
    _book(cli, place)
    joined = cli("waitlist", "join", place.venue, "--resources", f"{place.table},{place.other}",
                 "--start", at(0), "--end", at(2), "--priority", 3)  # fmt: skip
    assert joined.exit_code == 0, joined.output
    # The other table is free: the entry is offered it at once.
    assert "offered" in joined.stdout
    [entry] = ok_json(cli("waitlist", "list", place.venue, "--json"))
    left = cli("waitlist", "leave", place.venue, entry["entry_id"])
    assert left.exit_code == 0 and "left" in left.stdout
    again = cli("waitlist", "leave", place.venue, entry["entry_id"])
    assert again.exit_code == 3 and one_error_line(again).startswith("error BK006 ")
    processed = cli("waitlist", "process", place.venue)
    assert processed.exit_code == 0 and "0 entries offered a hold" in processed.stdout
