-- Customer self-service: find a booking by its reference or e-mail, and
-- cancel it from an e-mail link with the token handed out at confirmation.

-- Constant-time comparison of two SHA-256 digests: every byte is compared
-- whatever the first difference, so timing tells nothing about the token.
CREATE FUNCTION bookingdb._same_digest(a bytea, b bytea)
RETURNS boolean
LANGUAGE sql IMMUTABLE
AS $$
    SELECT length(a) = 32 AND length(b) = 32
           AND (SELECT bit_or(get_byte(a, i) # get_byte(b, i)) FROM generate_series(0, 31) AS i) = 0
$$;

CREATE FUNCTION bookingdb.cancel_by_token(venue_id bigint, reference text, token text, reason text DEFAULT NULL)
RETURNS bookingdb.booking
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_row bookingdb.bookings;
BEGIN
    SELECT * INTO v_row FROM bookingdb.bookings b
     WHERE b.venue_id = cancel_by_token.venue_id AND b.reference = cancel_by_token.reference
       AND bookingdb._reachable(cancel_by_token.venue_id)
       FOR UPDATE;
    -- The same comparison and the same refusal whether the reference
    -- exists or not: a wrong guess learns nothing.
    IF NOT coalesce(bookingdb._same_digest(
               coalesce(v_row.cancel_token_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea),
               sha256(convert_to(coalesce(token, ''), 'UTF8'))), false)
       OR v_row.cancel_token_hash IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'no booking with this reference and token',
            DETAIL = 'Check the link: the reference or the token does not match.';
    END IF;
    -- A second click on the e-mail link: the booking is cancelled already,
    -- which is what the customer asked for. Return it as it is; nothing
    -- changes (no new version, audit or feed row).
    IF v_row.status = 'cancelled' THEN
        RETURN bookingdb._as_booking(v_row);
    END IF;
    RETURN bookingdb._change_status(v_row.venue_id, v_row.booking_id, NULL, ARRAY['confirmed', 'pending'],
                                    'cancelled', reason);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.cancel_by_token(bigint, text, text, text) IS
    'Cancels a confirmed or pending booking for a customer with no account: reference plus the cancel_token '
    'handed out when it was confirmed (create_booking_atomic, confirm_hold). Only a hash of the token is stored '
    'and it is compared in constant time. A booking already cancelled (a second click on the link) is returned '
    'as it is, unchanged. Refusals: BK007 wrong reference or token (one refusal for both: no '
    'hint whether the reference exists), BK006 neither confirmed, pending nor cancelled (e.g. a released hold), '
    'BK020 busy.';

CREATE FUNCTION bookingdb.find_booking(venue_id bigint, reference text)
RETURNS bookingdb.booking
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_variable
DECLARE
    v_row bookingdb.bookings;
BEGIN
    SELECT * INTO v_row FROM bookingdb.bookings b
     WHERE b.venue_id = find_booking.venue_id AND b.reference = upper(btrim(find_booking.reference))
       AND bookingdb._reachable(find_booking.venue_id);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'booking not found',
            DETAIL = format('venue_id: %s, reference: %s', coalesce(venue_id::text, 'NULL'),
                            coalesce(left(reference, 40), 'NULL'));
    END IF;
    RETURN bookingdb._as_booking(v_row);
END
$$;

COMMENT ON FUNCTION bookingdb.find_booking(bigint, text) IS
    'The booking with this human reference (e.g. BK-7Q3M-X2PD; case and surrounding spaces ignored). '
    'Refusals: BK007 no such booking in this venue.';

CREATE FUNCTION bookingdb.customer_bookings(venue_id bigint, email text, from_ts timestamptz DEFAULT now())
RETURNS SETOF bookingdb.booking
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_variable
BEGIN
    PERFORM bookingdb._require_venue(venue_id);
    IF email IS NULL OR length(btrim(email)) = 0 OR length(email) > 320 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'email must be 1 to 320 characters',
            DETAIL = format('email length: %s', length(email));
    END IF;
    RETURN QUERY
        SELECT (bookingdb._as_booking(ROW(b.*)::bookingdb.bookings)).*
          FROM bookingdb.bookings b
         WHERE b.venue_id = customer_bookings.venue_id AND b.customer ? 'email'
           AND lower(b.customer ->> 'email') = lower(btrim(email))
           AND b.starts_at >= coalesce(from_ts, '-infinity')
         ORDER BY b.starts_at, b.booking_id;
END
$$;

COMMENT ON FUNCTION bookingdb.customer_bookings(bigint, text, timestamptz) IS
    'The bookings (any status) whose customer e-mail matches, case-insensitively, starting at or after from_ts '
    '(default now; NULL: all), in start order. Refusals: BK007 unknown venue, BK008 bad e-mail.';
