from bookingdb import BookingDB


def test_migrated_database_has_no_violations(db: BookingDB) -> None:
    assert db.verify_invariants() == []
