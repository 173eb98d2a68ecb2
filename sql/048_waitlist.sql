-- The waitlist: customers waiting for a slot that is taken. When capacity
-- frees up, the database offers it to the first matching entry (priority,
-- then first come) by creating a hold for them in the same transaction; the
-- offer expires like any hold and passes to the next entry.
--
-- When offers are made:
-- * cancel_booking, release_hold, reject_booking, reschedule_booking (and
--   cancel_series): in the same transaction as the change that frees it;
-- * expire_holds (the sweeper): for the holds it expires;
-- * join_waitlist and process_waitlist(venue_id): they offer whatever is
--   free to the waiting entries in order, expiring lapsed holds in the way.
-- A booking that finds a lapsed hold in its way takes the slot itself, with
-- no offer: the slot was free for everyone, and the booker came for it.

CREATE FUNCTION bookingdb._as_entry(w bookingdb.waitlist)
RETURNS bookingdb.waitlist_entry
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    -- plpgsql: Citus cannot route an sql function's parameterised read.
    RETURN ROW(w.entry_id,
               -- An offer whose hold has lapsed reads as lapsed before anything marks it.
               CASE WHEN w.status = 'offered' AND EXISTS (
                             SELECT 1 FROM bookingdb.bookings b
                              WHERE b.venue_id = w.venue_id AND b.booking_id = w.booking_id
                                AND (b.status IN ('expired', 'released')
                                     OR (b.status = 'held' AND b.expires_at <= now())))
                    THEN 'lapsed' ELSE w.status END,
               w.resource_ids, w.starts_at, w.ends_at, w.party_size, w.customer, w.priority, w.event_id,
               w.booking_id, w.created_at)::bookingdb.waitlist_entry;
END
$$;

-- The ways to satisfy a waiting entry, in the order they are tried: one
-- of its resources, or for an event entry party_size free listed seats.
-- Its own function so the seat read runs with enable_indexscan = off (see
-- 020_validation.sql) without the offer's booking running under it.
CREATE FUNCTION bookingdb._offer_options(e bookingdb.waitlist, p_only bigint[])
RETURNS TABLE (ids bigint[], quantity int)
LANGUAGE plpgsql STABLE
SET enable_indexscan = off
AS $$
BEGIN
    RETURN QUERY
        SELECT ARRAY[r.resource_id] AS ids,
               CASE WHEN r.capacity > 1 THEN e.party_size WHEN e.event_id IS NULL THEN 1 END AS quantity
          FROM bookingdb.resources r
         WHERE r.venue_id = e.venue_id AND r.resource_id = ANY (e.resource_ids)
           AND (p_only IS NULL OR r.resource_id = ANY (p_only))
           AND (e.event_id IS NULL OR r.capacity > 1)
        UNION ALL
        SELECT (SELECT array_agg(s.resource_id ORDER BY s.resource_id)
                  FROM (SELECT r.resource_id FROM bookingdb.resources r
                         WHERE r.venue_id = e.venue_id AND r.resource_id = ANY (e.resource_ids)
                           AND r.capacity = 1
                           AND NOT EXISTS (
                               SELECT 1 FROM bookingdb.allocations a
                                WHERE a.venue_id = e.venue_id AND a.resource_id = r.resource_id
                                  AND a.active AND a.exclusive
                                  AND a.blocked && tstzrange(e.starts_at - r.buffer_before,
                                                             e.ends_at + r.buffer_after)
                                  AND (a.expires_at IS NULL OR a.expires_at > now()))
                         ORDER BY r.resource_id
                         LIMIT e.party_size) AS s
                HAVING count(*) = e.party_size),
               NULL
         WHERE e.event_id IS NOT NULL;
END
$$;

-- Tries to offer one waiting entry a hold; returns it (NULL: no offer).
-- p_only: the resources to offer (NULL: any of the entry's). The ways
-- to satisfy it are tried in order, each in a subtransaction: for a plain
-- entry, one of its resources (a table that fits; party_size places on a
-- shared resource); for an event entry, party_size places in one listed
-- area or party_size free listed seats. A refusal (class BK) or a lock
-- that is not free within 500 ms (another transaction is booking there)
-- just means "not now": the entry keeps waiting. Callers pass entries read
-- without a lock; the entry is locked (or skipped) here. The resources that
-- were busy are left in bookingdb.offer_busy (comma-separated) for the
-- caller, which must not offer them to anyone further down the line.
CREATE FUNCTION bookingdb._offer_entry(e bookingdb.waitlist, p_only bigint[])
RETURNS bookingdb.booking
LANGUAGE plpgsql
AS $$
DECLARE
    v_event    bookingdb.events;
    v_option   record;
    v_booking  bookingdb.booking;
    v_timeout  text := current_setting('lock_timeout');
    v_bound_ms numeric := coalesce(nullif(extract(epoch FROM v_timeout::interval) * 1000, 0), 5000);
    v_entry_wait text := greatest(1, round(v_bound_ms / 10)) || 'ms';
    v_slot_wait  interval := greatest(1, round(v_bound_ms / 10)) * interval '1 millisecond';
    v_offering text := coalesce(current_setting('bookingdb.offer_on_expiry', true), '');
    v_state    text;
    v_busy     bigint[] := '{}';
    v_lapsed   bigint[];
BEGIN
    IF e.event_id IS NOT NULL THEN
        SELECT * INTO v_event FROM bookingdb.events x WHERE x.venue_id = e.venue_id AND x.event_id = e.event_id;
    END IF;
    -- Holds this offer expires on its way are not offered on in turn.
    PERFORM set_config('bookingdb.offer_on_expiry', 'off', true);
    FOR v_option IN SELECT * FROM bookingdb._offer_options(e, p_only)
    LOOP
        CONTINUE WHEN v_option.ids IS NULL;
        BEGIN
            -- First wait (holding nothing of this offer's yet) for any
            -- transaction that is changing an allocation in the way, such
            -- as one cancelling it: that transaction offers what it frees
            -- itself, and needs the entry's and the slot's locks to do so.
            -- Then the rest of the try sees its outcome.
            PERFORM set_config('lock_timeout', v_entry_wait, true);
            PERFORM 1 FROM bookingdb.allocations a
             WHERE a.venue_id = e.venue_id AND a.resource_id = ANY (v_option.ids) AND a.active
               AND upper(a.blocked) > e.starts_at - interval '1 day'
               AND lower(a.blocked) < e.ends_at + interval '1 day'
               FOR SHARE;
            -- The entry's lock is taken inside the try: when the offer
            -- fails, rolling the try back releases it at once. Waiting for
            -- it (not skipping) keeps the line's order when two
            -- transactions serve it at the same moment: the second sees the
            -- entry served, or free to serve. The slot's lock is polled, not
            -- queued for (see _try_lock_resources), for as long: another
            -- server of the line holds it until it commits. Both are a
            -- tenth of the function's own bound (500 ms of the default 5 s;
            -- lock_timeout is already set to it above).
            PERFORM 1 FROM bookingdb.waitlist w
             WHERE w.venue_id = e.venue_id AND w.entry_id = e.entry_id AND w.status = 'waiting'
               FOR UPDATE;
            IF NOT FOUND THEN
                -- Served or gone meanwhile. FOR UPDATE has locked its new
                -- version even so: roll the try back to let go of it.
                RAISE EXCEPTION USING ERRCODE = 'no_data_found';
            END IF;
            -- A lapsed hold in the way that another transaction has locked
            -- is being expired there, and that transaction offers the slot
            -- in its own transaction, as promised: this one must not wait
            -- for it while holding the entry and the slot's lock.
            v_lapsed := ARRAY(SELECT x FROM bookingdb._lapsed_holds_in_way(
                                  e.venue_id, v_option.ids, e.starts_at, e.ends_at) AS x);
            IF cardinality(v_lapsed) > (
                   SELECT count(*) FROM (SELECT 1 FROM bookingdb.bookings b
                                          WHERE b.venue_id = e.venue_id AND b.booking_id = ANY (v_lapsed)
                                            AND b.status = 'held'
                                            FOR UPDATE SKIP LOCKED) AS mine) THEN
                RAISE EXCEPTION USING ERRCODE = 'lock_not_available',
                    MESSAGE = 'a lapsed hold in the way is being expired by another transaction';
            END IF;
            PERFORM bookingdb._try_lock_resources(v_option.ids, v_slot_wait);
            IF e.event_id IS NOT NULL THEN
                v_booking := bookingdb._book_tickets(v_event, v_option.ids, v_option.quantity, e.customer,
                                                     NULL, NULL, NULL, e.entry_id);
            ELSE
                v_booking := bookingdb._book(
                    p_venue_id => e.venue_id, p_resource_ids => v_option.ids, p_starts_at => e.starts_at,
                    p_ends_at => e.ends_at, p_party_size => e.party_size, p_quantity => v_option.quantity,
                    p_idempotency_key => NULL, p_status => 'held', p_customer => e.customer,
                    p_payment_ref => NULL, p_ttl => NULL, p_waitlist_entry_id => e.entry_id);
            END IF;
            UPDATE bookingdb.waitlist w
               SET status = 'offered', booking_id = v_booking.id, updated_at = now()
             WHERE w.venue_id = e.venue_id AND w.entry_id = e.entry_id;
            -- Counted for process_waitlist (offers made here by triggers too).
            PERFORM set_config('bookingdb.offers_made',
                               (coalesce(nullif(current_setting('bookingdb.offers_made', true), ''), '0')::int + 1)::text,
                               true);
            EXIT;
        EXCEPTION WHEN no_data_found THEN
            v_booking := NULL;
            EXIT;
        WHEN lock_not_available OR deadlock_detected THEN
            v_booking := NULL;  -- busy there right now: not now
            v_busy := v_busy || v_option.ids;
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE;
            IF v_state NOT LIKE 'BK%' THEN
                RAISE;
            END IF;
            v_booking := NULL;  -- refused (taken, full, rules): not this way
        END;
    END LOOP;
    PERFORM set_config('lock_timeout', v_timeout, true);
    PERFORM set_config('bookingdb.offer_on_expiry', v_offering, true);
    PERFORM set_config('bookingdb.offer_busy', array_to_string(v_busy, ','), true);
    RETURN v_booking;
END
$$;

-- Offers freed capacity on these resources around this time to the waiting
-- entries it may suit, in serving order; returns how many got an offer.
-- Only the freed resources are offered (a cancellation gives away its own
-- table, not one another transaction is freeing), and serving stops once
-- every freed exclusive resource has been given away. Buffers are at most
-- a day, so an entry further away cannot have been blocked by what was
-- freed.
CREATE FUNCTION bookingdb._offer_freed(p_venue_id bigint, p_resource_ids bigint[], p_span tstzrange)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    v_entry     bookingdb.waitlist;
    v_offers    int := 0;
    v_offer     bookingdb.booking;
    v_left      bigint[] := p_resource_ids;
    v_only      bigint[];
    -- (resource, window) pairs that were busy for an entry: no entry
    -- further down the line gets that resource for an overlapping window.
    v_busy_ids  bigint[] := '{}';
    v_busy_when tstzrange[] := '{}';
    v_busy      bigint[];
BEGIN
    FOR v_entry IN
        SELECT * FROM bookingdb.waitlist w
         WHERE w.venue_id = p_venue_id AND w.status = 'waiting'
           AND w.resource_ids && p_resource_ids
           AND tstzrange(w.starts_at, w.ends_at)
               && tstzrange(lower(p_span) - interval '1 day', upper(p_span) + interval '1 day')
         ORDER BY w.priority DESC, w.created_at, w.entry_id
         LIMIT 20
    LOOP
        v_only := ARRAY(SELECT x FROM unnest(v_left) AS x
                         WHERE x = ANY (v_entry.resource_ids)
                           AND NOT EXISTS (
                               SELECT 1 FROM unnest(v_busy_ids, v_busy_when) AS b(id, span)
                                WHERE b.id = x AND b.span && tstzrange(v_entry.starts_at, v_entry.ends_at)));
        CONTINUE WHEN cardinality(v_only) = 0;
        v_offer := bookingdb._offer_entry(v_entry, v_only);
        IF v_offer.id IS NULL THEN
            -- Busy for this entry: whoever holds the lock is booking that
            -- resource (and takes it) or serving this same line; an entry
            -- behind this one must not jump the line for it.
            v_busy := coalesce(string_to_array(nullif(current_setting('bookingdb.offer_busy', true), ''),
                                               ',')::bigint[], '{}');
            v_busy_ids := v_busy_ids || v_busy;
            v_busy_when := v_busy_when
                           || array_fill(tstzrange(v_entry.starts_at, v_entry.ends_at), ARRAY[cardinality(v_busy)]);
        ELSE
            v_offers := v_offers + 1;
            v_left := ARRAY(SELECT x FROM unnest(v_left) AS x
                             WHERE x <> ALL (v_offer.resource_ids)
                                OR EXISTS (SELECT 1 FROM bookingdb.resources r
                                            WHERE r.venue_id = p_venue_id AND r.resource_id = x
                                              AND r.capacity > 1));
            EXIT WHEN cardinality(v_left) = 0;
        END IF;
    END LOOP;
    RETURN v_offers;
END
$$;

-- After a booking changes: an offer's entry follows its hold (confirmed:
-- booked; expired or released: lapsed), and capacity the change frees is
-- offered to the waitlist.
CREATE FUNCTION bookingdb._bookings_waitlist()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    IF NEW.waitlist_entry_id IS NOT NULL AND NEW.status IS DISTINCT FROM OLD.status THEN
        UPDATE bookingdb.waitlist w
           SET status = CASE WHEN NEW.status = 'confirmed' THEN 'booked' ELSE 'lapsed' END,
               updated_at = now()
         WHERE w.venue_id = NEW.venue_id AND w.entry_id = NEW.waitlist_entry_id AND w.status = 'offered'
           AND NEW.status IN ('confirmed', 'expired', 'released', 'rejected', 'cancelled');
    END IF;
    IF OLD.status IN ('held', 'pending', 'confirmed')
       AND (NEW.status NOT IN ('held', 'pending', 'confirmed')
            OR (NEW.starts_at, NEW.ends_at, NEW.resource_ids) IS DISTINCT FROM
               (OLD.starts_at, OLD.ends_at, OLD.resource_ids))
       -- A lapsed hold expired by a booking in its way: that booking takes the slot.
       AND (NEW.status <> 'expired' OR current_setting('bookingdb.offer_on_expiry', true) = 'on')
       AND EXISTS (SELECT 1 FROM bookingdb.waitlist w WHERE w.venue_id = NEW.venue_id AND w.status = 'waiting')
    THEN
        PERFORM bookingdb._offer_freed(NEW.venue_id, OLD.resource_ids, tstzrange(OLD.starts_at, OLD.ends_at));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER bookings_waitlist AFTER UPDATE ON bookingdb.bookings
    FOR EACH ROW
    WHEN (NEW.waitlist_entry_id IS NOT NULL
          OR (OLD.status IN ('held', 'pending', 'confirmed')
              AND (NEW.status NOT IN ('held', 'pending', 'confirmed')
                   OR (NEW.starts_at, NEW.ends_at, NEW.resource_ids) IS DISTINCT FROM
                      (OLD.starts_at, OLD.ends_at, OLD.resource_ids))))
    EXECUTE FUNCTION bookingdb._bookings_waitlist();

-- Offers what is free now to the venue's waiting entries in serving order;
-- returns how many offers were made. Lapsed holds of interest (lapsed
-- offers, and holds in the way of waiting entries) are expired first, each
-- offered on like the sweeper's. With p_resource_ids (join_waitlist), only
-- capacity on those resources around p_span is served, to whoever is first
-- in line for it; else the first p_max_entries waiting entries are tried.
CREATE FUNCTION bookingdb._process_waitlist(
    p_venue_id bigint, p_max_entries int, p_resource_ids bigint[] DEFAULT NULL,
    p_span tstzrange DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
    v_entry  bookingdb.waitlist;
    v_before int := coalesce(nullif(current_setting('bookingdb.offers_made', true), ''), '0')::int;
BEGIN
    PERFORM set_config('bookingdb.offer_on_expiry', 'on', true);
    UPDATE bookingdb.bookings b
       SET status = 'expired'
     WHERE b.venue_id = p_venue_id AND b.status = 'held'
       AND b.booking_id IN (
            SELECT h.booking_id FROM bookingdb.bookings h
             WHERE h.venue_id = p_venue_id AND h.status = 'held' AND h.expires_at <= now()
               AND (p_resource_ids IS NULL OR h.resource_ids && p_resource_ids)
               AND (h.waitlist_entry_id IS NOT NULL
                    OR EXISTS (SELECT 1 FROM bookingdb.waitlist w
                                WHERE w.venue_id = p_venue_id AND w.status = 'waiting'
                                  AND w.resource_ids && h.resource_ids
                                  AND tstzrange(w.starts_at, w.ends_at)
                                      && tstzrange(h.starts_at - interval '1 day', h.ends_at + interval '1 day')))
             ORDER BY h.booking_id
               FOR UPDATE SKIP LOCKED);
    PERFORM set_config('bookingdb.offer_on_expiry', 'off', true);
    IF p_resource_ids IS NOT NULL THEN
        PERFORM bookingdb._offer_freed(p_venue_id, p_resource_ids, p_span);
    ELSE
        FOR v_entry IN
            SELECT * FROM bookingdb.waitlist w
             WHERE w.venue_id = p_venue_id AND w.status = 'waiting'
             ORDER BY w.priority DESC, w.created_at, w.entry_id
             LIMIT p_max_entries
        LOOP
            PERFORM bookingdb._offer_entry(v_entry, NULL);
        END LOOP;
    END IF;
    RETURN coalesce(nullif(current_setting('bookingdb.offers_made', true), ''), '0')::int - v_before;
END
$$;

CREATE FUNCTION bookingdb.join_waitlist(
    venue_id bigint, resource_ids bigint[], starts_at timestamptz, ends_at timestamptz,
    party_size int DEFAULT 1, customer jsonb DEFAULT NULL, priority int DEFAULT 0, event_id bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v       bookingdb.venues := bookingdb._require_venue(venue_id);
    v_event bookingdb.events;
    v_id    bigint;
    -- Sorted here, not in the INSERT: Citus refuses subqueries in VALUES.
    v_ids   bigint[] := ARRAY(SELECT DISTINCT x FROM unnest(resource_ids) AS x ORDER BY x);
BEGIN
    PERFORM bookingdb._check_resource_list(v.venue_id, resource_ids, NULL);
    IF event_id IS NOT NULL THEN
        v_event := bookingdb._require_event(v.venue_id, event_id);
        -- An event entry waits for the event's own time.
        starts_at := coalesce(starts_at, v_event.starts_at);
        ends_at := coalesce(ends_at, v_event.ends_at);
        IF EXISTS (SELECT 1 FROM unnest(resource_ids) AS x
                    WHERE NOT EXISTS (SELECT 1 FROM bookingdb.event_inventory i
                                       WHERE i.venue_id = v.venue_id AND i.event_id = v_event.event_id
                                         AND i.resource_id = x)) THEN
            RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'not on sale for this event',
                DETAIL = format('event_id: %s, resource_ids: %s', v_event.event_id, resource_ids);
        END IF;
    END IF;
    PERFORM bookingdb._check_range(starts_at, ends_at);
    PERFORM bookingdb._check_party_limits(v, party_size);
    PERFORM bookingdb._check_customer(v, customer, starts_at);
    IF priority IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'priority must not be NULL';
    END IF;
    INSERT INTO bookingdb.waitlist (venue_id, resource_ids, starts_at, ends_at, party_size, customer,
                                    priority, event_id)
    VALUES (v.venue_id, v_ids, starts_at,
            ends_at, party_size, customer, priority, event_id)
    RETURNING waitlist.entry_id INTO v_id;
    -- Something may be free already (a hold lapsed with nobody watching):
    -- serve the line for these resources, which may be this entry or one
    -- before it.
    PERFORM bookingdb._process_waitlist(v.venue_id, NULL,
                                        ARRAY(SELECT DISTINCT x FROM unnest(resource_ids) AS x ORDER BY x),
                                        tstzrange(starts_at, ends_at));
    RETURN v_id;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.join_waitlist(bigint, bigint[], timestamptz, timestamptz, int, jsonb, int, bigint) IS
    'Puts a customer on the waitlist for [starts_at, ends_at) on any one of resource_ids (a table that fits the '
    'party, or party_size places on a shared resource); with event_id, for party_size tickets among the listed '
    'seats or in one listed area (starts_at/ends_at may be NULL: the event''s). Returns the entry_id. When '
    'capacity frees up, the first matching entry (higher priority first, then first come) is offered a hold '
    '(waitlist_entry_id set; the venue''s hold_ttl, 15 minutes for tickets) in the same transaction; an offer '
    'that lapses passes to the next. Serves the line at once if something is free. Refusals: BK007 unknown '
    'venue, resource or event inventory; BK008 bad list, customer or priority; BK011 bad range; '
    'BK014 party size.';

CREATE FUNCTION bookingdb.leave_waitlist(venue_id bigint, entry_id bigint)
RETURNS bookingdb.waitlist_entry
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_entry bookingdb.waitlist;
BEGIN
    PERFORM bookingdb._require_venue(venue_id);
    SELECT * INTO v_entry FROM bookingdb.waitlist w
     WHERE w.venue_id = leave_waitlist.venue_id AND w.entry_id = leave_waitlist.entry_id
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'waitlist entry not found',
            DETAIL = format('venue_id: %s, entry_id: %s', venue_id, coalesce(entry_id::text, 'NULL'));
    END IF;
    IF (bookingdb._as_entry(v_entry)).status NOT IN ('waiting', 'offered') THEN
        RAISE EXCEPTION USING ERRCODE = 'BK006', MESSAGE = 'invalid status transition',
            DETAIL = format('waitlist entry %s is %s; only waiting or offered entries can leave', v_entry.entry_id,
                            (bookingdb._as_entry(v_entry)).status);
    END IF;
    UPDATE bookingdb.waitlist w SET status = 'left', updated_at = now()
     WHERE w.venue_id = v_entry.venue_id AND w.entry_id = v_entry.entry_id
    RETURNING * INTO v_entry;
    -- Leaving with an offer in hand gives the offered hold back (and so
    -- passes it to the next in line).
    IF v_entry.booking_id IS NOT NULL THEN
        UPDATE bookingdb.bookings b SET status = 'released'
         WHERE b.venue_id = v_entry.venue_id AND b.booking_id = v_entry.booking_id
           AND b.status = 'held' AND b.expires_at > now();
    END IF;
    RETURN bookingdb._as_entry(v_entry);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.leave_waitlist(bigint, bigint) IS
    'Takes an entry off the waitlist (status left); an entry holding an offer releases the offered hold, '
    'which passes to the next in line. Returns the entry. Refusals: BK006 already booked, lapsed or left; '
    'BK007 unknown venue or entry.';

CREATE FUNCTION bookingdb.waitlist(venue_id bigint, include_closed boolean DEFAULT false)
RETURNS SETOF bookingdb.waitlist_entry
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    PERFORM bookingdb._require_venue(waitlist.venue_id);
    RETURN QUERY
        SELECT e.*
          FROM bookingdb.waitlist w
         CROSS JOIN LATERAL bookingdb._as_entry(ROW(w.*)::bookingdb.waitlist) AS e
         WHERE w.venue_id = waitlist.venue_id
           AND (include_closed OR w.status IN ('waiting', 'offered'))
         ORDER BY w.status <> 'offered', w.priority DESC, w.created_at, w.entry_id;
END
$$;

COMMENT ON FUNCTION bookingdb.waitlist(bigint, boolean) IS
    'The venue''s waitlist: entries holding an offer, then waiting entries in serving order (priority, then '
    'first come); with include_closed also booked, lapsed and left ones. status is effective: an offer whose '
    'hold has lapsed reads lapsed. Refusals: BK007 unknown venue.';

CREATE FUNCTION bookingdb.process_waitlist(venue_id bigint, max_entries int DEFAULT 100)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    PERFORM bookingdb._require_venue(process_waitlist.venue_id);
    IF max_entries IS NULL OR max_entries < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'max_entries must be at least 1',
            DETAIL = format('max_entries: %s', coalesce(max_entries::text, 'NULL'));
    END IF;
    RETURN bookingdb._process_waitlist(process_waitlist.venue_id, max_entries);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.process_waitlist(bigint, int) IS
    'Serves the venue''s waitlist now: expires lapsed holds in the way of waiting entries (and lapsed offers), '
    'then offers what is free to up to max_entries waiting entries in order; returns how many got an offer. '
    'Needed only where no sweeper runs: cancellations and releases offer at once. Refusals: BK007, BK008.';
