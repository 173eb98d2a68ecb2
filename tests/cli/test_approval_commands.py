"""Bookings that wait for the venue: ``book --pending``, then ``approve`` or
``reject``, with the same optimistic version check as ``cancel``."""

from __future__ import annotations

from typing import Any

from .conftest import Invoke
from .kit import at, ok_json, one_error_line


def pending(cli: Invoke) -> tuple[int, dict[str, Any]]:
    """A venue and a pending booking on its one table."""
    venue = ok_json(cli("venue", "create", "Chef's Table", "--json"))["venue_id"]
    table = ok_json(cli("resource", "add", venue, "Counter", "--seats-max", 8, "--json"))
    booking: dict[str, Any] = ok_json(
        cli(
            "book",
            venue,
            "-r",
            table["resource_id"],
            "--start",
            at(0),
            "--duration",
            "2h",
            "--party",
            6,
            "--name",
            "Ada",
            "--pending",
            "--json",
        )
    )
    return venue, booking


def test_a_pending_booking_holds_its_slot(cli: Invoke) -> None:
    venue, booking = pending(cli)
    assert (booking["status"], booking["version"]) == ("pending", 1)
    taken = cli(
        "check", venue, "-r", booking["resource_ids"][0], "--start", at(1), "--duration", "30m"
    )
    assert taken.exit_code == 1


def test_approve_confirms_a_pending_booking(cli: Invoke) -> None:
    venue, booking = pending(cli)
    approved = ok_json(cli("approve", venue, booking["id"], "--expected-version", 1, "--json"))
    assert (approved["status"], approved["version"]) == ("confirmed", 2)

    # Only a pending booking can be approved or rejected.
    again = cli("approve", venue, booking["id"])
    assert again.exit_code == 3
    assert one_error_line(again).startswith("error BK006 ")
    late = cli("reject", venue, booking["id"], "--reason", "too late")
    assert late.exit_code == 3
    assert one_error_line(late).startswith("error BK006 ")


def test_reject_frees_the_slot_and_keeps_the_reason(cli: Invoke) -> None:
    venue, booking = pending(cli)
    text = cli("reject", venue, booking["id"], "--reason", "private event")
    assert text.exit_code == 0, text.output
    assert "rejected" in text.stdout and "private event" in text.stdout

    rejected = ok_json(cli("bookings", venue, "--from", at(-1), "--to", at(3), "--json"))
    assert rejected == []
    table = booking["resource_ids"][0]
    free = cli("check", venue, "-r", table, "--start", at(1), "--duration", "30m")
    assert free.exit_code == 0, free.output


def test_a_stale_version_is_bk004_and_changes_nothing(cli: Invoke) -> None:
    venue, booking = pending(cli)
    for command in ("approve", "reject"):
        stale = cli(command, venue, booking["id"], "--expected-version", 2)
        assert stale.exit_code == 3
        assert one_error_line(stale).startswith("error BK004 version conflict: ")
    listed = ok_json(cli("bookings", venue, "--from", at(-1), "--to", at(3), "--json"))
    assert [(row["status"], row["version"]) for row in listed] == [("pending", 1)]


def test_approving_an_unknown_booking_is_bk007(cli: Invoke) -> None:
    venue, _ = pending(cli)
    for command in ("approve", "reject"):
        result = cli(command, venue, 999_999)
        assert result.exit_code == 3
        assert one_error_line(result).startswith("error BK007 ")
