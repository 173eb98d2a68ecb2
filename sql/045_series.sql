-- Recurring series: weekly classes and standing reservations, booked all or
-- nothing, each occurrence at the same local wall-clock time as the first.

CREATE FUNCTION bookingdb.create_series(
    venue_id bigint, resource_ids bigint[], first_starts_at timestamptz, duration interval,
    every interval, occurrences int, party_size int DEFAULT 1, customer jsonb DEFAULT NULL,
    idempotency_key text DEFAULT NULL)
RETURNS SETOF bookingdb.booking
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_variable
DECLARE
    v          bookingdb.venues := bookingdb._require_venue(venue_id);
    v_duration interval := bookingdb._elapsed(duration);
    v_series   bookingdb.series;
    v_starts   timestamptz;
    v_state    text;
    v_message  text;
    v_detail   text;
    v_hint     text;
BEGIN
    -- Outside the supported instants before any arithmetic on it: near the
    -- end of timestamptz, adding the duration overflows.
    IF NOT coalesce(bookingdb._supported_instant(first_starts_at), false) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK011', MESSAGE = 'invalid time range',
            DETAIL = format('first_starts_at: %s', coalesce(first_starts_at::text, 'NULL')),
            HINT = 'first_starts_at must be finite and from 1900 to 9999-12-30.';
    END IF;
    IF v_duration IS NULL OR v_duration > interval '31 days' OR every IS NULL OR every <= interval '0'
       OR every > interval '366 days'
       OR occurrences IS NULL OR occurrences NOT BETWEEN 1 AND 366 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008',
            MESSAGE = 'a series needs a positive duration (at most 31 days), a positive every (at most 366 days) and 1 to 366 occurrences',
            DETAIL = format('duration: %s, every: %s, occurrences: %s', coalesce(duration::text, 'NULL'),
                            coalesce(every::text, 'NULL'), coalesce(occurrences::text, 'NULL'));
    END IF;
    PERFORM bookingdb._check_range(first_starts_at, first_starts_at + v_duration);
    -- Each occurrence's key is the series key plus ':n' (at most 200 characters).
    IF length(idempotency_key) NOT BETWEEN 1 AND 190 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'idempotency_key must be 1 to 190 characters',
            DETAIL = format('idempotency_key length: %s', length(idempotency_key));
    END IF;

    IF idempotency_key IS NOT NULL THEN
        INSERT INTO bookingdb.series (venue_id, first_starts_at, duration, every, occurrences, idempotency_key)
        VALUES (v.venue_id, first_starts_at, v_duration, every, occurrences, idempotency_key)
        ON CONFLICT DO NOTHING
        RETURNING * INTO v_series;
        IF NOT FOUND THEN
            -- A replay: the same series again returns its bookings (each
            -- occurrence replays by its own key); anything else is BK005.
            SELECT * INTO v_series FROM bookingdb.series s
             WHERE s.venue_id = v.venue_id AND s.idempotency_key = create_series.idempotency_key;
            IF (v_series.first_starts_at, v_series.duration, v_series.every, v_series.occurrences)
               IS DISTINCT FROM (first_starts_at, v_duration, every, occurrences) THEN
                RAISE EXCEPTION USING ERRCODE = 'BK005', MESSAGE = 'idempotency key reused for a different request',
                    DETAIL = format('idempotency_key: %s already names series %s', idempotency_key,
                                    v_series.series_id),
                    HINT = 'Use a new key for a new request.';
            END IF;
        END IF;
    ELSE
        INSERT INTO bookingdb.series (venue_id, first_starts_at, duration, every, occurrences)
        VALUES (v.venue_id, first_starts_at, v_duration, every, occurrences)
        RETURNING * INTO v_series;
    END IF;

    FOR i IN 0 .. occurrences - 1 LOOP
        -- The same local wall-clock time, every `every` on the venue's
        -- calendar: 18:00 stays 18:00 across a DST change.
        v_starts := ((first_starts_at AT TIME ZONE v.timezone) + i * every) AT TIME ZONE v.timezone;
        BEGIN
            RETURN NEXT bookingdb._book(
                p_venue_id => v.venue_id, p_resource_ids => resource_ids, p_starts_at => v_starts,
                p_ends_at => v_starts + v_duration, p_party_size => party_size, p_quantity => 1,
                p_idempotency_key => idempotency_key || ':' || i, p_status => 'confirmed',
                p_customer => customer, p_payment_ref => NULL, p_ttl => NULL,
                p_series_id => v_series.series_id);
        EXCEPTION WHEN OTHERS THEN
            -- Re-raised with the occurrence named; the whole series rolls back.
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                                    v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
            IF v_state NOT LIKE 'BK%' THEN
                RAISE;
            END IF;
            RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_message,
                DETAIL = format('occurrence %s of %s (starts_at %s): %s', i + 1, occurrences, v_starts,
                                coalesce(v_detail, '')),
                HINT = coalesce(v_hint, 'The series is booked all or nothing; nothing was booked.');
        END;
    END LOOP;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.create_series(bigint, bigint[], timestamptz, interval, interval, int, int, jsonb, text) IS
    'Books occurrences (1-366) of duration on the resources, the first at first_starts_at and then every '
    '`every` on the venue''s local calendar (same local wall-clock time across DST), all or nothing; returns the '
    'confirmed bookings (series_id set) in order. Each occurrence passes the same rules as create_booking_atomic. '
    'Same idempotency_key + same request returns the same bookings. Refusals: as create_booking_atomic, with '
    'DETAIL naming the occurrence; BK008 bad duration, every or occurrences; BK011 missing first_starts_at.';

CREATE FUNCTION bookingdb.cancel_series(
    venue_id bigint, series_id bigint, from_starts_at timestamptz DEFAULT NULL, reason text DEFAULT NULL)
RETURNS SETOF bookingdb.booking
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_variable
DECLARE
    v_booking bigint;
BEGIN
    PERFORM bookingdb._require_venue(venue_id);
    PERFORM 1 FROM bookingdb.series s WHERE s.venue_id = cancel_series.venue_id AND s.series_id = cancel_series.series_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'series not found',
            DETAIL = format('venue_id: %s, series_id: %s', venue_id, coalesce(series_id::text, 'NULL'));
    END IF;
    -- In id order, like every other path that locks several bookings.
    FOR v_booking IN
        SELECT b.booking_id FROM bookingdb.bookings b
         WHERE b.venue_id = cancel_series.venue_id AND b.series_id = cancel_series.series_id
           AND b.starts_at >= coalesce(from_starts_at, now())
           AND b.status IN ('confirmed', 'pending')
         ORDER BY b.booking_id
           FOR UPDATE
    LOOP
        RETURN NEXT bookingdb._change_status(venue_id, v_booking, NULL, ARRAY['confirmed', 'pending'],
                                             'cancelled', reason);
    END LOOP;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.cancel_series(bigint, bigint, timestamptz, text) IS
    'Cancels the rest of a series: its confirmed or pending occurrences starting at or after from_starts_at '
    '(default now), freeing their slots; returns them. One occurrence is cancelled with cancel_booking. '
    'Refusals: BK007 unknown venue or series.';
