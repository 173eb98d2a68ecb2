-- Events and tickets: a concert's seats and general-admission areas are
-- ordinary resources, so a ticket hold is an ordinary hold (same exclusion
-- constraint for seats, same lock-then-count for standing places) and
-- confirm_hold, release_hold and cancel_booking work on it unchanged.

-- Raised for a lock wait past the function's lock_timeout: the caller may
-- retry (with the same idempotency key); nothing was written.
CREATE FUNCTION bookingdb._busy()
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'BK020', MESSAGE = 'busy, retry',
        DETAIL = format('a lock wait passed lock_timeout (%s)', current_setting('lock_timeout')),
        HINT = 'Nothing was written. Retry after a short, jittered pause, with the same idempotency key.';
END
$$;

CREATE FUNCTION bookingdb._require_event(p_venue_id bigint, p_event_id bigint)
RETURNS bookingdb.events
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_event bookingdb.events;
BEGIN
    PERFORM bookingdb._require_venue(p_venue_id);
    SELECT * INTO v_event FROM bookingdb.events e
     WHERE e.venue_id = p_venue_id AND e.event_id = p_event_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'event not found',
            DETAIL = format('venue_id: %s, event_id: %s', p_venue_id, coalesce(p_event_id::text, 'NULL'));
    END IF;
    RETURN v_event;
END
$$;

CREATE FUNCTION bookingdb.create_event(venue_id bigint, name text, starts_at timestamptz, ends_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_id bigint;
BEGIN
    PERFORM bookingdb._require_venue(venue_id);
    IF name IS NULL OR length(btrim(name)) = 0 OR length(name) > 200 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'event name must be 1 to 200 characters',
            DETAIL = format('name length: %s', length(name));
    END IF;
    PERFORM bookingdb._check_range(starts_at, ends_at);
    INSERT INTO bookingdb.events (venue_id, name, starts_at, ends_at)
    VALUES (venue_id, name, starts_at, ends_at)
    RETURNING events.event_id INTO v_id;
    RETURN v_id;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.create_event(bigint, text, timestamptz, timestamptz) IS
    'Creates an event (a concert, a match) for [starts_at, ends_at) in the venue; returns its event_id. '
    'Its inventory is added with add_event_inventory. Refusals: BK007 unknown venue, BK008 bad name, '
    'BK011 bad range.';

CREATE FUNCTION bookingdb.add_seat_block(
    venue_id bigint, section text, row_label text, first_number int, seat_count int)
RETURNS bigint[]
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_ids bigint[];
BEGIN
    PERFORM bookingdb._require_venue(venue_id);
    IF section IS NULL OR length(btrim(section)) = 0 OR length(section) > 100
       OR row_label IS NULL OR length(btrim(row_label)) = 0 OR length(row_label) > 100 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'section and row_label must be 1 to 100 characters',
            DETAIL = format('section length: %s, row_label length: %s', length(section), length(row_label));
    END IF;
    IF first_number IS NULL OR first_number < 0 OR seat_count IS NULL OR seat_count NOT BETWEEN 1 AND 1000
       OR first_number > 1000000 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008',
            MESSAGE = 'first_number must be 0 to 1000000 and seat_count 1 to 1000',
            DETAIL = format('first_number: %s, seat_count: %s', coalesce(first_number::text, 'NULL'),
                            coalesce(seat_count::text, 'NULL'));
    END IF;
    BEGIN
        WITH added AS (
            INSERT INTO bookingdb.resources
                (venue_id, name, kind, capacity, seats_min, seats_max, buffer_before, buffer_after,
                 section, row_label, seat_number)
            SELECT v.venue_id, left(format('%s %s%s', section, row_label, n), 200), 'seat', 1, 1, 1,
                   v.buffer_before, v.buffer_after, section, row_label, n
              FROM bookingdb.venues v, generate_series(first_number, first_number + seat_count - 1) AS n
             WHERE v.venue_id = add_seat_block.venue_id
             ORDER BY n
            RETURNING resources.resource_id, resources.seat_number
        )
        SELECT array_agg(a.resource_id ORDER BY a.seat_number) INTO v_ids FROM added a;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'some of these seats already exist',
            DETAIL = format('section %s, row %s, seats %s to %s', section, row_label, first_number,
                            first_number + seat_count - 1);
    END;
    RETURN v_ids;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.add_seat_block(bigint, text, text, int, int) IS
    'Creates seat_count numbered seats (resources of capacity 1, kind ''seat'', one person each) in one row, '
    'numbered first_number upward; consecutive numbers are adjacent seats. Returns their resource_ids in seat '
    'order. Rows added first count as the better rows when hold_event_tickets picks seats. Refusals: '
    'BK007 unknown venue, BK008 bad section/row/numbers or a seat that already exists.';

CREATE FUNCTION bookingdb.add_event_inventory(
    venue_id bigint, event_id bigint, resource_ids bigint[], category text, price_cents int)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    PERFORM bookingdb._require_event(venue_id, event_id);
    PERFORM bookingdb._check_resource_list(venue_id, resource_ids, NULL);
    IF category IS NULL OR length(btrim(category)) = 0 OR length(category) > 100
       OR price_cents IS NULL OR price_cents < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'category must be 1 to 100 characters and price_cents >= 0',
            DETAIL = format('category length: %s, price_cents: %s', length(category),
                            coalesce(price_cents::text, 'NULL'));
    END IF;
    -- Serialises inventory changes of one event, so the check below sees
    -- every resource another call is adding.
    PERFORM 1 FROM bookingdb.events e
     WHERE e.venue_id = add_event_inventory.venue_id AND e.event_id = add_event_inventory.event_id
       FOR UPDATE;
    INSERT INTO bookingdb.event_inventory (venue_id, event_id, resource_id, category, price_cents)
    SELECT DISTINCT venue_id, event_id, x, category, price_cents FROM unnest(resource_ids) AS x
    ON CONFLICT ON CONSTRAINT event_inventory_pkey
    DO UPDATE SET category = EXCLUDED.category, price_cents = EXCLUDED.price_cents;
    -- A category sells either seats (picked by adjacency) or standing places
    -- (counted): a mix would make "4 tickets in category X" ambiguous.
    IF (SELECT count(DISTINCT r.capacity = 1)
          FROM bookingdb.event_inventory i
          JOIN bookingdb.resources r ON r.venue_id = i.venue_id AND r.resource_id = i.resource_id
         WHERE i.venue_id = add_event_inventory.venue_id AND i.event_id = add_event_inventory.event_id
           AND i.category = add_event_inventory.category) > 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008',
            MESSAGE = 'a category holds either seats (capacity 1) or general admission (capacity > 1), not both',
            DETAIL = format('category: %s', category);
    END IF;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.add_event_inventory(bigint, bigint, bigint[], text, int) IS
    'Puts resources on sale for an event in a price category: seats (capacity 1, from add_seat_block) and/or '
    'general-admission areas (add_resource with capacity N, kind ''ga''). Adding a resource again changes its '
    'category and price (holds already made keep their total_cents). Refusals: BK007 unknown venue, event or '
    'resource; BK008 empty list, bad category or price, or seats and general admission in one category.';

-- The best `quantity` adjacent free seats of a category: consecutive seat
-- numbers in one row, in the first row (rows added first are the better
-- ones) that has such a run, as close to the row's middle as possible.
-- NULL when no row has enough adjacent free seats.
CREATE FUNCTION bookingdb._best_seats(p_event bookingdb.events, p_category text, p_quantity int)
RETURNS bigint[]
LANGUAGE plpgsql STABLE
SET enable_indexscan = off
AS $$
BEGIN
    RETURN (
        WITH seats AS (
            SELECT r.resource_id, r.section, r.row_label, r.seat_number,
                   tstzrange(p_event.starts_at - r.buffer_before, p_event.ends_at + r.buffer_after) AS blocked
              FROM bookingdb.event_inventory i
              JOIN bookingdb.resources r ON r.venue_id = i.venue_id AND r.resource_id = i.resource_id
             WHERE i.venue_id = p_event.venue_id AND i.event_id = p_event.event_id
               AND i.category = p_category AND r.capacity = 1 AND r.seat_number IS NOT NULL
        ),
        rows_ AS (
            SELECT s.section, s.row_label, min(s.resource_id) AS rank,
                   (min(s.seat_number) + max(s.seat_number)) / 2.0 AS middle
              FROM seats s
             GROUP BY s.section, s.row_label
        ),
        free AS (
            -- Gaps and islands: consecutive free seats share seat_number - n.
            -- The "taken" test stays written out here: as a helper function
            -- it was not inlined and the pick ran 2.5x slower (measured).
            SELECT s.*, s.seat_number - row_number() OVER (PARTITION BY s.section, s.row_label
                                                            ORDER BY s.seat_number) AS island
              FROM seats s
             WHERE NOT EXISTS (
                   SELECT 1 FROM bookingdb.allocations a
                    WHERE a.venue_id = p_event.venue_id AND a.resource_id = s.resource_id
                      AND a.active AND a.exclusive AND a.blocked && s.blocked
                      AND (a.expires_at IS NULL OR a.expires_at > now()))
        ),
        runs AS (
            SELECT f.section, f.row_label, f.seat_number,
                   array_agg(f.resource_id) OVER w AS ids, count(*) OVER w AS n
              FROM free f
            WINDOW w AS (PARTITION BY f.section, f.row_label, f.island ORDER BY f.seat_number
                         ROWS BETWEEN CURRENT ROW AND p_quantity - 1 FOLLOWING)
        )
        SELECT runs.ids
          FROM runs
          JOIN rows_ USING (section, row_label)
         WHERE runs.n = p_quantity
         ORDER BY rows_.rank, abs(runs.seat_number + (p_quantity - 1) / 2.0 - rows_.middle), runs.seat_number
         LIMIT 1);
END
$$;

-- A ticket booking on named inventory: the event's time, the price from
-- the inventory. Seats: one each (quantity 1, party = number of seats).
-- General admission: `quantity` places on the one resource.
CREATE FUNCTION bookingdb._book_tickets(
    p_event bookingdb.events, p_resource_ids bigint[], p_quantity int, p_customer jsonb,
    p_idempotency_key text, p_ttl interval, p_request_hash bigint, p_waitlist_entry_id bigint,
    p_holder text DEFAULT NULL)
RETURNS bookingdb.booking
LANGUAGE plpgsql
AS $$
DECLARE
    v_price bigint;
    v_count int;
BEGIN
    SELECT sum(i.price_cents), count(*) INTO v_price, v_count
      FROM bookingdb.event_inventory i
     WHERE i.venue_id = p_event.venue_id AND i.event_id = p_event.event_id
       AND i.resource_id = ANY (p_resource_ids);
    IF v_count <> (SELECT count(DISTINCT x) FROM unnest(p_resource_ids) AS x) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'not on sale for this event',
            DETAIL = format('event_id: %s, resource_ids not in its inventory: %s', p_event.event_id,
                            (SELECT array_agg(DISTINCT x ORDER BY x) FROM unnest(p_resource_ids) AS x
                              WHERE NOT EXISTS (SELECT 1 FROM bookingdb.event_inventory i
                                                 WHERE i.venue_id = p_event.venue_id
                                                   AND i.event_id = p_event.event_id
                                                   AND i.resource_id = x)));
    END IF;
    RETURN bookingdb._book(
        p_venue_id => p_event.venue_id, p_resource_ids => p_resource_ids,
        p_starts_at => p_event.starts_at, p_ends_at => p_event.ends_at,
        p_party_size => CASE WHEN p_quantity IS NULL THEN cardinality(p_resource_ids) ELSE p_quantity END,
        p_quantity => coalesce(p_quantity, 1), p_idempotency_key => p_idempotency_key, p_status => 'held',
        p_customer => p_customer, p_payment_ref => NULL,
        -- Ticket shops hold for 15 minutes unless told otherwise.
        p_ttl => coalesce(p_ttl, interval '15 minutes'),
        p_event_id => p_event.event_id, p_total_cents => v_price * coalesce(p_quantity, 1),
        p_waitlist_entry_id => p_waitlist_entry_id, p_request_hash => p_request_hash, p_holder => p_holder);
END
$$;

-- The body of hold_event_tickets (which only adds the lock-timeout
-- translation around it).
CREATE FUNCTION bookingdb._hold_tickets(
    p_event bookingdb.events, p_quantity int, p_seat_ids bigint[], p_category text, p_customer jsonb,
    p_idempotency_key text, p_ttl interval, p_holder text)
RETURNS bookingdb.booking
LANGUAGE plpgsql
AS $$
DECLARE
    v_event    bookingdb.events := p_event;
    v_hash     bigint;
    v_row      bookingdb.bookings;
    v_category text := p_category;
    v_seated   boolean;
    v_ga       bigint;
    v_seats    bigint[];
BEGIN
    IF p_seat_ids IS NOT NULL AND (cardinality(p_seat_ids) = 0 OR array_position(p_seat_ids, NULL) IS NOT NULL
                                   OR (p_quantity IS NOT NULL AND p_quantity <> cardinality(p_seat_ids))) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'seat_ids must name seats (and match quantity if given)',
            DETAIL = format('seat_ids: %s, quantity: %s', p_seat_ids, coalesce(p_quantity::text, 'NULL'));
    END IF;
    IF p_seat_ids IS NULL AND (p_quantity IS NULL OR p_quantity < 1) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'name seat_ids or a positive quantity',
            DETAIL = format('quantity: %s', coalesce(p_quantity::text, 'NULL'));
    END IF;

    -- The fingerprint is the request, not the seats it was given: a replay
    -- gets the same seats back although the best free ones have changed.
    IF p_idempotency_key IS NOT NULL THEN
        v_hash := hashtextextended(concat_ws('|', 'tickets', p_event.event_id, p_quantity,
                      ARRAY(SELECT DISTINCT x FROM unnest(p_seat_ids) AS x ORDER BY x)::text,
                      p_category, p_customer::text, extract(epoch FROM p_ttl), p_holder), 0);
        SELECT * INTO v_row FROM bookingdb.bookings b
         WHERE b.venue_id = v_event.venue_id AND b.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            RETURN bookingdb._replay(v_row, v_hash);
        END IF;
    END IF;

    IF p_seat_ids IS NOT NULL THEN
        RETURN bookingdb._book_tickets(v_event, p_seat_ids, NULL, p_customer, p_idempotency_key, p_ttl,
                                       v_hash, NULL, p_holder);
    END IF;

    IF v_category IS NULL THEN
        SELECT min(i.category) INTO v_category FROM bookingdb.event_inventory i
         WHERE i.venue_id = v_event.venue_id AND i.event_id = v_event.event_id
        HAVING count(DISTINCT i.category) = 1;
        IF v_category IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'name a category',
                DETAIL = format('event %s has %s categories', v_event.event_id,
                                (SELECT count(DISTINCT i.category) FROM bookingdb.event_inventory i
                                  WHERE i.venue_id = v_event.venue_id AND i.event_id = v_event.event_id)),
                HINT = 'event_availability() lists the categories.';
        END IF;
    END IF;
    SELECT bool_and(r.capacity = 1) INTO v_seated
      FROM bookingdb.event_inventory i
      JOIN bookingdb.resources r ON r.venue_id = i.venue_id AND r.resource_id = i.resource_id
     WHERE i.venue_id = v_event.venue_id AND i.event_id = v_event.event_id AND i.category = v_category;
    IF v_seated IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'no such category for this event',
            DETAIL = format('event_id: %s, category: %s', v_event.event_id, v_category);
    END IF;

    IF NOT v_seated THEN
        -- General admission: the category's areas, emptiest first by a
        -- reading taken without locks (so buyers spread over the areas and
        -- do not queue on a full one), until one has room under its lock.
        -- Each try is a subtransaction, so a full area leaves nothing behind.
        FOR v_ga IN
            SELECT i.resource_id FROM bookingdb.event_inventory i
              JOIN bookingdb.resources r ON r.venue_id = i.venue_id AND r.resource_id = i.resource_id
             WHERE i.venue_id = v_event.venue_id AND i.event_id = v_event.event_id
               AND i.category = v_category
             ORDER BY r.sell_limit - (
                       SELECT coalesce(sum(a.quantity), 0)
                         FROM bookingdb._shared_overlaps(i.venue_id, i.resource_id,
                                  tstzrange(v_event.starts_at - r.buffer_before, v_event.ends_at + r.buffer_after),
                                  NULL) AS a) DESC,
                      i.resource_id
        LOOP
            BEGIN
                RETURN bookingdb._book_tickets(v_event, ARRAY[v_ga], p_quantity, p_customer,
                                               p_idempotency_key, p_ttl, v_hash, NULL, p_holder);
            EXCEPTION WHEN SQLSTATE 'BK002' OR SQLSTATE 'BK017' THEN
                NULL;  -- not enough room here (the try is rolled back): the next area
            END;
        END LOOP;
        RAISE EXCEPTION USING ERRCODE = 'BK002', MESSAGE = 'capacity exceeded',
            DETAIL = format('event %s, category %s: fewer than %s places left in any area',
                            v_event.event_id, v_category, p_quantity);
    END IF;

    -- Seats picked for the customer: one picker per category at a time
    -- (a transaction-scoped lock), so two buyers are never handed the
    -- same best seats. Buyers naming their seats do not take it; if one
    -- of them wins a picked seat first, pick again.
    PERFORM pg_advisory_xact_lock(hashtextextended(
        format('bookingdb.seats|%s|%s|%s', v_event.venue_id, v_event.event_id, v_category), 0));
    FOR attempt IN 1..3 LOOP
        v_seats := bookingdb._best_seats(v_event, v_category, p_quantity);
        IF v_seats IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'BK001', MESSAGE = 'slot unavailable',
                DETAIL = format('event %s, category %s: no row has %s adjacent free seats',
                                v_event.event_id, v_category, p_quantity),
                HINT = 'Ask for fewer seats, another category, or name seats (event_availability).';
        END IF;
        BEGIN
            RETURN bookingdb._book_tickets(v_event, v_seats, NULL, p_customer, p_idempotency_key, p_ttl,
                                           v_hash, NULL, p_holder);
        EXCEPTION WHEN SQLSTATE 'BK001' THEN
            IF attempt = 3 THEN
                RAISE;
            END IF;
        END;
    END LOOP;
END
$$;

CREATE FUNCTION bookingdb.hold_event_tickets(
    venue_id bigint, event_id bigint, quantity int DEFAULT NULL, seat_ids bigint[] DEFAULT NULL,
    category text DEFAULT NULL, customer jsonb DEFAULT NULL, idempotency_key text DEFAULT NULL,
    ttl interval DEFAULT NULL, holder text DEFAULT NULL)
RETURNS bookingdb.booking
LANGUAGE plpgsql
-- An on-sale rush queues on a few locks; nobody waits longer than this
-- (BK020, retryable) instead of hanging.
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN bookingdb._hold_tickets(bookingdb._require_event(venue_id, event_id), quantity, seat_ids,
                                   category, customer, idempotency_key, ttl, holder);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.hold_event_tickets(bigint, bigint, int, bigint[], text, jsonb, text, interval, text) IS
    'Holds tickets for an event (status held; ttl default 15 minutes, at most 30 days): the named seat_ids; or, '
    'with no seats named, the best `quantity` adjacent seats in one row of the category (rows added first '
    'first, then nearest the middle), or `quantity` general-admission places. category may be omitted when '
    'the event has one. The booking carries event_id and total_cents (sum of prices). Then confirm_hold, '
    'release_hold, cancel_booking as for any booking. Same idempotency_key + same request returns the same '
    'hold. Refusals: BK001 seats taken or no adjacent run, BK002 not enough places, BK005 key reused, '
    'BK007 unknown venue/event/category or a resource not on sale, BK008 bad arguments, BK020 busy (retry), '
    'BK021 too many live holds for this holder (holder key, else the customer''s e-mail), '
    'and the venue''s rules as for create_hold.';

CREATE FUNCTION bookingdb.event_availability(venue_id bigint, event_id bigint)
RETURNS TABLE (category text, resource_id bigint, remaining int)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
SET jit = off
SET enable_indexscan = off
AS $$
#variable_conflict use_column
DECLARE
    v_event bookingdb.events := bookingdb._require_event(venue_id, event_id);
BEGIN
    RETURN QUERY
        SELECT i.category, i.resource_id,
               greatest(r.sell_limit - bookingdb._max_occupancy(
                            v_event.venue_id, r.resource_id,
                            tstzrange(v_event.starts_at - r.buffer_before, v_event.ends_at + r.buffer_after),
                            NULL, r.sell_limit, r.sell_limit + 1), 0)
          FROM bookingdb.event_inventory i
          JOIN bookingdb.resources r ON r.venue_id = i.venue_id AND r.resource_id = i.resource_id
         WHERE i.venue_id = v_event.venue_id AND i.event_id = v_event.event_id AND r.capacity > 1
        UNION ALL
        SELECT i.category, i.resource_id,
               CASE WHEN EXISTS (
                        SELECT 1 FROM bookingdb.allocations a
                         WHERE a.venue_id = v_event.venue_id AND a.resource_id = r.resource_id
                           AND a.active AND a.exclusive
                           AND a.blocked && tstzrange(v_event.starts_at - r.buffer_before,
                                                      v_event.ends_at + r.buffer_after)
                           AND (a.expires_at IS NULL OR a.expires_at > now()))
                    THEN 0 ELSE 1 END
          FROM bookingdb.event_inventory i
          JOIN bookingdb.resources r ON r.venue_id = i.venue_id AND r.resource_id = i.resource_id
         WHERE i.venue_id = v_event.venue_id AND i.event_id = v_event.event_id AND r.capacity = 1
         ORDER BY 1, 2;
END
$$;

COMMENT ON FUNCTION bookingdb.event_availability(bigint, bigint) IS
    'What is left for an event, one row per resource on sale: category, resource_id, remaining (places for a '
    'general-admission area; 1 or 0 for a seat). Live holds count as taken; lapsed holds do not. '
    'Refusals: BK007 unknown venue or event.';

CREATE FUNCTION bookingdb.list_events(venue_id bigint)
RETURNS TABLE (event_id bigint, name text, starts_at timestamptz, ends_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM bookingdb._require_venue(list_events.venue_id);
    RETURN QUERY
        SELECT e.event_id, e.name, e.starts_at, e.ends_at FROM bookingdb.events e
         WHERE e.venue_id = list_events.venue_id
         ORDER BY e.starts_at, e.event_id;
END
$$;

COMMENT ON FUNCTION bookingdb.list_events(bigint) IS
    'The venue''s events in start order. Refusals: BK007 unknown venue.';
