-- The booking lock, for callers composing their own flows (a payment check
-- between availability and booking, in one transaction).
--
-- Transaction-scoped only: released at commit or rollback. There is no
-- session-level acquire/release pair on purpose: behind PgBouncer in
-- transaction pooling the "session" is whichever server connection the
-- next transaction lands on, so a session lock is taken on one connection
-- and "released" on another; and a client that crashes between acquire and
-- release leaves the lock held for as long as its server connection lives.

CREATE FUNCTION bookingdb._booking_lock_target(
    p_venue_id bigint, p_resource_id bigint, p_starts_at timestamptz, p_ends_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    PERFORM bookingdb._require_resource(p_venue_id, p_resource_id);
    PERFORM bookingdb._check_range(p_starts_at, p_ends_at);
    RETURN bookingdb._lock_key(p_resource_id);
END
$$;

CREATE FUNCTION bookingdb.acquire_booking_lock(
    venue_id bigint, resource_id bigint, starts_at timestamptz, ends_at timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(bookingdb._booking_lock_target(venue_id, resource_id, starts_at, ends_at));
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.acquire_booking_lock(bigint, bigint, timestamptz, timestamptz) IS
    'Takes, until the end of the calling transaction, the lock every booking of this resource takes, so no '
    'booking, hold, move or capacity change on it runs until this transaction commits or rolls back (its own '
    'bookings do). It locks the whole resource; starts_at/ends_at are checked and say what the caller means to '
    'book. Waits at most the functions'' lock bound (bookingdb.lock_timeout, 5 s by default). '
    'Transaction-scoped only (no session-level pair: it breaks under PgBouncer '
    'transaction pooling and leaks on crashed clients); in autocommit mode it is released at once. '
    'Refusals: BK007 unknown venue/resource, BK011 bad range, BK020 busy.';

CREATE FUNCTION bookingdb.try_booking_lock(
    venue_id bigint, resource_id bigint, starts_at timestamptz, ends_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    RETURN pg_try_advisory_xact_lock(bookingdb._booking_lock_target(venue_id, resource_id, starts_at, ends_at));
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.try_booking_lock(bigint, bigint, timestamptz, timestamptz) IS
    'Like acquire_booking_lock, without waiting: true when the lock is now held until the end of the '
    'transaction, false when a booking or another caller holds it. Refusals: BK007, BK011.';
