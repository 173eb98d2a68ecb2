-- Holds: a short claim on a slot while the customer checks out. A hold
-- expires by itself: nothing needs to run for an expired hold to stop
-- blocking (see _place); expire_holds only keeps the tables tidy.

CREATE FUNCTION bookingdb.create_hold(
    venue_id bigint, resource_ids bigint[], starts_at timestamptz, ends_at timestamptz,
    party_size int DEFAULT 1, quantity int DEFAULT 1, idempotency_key text DEFAULT NULL,
    ttl interval DEFAULT NULL, holder text DEFAULT NULL)
RETURNS bookingdb.booking
LANGUAGE sql
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
    SELECT bookingdb._book(
        p_venue_id => venue_id, p_resource_ids => resource_ids, p_starts_at => starts_at,
        p_ends_at => ends_at, p_party_size => party_size, p_quantity => quantity,
        p_idempotency_key => idempotency_key, p_status => 'held', p_customer => NULL,
        p_payment_ref => NULL, p_ttl => ttl, p_holder => holder)
$$;

COMMENT ON FUNCTION bookingdb.create_hold(bigint, bigint[], timestamptz, timestamptz, int, int, text, interval, text) IS
    'Holds resources for [starts_at, ends_at) until now() + ttl (default: the venue''s hold_ttl; at most '
    '30 days); returns the '
    'booking (status held, expires_at set). All resources or none. holder: an opaque key for the customer, '
    'counted against the venue''s max_active_holds_per_customer. Same idempotency_key + same request returns '
    'the original booking. Refusals: BK001 taken, BK002 full, BK005 key reused, BK007 unknown venue/resource, '
    'BK008 bad argument, BK009 too little notice, BK011 bad range, BK012 in the past, BK013 beyond max advance, '
    'BK014 party size outside the venue''s limits, BK015 outside opening hours, BK017 quantity, '
    'BK018 resources do not fit the party, BK020 busy (retry), BK021 too many live holds for this holder.';

CREATE FUNCTION bookingdb.confirm_hold(
    venue_id bigint, booking_id bigint, customer jsonb DEFAULT NULL, payment_ref text DEFAULT NULL)
RETURNS bookingdb.booking
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_row    bookingdb.bookings;
    v_token  text;
    v_result bookingdb.booking;
BEGIN
    v_row := bookingdb._lock_booking(venue_id, booking_id, NULL);
    -- Confirming twice (a retried click) returns the booking unchanged
    -- (without the cancellation token: it is handed out once).
    IF v_row.status = 'confirmed'
       AND (customer IS NULL OR customer = v_row.customer)
       AND (payment_ref IS NULL OR payment_ref = v_row.payment_ref) THEN
        RETURN bookingdb._as_booking(v_row);
    END IF;
    PERFORM bookingdb._require_live_hold(v_row, 'confirm');
    IF customer IS NOT NULL THEN
        PERFORM bookingdb._check_customer(bookingdb._require_venue(v_row.venue_id), customer, v_row.starts_at);
    END IF;
    v_token := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
    UPDATE bookingdb.bookings b
       SET status = 'confirmed', expires_at = NULL,
           customer = coalesce(confirm_hold.customer, b.customer),
           payment_ref = coalesce(confirm_hold.payment_ref, b.payment_ref),
           cancel_token_hash = sha256(convert_to(v_token, 'UTF8'))
     WHERE b.venue_id = v_row.venue_id AND b.booking_id = v_row.booking_id
    RETURNING * INTO v_row;
    v_result := bookingdb._as_booking(v_row);
    v_result.cancel_token := v_token;
    RETURN v_result;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.confirm_hold(bigint, bigint, jsonb, text) IS
    'Turns a live hold into a confirmed booking, recording customer (JSON object: name, email, phone, '
    'date_of_birth, notes) and payment_ref; the result carries the customer''s cancel_token (for '
    'cancel_by_token), handed out this once. Confirming an already confirmed booking with the same (or no) '
    'details returns it unchanged. Refusals: BK003 hold expired or released, BK006 not a hold, BK007 not found, '
    'BK008 customer not an object or date_of_birth not an ISO date, BK016 customer under the venue''s min_age.';

CREATE FUNCTION bookingdb.extend_hold(venue_id bigint, booking_id bigint, extra interval)
RETURNS bookingdb.booking
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_row bookingdb.bookings;
BEGIN
    v_row := bookingdb._lock_booking(venue_id, booking_id, NULL);
    PERFORM bookingdb._require_live_hold(v_row, 'extend');
    -- Same bound as create_hold's ttl: a hold ends at most 30 days from now.
    IF extra IS NULL OR extra <= interval '0' OR extra > interval '30 days'
       OR v_row.expires_at + extra > now() + interval '30 days' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008',
            MESSAGE = 'extra must be positive and the hold must end within 30 days',
            DETAIL = format('extra: %s, expires_at: %s', coalesce(extra::text, 'NULL'), v_row.expires_at);
    END IF;
    -- From the locked row, not b.expires_at: Citus cannot send a STABLE
    -- expression over a column (timestamptz + interval) to a shard.
    UPDATE bookingdb.bookings b
       SET expires_at = v_row.expires_at + extra
     WHERE b.venue_id = v_row.venue_id AND b.booking_id = v_row.booking_id
    RETURNING * INTO v_row;
    RETURN bookingdb._as_booking(v_row);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.extend_hold(bigint, bigint, interval) IS
    'Pushes a live hold''s expires_at later by extra (a hold ends at most 30 days from now). Refusals: '
    'BK003 expired or released, BK006 not a hold, BK007 not found, BK008 extra not positive or too long.';

CREATE FUNCTION bookingdb.release_hold(venue_id bigint, booking_id bigint)
RETURNS bookingdb.booking
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_row bookingdb.bookings;
BEGIN
    v_row := bookingdb._lock_booking(venue_id, booking_id, NULL);
    PERFORM bookingdb._require_live_hold(v_row, 'release');
    UPDATE bookingdb.bookings b
       SET status = 'released'
     WHERE b.venue_id = v_row.venue_id AND b.booking_id = v_row.booking_id
    RETURNING * INTO v_row;
    RETURN bookingdb._as_booking(v_row);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.release_hold(bigint, bigint) IS
    'Gives a live hold''s slot back at once (status released). Refusals: BK003 already expired or released, '
    'BK006 not a hold (cancel a confirmed booking instead), BK007 not found.';

CREATE FUNCTION bookingdb.expire_holds(max_rows int DEFAULT 1000)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
DECLARE
    v_count int := 0;
    v_rows  int;
    v_venue bigint;
    v_due   bigint[];
BEGIN
    PERFORM bookingdb._require_unbound();
    IF max_rows IS NULL OR max_rows < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'max_rows must be at least 1',
            DETAIL = format('max_rows: %s', coalesce(max_rows::text, 'NULL'));
    END IF;
    -- The capacity these holds free is offered to the waitlist (a booking
    -- that expires a lapsed hold in its way takes the slot instead). SET
    -- LOCAL, not set_config: Citus sends it on to the nodes whose rows this
    -- changes, where the waitlist trigger reads it.
    SET LOCAL bookingdb.offer_on_expiry = 'on';
    -- Venue by venue, the longest-lapsed first: each UPDATE touches one
    -- venue's rows (on Citus, one node's; a locking read across shards is
    -- not possible there). SKIP LOCKED: a hold being confirmed or expired
    -- by someone else right now is theirs to finish; the sweeper never
    -- waits behind a customer.
    FOR v_venue IN
        SELECT h.venue_id
          FROM bookingdb.bookings h
         WHERE h.status = 'held' AND h.expires_at <= now()
         GROUP BY h.venue_id
         ORDER BY min(h.expires_at)
    LOOP
        -- Locked first, then changed: a locking subquery inside the UPDATE
        -- may be scanned again and skip to rows beyond its LIMIT.
        v_due := ARRAY(SELECT h.booking_id
                         FROM bookingdb.bookings h
                        WHERE h.venue_id = v_venue AND h.status = 'held' AND h.expires_at <= now()
                        ORDER BY h.expires_at
                        LIMIT max_rows - v_count
                          FOR UPDATE SKIP LOCKED);
        UPDATE bookingdb.bookings b
           SET status = 'expired'
         WHERE b.venue_id = v_venue AND b.booking_id = ANY (v_due);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_count := v_count + v_rows;
        EXIT WHEN v_count >= max_rows;
    END LOOP;
    SET LOCAL bookingdb.offer_on_expiry = 'off';
    RETURN v_count;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.expire_holds(int) IS
    'Marks up to max_rows holds past expires_at as expired and returns how many; the capacity they free is '
    'offered to the waitlist. Housekeeping otherwise: an expired hold never blocks a booking whether or not '
    'this runs. Refusals: BK008 max_rows < 1.';
