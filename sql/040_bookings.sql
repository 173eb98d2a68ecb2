-- Confirmed bookings: atomic booking, cancellation, rescheduling, reading.

CREATE FUNCTION bookingdb.create_booking_atomic(
    venue_id bigint, resource_ids bigint[], starts_at timestamptz, ends_at timestamptz,
    party_size int DEFAULT 1, customer jsonb DEFAULT NULL, quantity int DEFAULT 1,
    idempotency_key text DEFAULT NULL, status text DEFAULT 'confirmed')
RETURNS bookingdb.booking
LANGUAGE sql
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
    SELECT bookingdb._book(
        p_venue_id => venue_id, p_resource_ids => resource_ids, p_starts_at => starts_at,
        p_ends_at => ends_at, p_party_size => party_size, p_quantity => quantity,
        p_idempotency_key => idempotency_key, p_status => CASE WHEN status = 'held' THEN 'invalid' ELSE status END,
        p_customer => customer,
        p_payment_ref => NULL, p_ttl => NULL)
$$;

COMMENT ON FUNCTION bookingdb.create_booking_atomic(bigint, bigint[], timestamptz, timestamptz, int, jsonb, int, text, text) IS
    'Books resources for [starts_at, ends_at) in one step; all resources or none. status ''confirmed'' (default) '
    'or ''pending'' (a request the venue approves or rejects later; it occupies the slot meanwhile). '
    'Same idempotency_key + same request returns the original booking. Refusals: BK001 taken, BK002 full, '
    'BK005 key reused, BK007 unknown venue/resource, BK008 bad argument or status, BK009 too little notice, '
    'BK011 bad range, BK012 in the past, BK013 beyond max advance, BK014 party size outside the venue''s limits, '
    'BK015 outside opening hours, BK016 under min_age, BK017 quantity, BK018 resources do not fit the party.';

-- A status change every booking may make in its life (cancel, approve,
-- reject): lock it, check the version and that its status allows the change,
-- write. The triggers free or keep its slot and audit it.
CREATE FUNCTION bookingdb._change_status(
    p_venue_id bigint, p_booking_id bigint, p_expected_version int, p_from text[], p_to text,
    p_reason text)
RETURNS bookingdb.booking
LANGUAGE plpgsql
AS $$
DECLARE
    v_row bookingdb.bookings;
BEGIN
    v_row := bookingdb._lock_booking(p_venue_id, p_booking_id, p_expected_version);
    IF v_row.status <> ALL (p_from) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK006', MESSAGE = 'invalid status transition',
            DETAIL = format('booking %s (%s) is %s; only %s bookings can become %s', v_row.booking_id,
                            v_row.reference, (bookingdb._as_booking(v_row)).status,
                            array_to_string(p_from, ' or '), p_to),
            HINT = CASE WHEN v_row.status = 'held'
                        THEN 'A hold is confirmed with confirm_hold or given back with release_hold.'
                        WHEN v_row.status NOT IN ('pending', 'confirmed')
                        THEN 'The booking no longer occupies a slot.'
                        ELSE 'pending -> confirmed (approve_booking) or rejected (reject_booking); '
                             'confirmed or pending -> cancelled (cancel_booking).' END;
    END IF;
    UPDATE bookingdb.bookings b
       SET status = p_to, cancel_reason = coalesce(p_reason, b.cancel_reason)
     WHERE b.venue_id = v_row.venue_id AND b.booking_id = v_row.booking_id
    RETURNING * INTO v_row;
    RETURN bookingdb._as_booking(v_row);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

CREATE FUNCTION bookingdb.cancel_booking(
    venue_id bigint, booking_id bigint, expected_version int DEFAULT NULL, reason text DEFAULT NULL)
RETURNS bookingdb.booking
LANGUAGE sql
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
    SELECT bookingdb._change_status(venue_id, booking_id, expected_version,
                                    ARRAY['confirmed', 'pending'], 'cancelled', reason)
$$;

COMMENT ON FUNCTION bookingdb.cancel_booking(bigint, bigint, int, text) IS
    'Cancels a confirmed or pending booking, freeing its slot at once. With expected_version, refuses if the '
    'booking changed since it was read. Refusals: BK004 version conflict (DETAIL has the current version), '
    'BK006 not confirmed/pending, BK007 not found.';

CREATE FUNCTION bookingdb.approve_booking(venue_id bigint, booking_id bigint, expected_version int DEFAULT NULL)
RETURNS bookingdb.booking
LANGUAGE sql
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
    SELECT bookingdb._change_status(venue_id, booking_id, expected_version, ARRAY['pending'], 'confirmed', NULL)
$$;

COMMENT ON FUNCTION bookingdb.approve_booking(bigint, bigint, int) IS
    'Approves a pending request: it becomes confirmed and keeps its slot. Refusals: BK004 version conflict, '
    'BK006 not pending, BK007 not found.';

CREATE FUNCTION bookingdb.reject_booking(
    venue_id bigint, booking_id bigint, expected_version int DEFAULT NULL, reason text DEFAULT NULL)
RETURNS bookingdb.booking
LANGUAGE sql
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
    SELECT bookingdb._change_status(venue_id, booking_id, expected_version, ARRAY['pending'], 'rejected', reason)
$$;

COMMENT ON FUNCTION bookingdb.reject_booking(bigint, bigint, int, text) IS
    'Rejects a pending request (status rejected, reason recorded), freeing its slot at once. Refusals: '
    'BK004 version conflict, BK006 not pending, BK007 not found.';

CREATE FUNCTION bookingdb.reschedule_booking(
    venue_id bigint, booking_id bigint, expected_version int,
    starts_at timestamptz, ends_at timestamptz, resource_ids bigint[] DEFAULT NULL)
RETURNS bookingdb.booking
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_row      bookingdb.bookings;
    v_req      record;
    v_old_ids  bigint[];
    v_resource bigint;
    v_venue    bookingdb.venues;
BEGIN
    v_row := bookingdb._lock_booking(venue_id, booking_id, expected_version);
    -- Holds do not move (release and hold again): a booking function that
    -- finds a hold lapsed by its clock locks the hold's row while holding its
    -- own resource locks, so a hold being moved here could deadlock with it.
    IF v_row.status NOT IN ('confirmed', 'pending') THEN
        RAISE EXCEPTION USING ERRCODE = 'BK006', MESSAGE = 'invalid status transition',
            DETAIL = format('booking %s (%s) is %s; only pending and confirmed bookings move',
                            v_row.booking_id, v_row.reference, (bookingdb._as_booking(v_row)).status),
            HINT = CASE WHEN v_row.status = 'held' THEN 'Create a new hold and release this one.'
                        ELSE 'The booking no longer occupies a slot.' END;
    END IF;
    v_req := bookingdb._prepare(v_row.venue_id, coalesce(resource_ids, v_row.resource_ids),
                                starts_at, ends_at, v_row.party_size, v_row.quantity);
    v_venue := v_req.venue;
    PERFORM bookingdb._check_customer(v_venue, v_row.customer, starts_at);

    -- Same lock order as _book: resource locks, lapsed holds, allocations.
    PERFORM bookingdb._lock_resources(v_req.resource_ids);
    IF v_req.shared_ids IS NOT NULL THEN
        PERFORM bookingdb._check_shared(v_row.venue_id, v_req.shared_ids, starts_at, ends_at,
                                        v_row.quantity, v_row.booking_id);
    END IF;
    PERFORM bookingdb._expire_in_way(v_row.venue_id, v_req.resource_ids, starts_at, ends_at, true);
    v_old_ids := v_row.resource_ids;
    UPDATE bookingdb.bookings b
       SET starts_at = reschedule_booking.starts_at, ends_at = reschedule_booking.ends_at,
           resource_ids = v_req.resource_ids,
           -- Pricing at booking time stays unless the booking changes resources.
           total_deposit_cents = CASE WHEN v_req.resource_ids = b.resource_ids THEN b.total_deposit_cents
                                      ELSE v_req.total_deposit_cents END
     WHERE b.venue_id = v_row.venue_id AND b.booking_id = v_row.booking_id
    RETURNING * INTO v_row;

    -- Resource by resource in id order: give up the old claim on a resource
    -- just before claiming it anew, so a booking can move within its own
    -- time (an hour later on the same table). Deleting every old claim up
    -- front would let another booking wait on a deleted row of ours while we
    -- wait on its new one (a 40P01 seen in a storm). If a new slot is
    -- refused, the exception rolls all of this back: the old slot stays
    -- booked.
    FOR v_resource IN
        SELECT DISTINCT x FROM unnest(v_old_ids || v_req.resource_ids) AS x ORDER BY x
    LOOP
        DELETE FROM bookingdb.allocations a
         WHERE a.venue_id = v_row.venue_id AND a.booking_id = v_row.booking_id
           AND a.resource_id = v_resource;
        IF v_resource = ANY (v_req.resource_ids) THEN
            PERFORM bookingdb._place(v_row.venue_id, v_row.booking_id, ARRAY[v_resource],
                                     v_row.starts_at, v_row.ends_at, v_row.quantity,
                                     v_row.expires_at, p_may_wait => false);
        END IF;
    END LOOP;
    RETURN bookingdb._as_booking(v_row);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.reschedule_booking(bigint, bigint, int, timestamptz, timestamptz, bigint[]) IS
    'Moves a pending or confirmed booking to a new time (and optionally other resources), '
    'atomically: if the new slot is refused the old one stays booked. expected_version guards against '
    'lost updates (NULL skips the check). Holds do not move: release and hold again (BK006). '
    'The venue''s rules apply to the new time as to a new booking; total_deposit_cents follows the new '
    'resources. Refusals: BK001, BK002, BK004, BK006, BK007, BK008, BK009, BK011, BK012, BK013, BK014, BK015, '
    'BK016, BK017, BK018 as for create_booking_atomic.';

CREATE FUNCTION bookingdb.get_booking(venue_id bigint, booking_id bigint)
RETURNS bookingdb.booking
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_row bookingdb.bookings;
BEGIN
    SELECT * INTO v_row FROM bookingdb.bookings b
     WHERE b.venue_id = get_booking.venue_id AND b.booking_id = get_booking.booking_id
       AND bookingdb._reachable(get_booking.venue_id);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'booking not found',
            DETAIL = format('venue_id: %s, booking_id: %s', coalesce(venue_id::text, 'NULL'),
                            coalesce(booking_id::text, 'NULL'));
    END IF;
    RETURN bookingdb._as_booking(v_row);
END
$$;

COMMENT ON FUNCTION bookingdb.get_booking(bigint, bigint) IS
    'Returns one booking of the venue (status is effective: a lapsed hold reads expired). Refusals: BK007.';

CREATE FUNCTION bookingdb.list_bookings(venue_id bigint, starts_at timestamptz, ends_at timestamptz)
RETURNS SETOF bookingdb.booking_slot
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_indexscan = off
AS $$
DECLARE
    v_window tstzrange;
BEGIN
    PERFORM bookingdb._require_venue(list_bookings.venue_id);
    IF list_bookings.starts_at IS NULL OR list_bookings.ends_at IS NULL
       OR list_bookings.ends_at <= list_bookings.starts_at THEN
        RAISE EXCEPTION USING ERRCODE = 'BK011', MESSAGE = 'invalid time range',
            DETAIL = format('starts_at: %s, ends_at: %s', coalesce(list_bookings.starts_at::text, 'NULL'),
                            coalesce(list_bookings.ends_at::text, 'NULL'));
    END IF;
    v_window := tstzrange(list_bookings.starts_at, list_bookings.ends_at);
    -- Through the two active-allocation indexes (exclusive and shared; a
    -- plain "active" matches neither partial index): what occupies the
    -- window now.
    RETURN QUERY
        SELECT b.booking_id, b.reference, b.status, a.resource_id, b.starts_at, b.ends_at,
               a.quantity, b.expires_at, b.version
          FROM (SELECT x.booking_id, x.resource_id, x.quantity
                  FROM bookingdb.allocations x
                 WHERE x.venue_id = list_bookings.venue_id AND x.active AND x.exclusive
                   AND x.blocked && v_window AND (x.expires_at IS NULL OR x.expires_at > now())
                UNION ALL
                SELECT x.booking_id, x.resource_id, x.quantity
                  FROM bookingdb.allocations x
                 WHERE x.venue_id = list_bookings.venue_id AND x.active AND NOT x.exclusive
                   AND x.blocked && v_window AND (x.expires_at IS NULL OR x.expires_at > now())) AS a
          JOIN bookingdb.bookings b ON b.venue_id = list_bookings.venue_id AND b.booking_id = a.booking_id
         WHERE tstzrange(b.starts_at, b.ends_at) && v_window
         ORDER BY b.starts_at, a.resource_id, b.booking_id;
END
$$;

COMMENT ON FUNCTION bookingdb.list_bookings(bigint, timestamptz, timestamptz) IS
    'The bookings that occupy any part of [starts_at, ends_at) in the venue (live holds, pending, confirmed), '
    'one row per resource, ordered by start. Refusals: BK007 unknown venue, BK011 bad range.';
