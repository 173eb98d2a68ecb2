-- Reading the change feed, and what operators watch: stats and health.

-- Gives the venue's unnumbered change rows the next numbers. Rows are
-- numbered when they are first read, not when written: a number taken at
-- insert time follows insert order, not commit order, so a consumer who had
-- read 102 could later miss 101 committing. Here, under the venue's feed
-- row lock, a fresh snapshot numbers every row committed so far; a row
-- that commits later gets a later number. Rows numbered together are ordered
-- by when they were written, so one booking's changes keep their order.
--
-- Custom plans: a plan cached while the feed was small (numbering rows
-- joined on the venue alone, the change id as a filter) made each call read
-- every row of the venue, measured at 216 ms for 500 rows after 2,500;
-- planned with the table's current size it is an index lookup per row.
CREATE FUNCTION bookingdb._number_changes(p_venue_id bigint)
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_last  bigint;
    v_count bigint;
BEGIN
    SELECT h.last_seq INTO v_last FROM bookingdb.feed_heads h WHERE h.venue_id = p_venue_id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO bookingdb.feed_heads (venue_id) VALUES (p_venue_id) ON CONFLICT DO NOTHING;
        SELECT h.last_seq INTO v_last FROM bookingdb.feed_heads h WHERE h.venue_id = p_venue_id FOR UPDATE;
    END IF;
    -- A new statement, so a new snapshot: it sees what the previous holder
    -- of the lock numbered.
    WITH todo AS (
        SELECT c.change_id, row_number() OVER (ORDER BY c.logged_at, c.change_id) AS n
          FROM bookingdb.changes c
         WHERE c.venue_id = p_venue_id AND c.seq IS NULL
    ), numbered AS (
        UPDATE bookingdb.changes c
           SET seq = v_last + todo.n
          FROM todo
         WHERE c.venue_id = p_venue_id AND c.change_id = todo.change_id
        RETURNING 1
    )
    SELECT count(*) INTO v_count FROM numbered;
    UPDATE bookingdb.feed_heads h SET last_seq = v_last + v_count WHERE h.venue_id = p_venue_id;
END
$$;

CREATE FUNCTION bookingdb.changes_since(venue_id bigint, after_seq bigint DEFAULT 0, max_rows int DEFAULT 1000)
RETURNS SETOF bookingdb.change
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_variable
BEGIN
    PERFORM bookingdb._require_venue(venue_id);
    IF after_seq IS NULL OR after_seq < 0 OR max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'after_seq must be >= 0 and max_rows 1 to 10000',
            DETAIL = format('after_seq: %s, max_rows: %s', coalesce(after_seq::text, 'NULL'),
                            coalesce(max_rows::text, 'NULL'));
    END IF;
    IF EXISTS (SELECT 1 FROM bookingdb.changes c WHERE c.venue_id = venue_id AND c.seq IS NULL) THEN
        PERFORM bookingdb._number_changes(venue_id);
    END IF;
    RETURN QUERY
        SELECT c.seq, c.at, c.booking_id, c.resource_id, c.starts_at, c.ends_at, c.old_status,
               c.new_status, c.action, c.reference
          FROM bookingdb.changes c
         WHERE c.venue_id = venue_id AND c.seq > after_seq
         ORDER BY c.seq
         LIMIT max_rows;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.changes_since(bigint, bigint, int) IS
    'The venue''s change feed after after_seq, oldest first, at most max_rows: seq, at, booking_id, '
    'resource_id, starts_at, ends_at, old_status, new_status, action (create, waitlist_offer, confirmed, '
    'cancelled, expired, rescheduled, extended, ...), reference. One row per booking change and resource. '
    'seq numbers are per venue, gap-free and follow commit order, so a consumer that remembers the last seq it '
    'saw misses nothing and sees nothing twice. Rows are numbered on first read, so this function writes '
    '(it cannot run on a read-only standby). Listen on channel bookingdb_changes (payload: venue_id) to know '
    'when to call it. Refusals: BK007 unknown venue, BK008 bad after_seq or max_rows.';

CREATE FUNCTION bookingdb.prune_changes(venue_id bigint, older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_count bigint;
BEGIN
    PERFORM bookingdb._require_venue(venue_id);
    IF older_than IS NULL OR older_than < interval '0' OR older_than > interval '100 years' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'older_than must be from 0 to 100 years',
            DETAIL = format('older_than: %s', coalesce(older_than::text, 'NULL'));
    END IF;
    -- Only rows already numbered: an unnumbered row has not been read yet.
    DELETE FROM bookingdb.changes c
     WHERE c.venue_id = venue_id AND c.seq IS NOT NULL AND c.at < now() - older_than;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.prune_changes(bigint, interval) IS
    'Deletes the venue''s feed rows older than older_than (default 30 days) that a consumer has already been '
    'able to read; returns how many. seq numbers are never reused. Refusals: BK007, BK008.';

CREATE FUNCTION bookingdb.record_refusal(venue_id bigint, code text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    -- Unknown venues and codes are ignored: a report must never fail the
    -- caller's error handling.
    IF venue_id IS NULL OR NOT EXISTS (SELECT 1 FROM bookingdb.error_codes() e WHERE e.code = code)
       OR NOT EXISTS (SELECT 1 FROM bookingdb.venues v WHERE v.venue_id = record_refusal.venue_id)
       OR NOT bookingdb._reachable(venue_id) THEN
        RETURN;
    END IF;
    INSERT INTO bookingdb.refusal_counts AS rc (venue_id, code, hour, refusals)
    VALUES (venue_id, code, date_trunc('hour', now()), 1)
    ON CONFLICT ON CONSTRAINT refusal_counts_pkey DO UPDATE SET refusals = rc.refusals + 1;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.record_refusal(bigint, text) IS
    'Counts one refusal (a BK code) for the venue in the current hour, for stats(). A refusal writes nothing in '
    'its own transaction, so clients report it afterwards in a new one; the Python client and the CLI do so '
    'automatically. Unknown venues or codes, and venues the caller is not bound to, are ignored. No refusals.';

CREATE FUNCTION bookingdb.stats(venue_id bigint, since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET jit = off
AS $$
#variable_conflict use_variable
DECLARE
    v        bookingdb.venues := bookingdb._require_venue(venue_id);
    v_since  timestamptz := coalesce(since, now() - interval '7 days');
    v_until  timestamptz := until;
    v_window tstzrange;
BEGIN
    -- Both ends within the supported instants before any arithmetic on
    -- them: near the ends of timestamptz it overflows.
    IF bookingdb._supported_instant(v_since) THEN
        v_until := coalesce(v_until, greatest(now(), v_since) + interval '7 days');
    END IF;
    IF NOT coalesce(bookingdb._supported_instant(v_since) AND bookingdb._supported_instant(v_until), false) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK011', MESSAGE = 'invalid time range',
            DETAIL = format('since: %s, until: %s', v_since, coalesce(v_until::text, 'NULL')),
            HINT = 'since and until must be finite and from 1900 to 9999-12-30, at most 366 days apart.';
    END IF;
    IF v_until <= v_since OR v_until - v_since > interval '366 days' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK011', MESSAGE = 'invalid time range',
            DETAIL = format('since: %s, until: %s (at most 366 days apart)', v_since, v_until);
    END IF;
    v_window := tstzrange(v_since, v_until);
    RETURN jsonb_build_object(
        'venue_id', v.venue_id,
        'since', v_since,
        'until', v_until,
        -- Bookings whose time starts in the window, by effective status.
        'bookings_by_status', (
            SELECT coalesce(jsonb_object_agg(s.status, s.n), '{}')
              FROM (SELECT (bookingdb._as_booking(ROW(b.*)::bookingdb.bookings)).status, count(*) AS n
                      FROM bookingdb.bookings b
                     WHERE b.venue_id = v.venue_id AND b.starts_at <@ v_window
                     GROUP BY 1) AS s),
        -- Holds made in the window and what became of them.
        'holds', (
            SELECT jsonb_build_object(
                       'created', count(*),
                       'confirmed', count(*) FILTER (WHERE h.became = 'confirmed'),
                       'expired', count(*) FILTER (WHERE h.became = 'expired'),
                       'released', count(*) FILTER (WHERE h.became = 'released'),
                       'live', count(*) FILTER (WHERE h.became = 'held'),
                       'conversion_rate', CASE WHEN count(*) > 0
                           THEN round(count(*) FILTER (WHERE h.became = 'confirmed')::numeric / count(*), 4) END)
              FROM (SELECT coalesce((SELECT a2.new_status FROM bookingdb.audit_log a2
                                      WHERE a2.venue_id = a.venue_id AND a2.booking_id = a.booking_id
                                        AND a2.old_status = 'held' AND a2.new_status <> 'held'
                                      ORDER BY a2.version LIMIT 1),
                                    CASE WHEN b.expires_at <= now() THEN 'expired' ELSE 'held' END) AS became
                      FROM bookingdb.audit_log a
                      JOIN bookingdb.bookings b ON b.venue_id = a.venue_id AND b.booking_id = a.booking_id
                     WHERE a.venue_id = v.venue_id AND a.action = 'create' AND a.new_status = 'held'
                       AND a.at <@ v_window) AS h),
        'refusals', (
            SELECT coalesce(jsonb_object_agg(r.code, r.n), '{}')
              FROM (SELECT rc.code, sum(rc.refusals) AS n FROM bookingdb.refusal_counts rc
                     WHERE rc.venue_id = v.venue_id AND rc.hour >= date_trunc('hour', v_since)
                       AND rc.hour < v_until
                     GROUP BY rc.code) AS r),
        -- Share of each resource's unit-time in the window that bookings
        -- occupy or occupied (confirmed, pending, live holds, completed,
        -- no-shows), booked time only (not buffers).
        'utilisation', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'resource_id', u.resource_id, 'name', u.name, 'capacity', u.capacity,
                       'utilisation', round(u.used / (u.capacity * extract(epoch FROM v_until - v_since)), 4))
                       ORDER BY u.resource_id), '[]')
              FROM (SELECT r.resource_id, r.name, r.capacity,
                           coalesce(sum(b.quantity * extract(epoch FROM
                               least(b.ends_at, v_until) - greatest(b.starts_at, v_since))), 0)::numeric AS used
                      FROM bookingdb.resources r
                      LEFT JOIN bookingdb.bookings b
                        ON b.venue_id = r.venue_id AND r.resource_id = ANY (b.resource_ids)
                       AND tstzrange(b.starts_at, b.ends_at) && v_window
                       AND (b.status IN ('pending', 'confirmed', 'completed', 'no_show')
                            OR (b.status = 'held' AND b.expires_at > now()))
                     WHERE r.venue_id = v.venue_id
                     GROUP BY r.resource_id, r.name, r.capacity) AS u),
        -- Occupying bookings by the local hour they start in.
        'bookings_per_hour', (
            SELECT coalesce(jsonb_agg(jsonb_build_object('hour', p.hour, 'bookings', p.n) ORDER BY p.hour), '[]')
              FROM (SELECT date_trunc('hour', b.starts_at AT TIME ZONE v.timezone) AS hour, count(*) AS n
                      FROM bookingdb.bookings b
                     WHERE b.venue_id = v.venue_id AND b.starts_at <@ v_window
                       AND (b.status IN ('pending', 'confirmed', 'completed', 'no_show')
                            OR (b.status = 'held' AND b.expires_at > now()))
                     GROUP BY 1) AS p),
        'timezone', v.timezone);
END
$$;

COMMENT ON FUNCTION bookingdb.stats(bigint, timestamptz, timestamptz) IS
    'Operator statistics for [since, until) (default: the last 7 days to 7 days ahead; at most 366 days): '
    'bookings_by_status (bookings starting in the window), holds (made in the window: created, confirmed, '
    'expired, released, live, conversion_rate), refusals by code (as reported with record_refusal), '
    'utilisation per resource (booked unit-time / capacity x window), bookings_per_hour (local hour of start). '
    'Refusals: BK007 unknown venue, BK011 bad window.';

CREATE FUNCTION bookingdb.health(
    max_unswept interval DEFAULT NULL, max_feed_lag interval DEFAULT NULL,
    max_lock_wait interval DEFAULT '30 seconds', check_invariants boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET jit = off
AS $$
DECLARE
    v_unswept_at  timestamptz;
    v_unswept     bigint;
    v_feed_at     timestamptz;
    v_unread      bigint;
    v_waiting     bigint;
    v_longest     interval;
    v_violations  jsonb;
    v_problems    text[] := '{}';
BEGIN
    PERFORM bookingdb._require_unbound();
    SELECT min(b.expires_at), count(*) INTO v_unswept_at, v_unswept
      FROM bookingdb.bookings b WHERE b.status = 'held' AND b.expires_at <= now();
    SELECT min(c.logged_at), count(*) INTO v_feed_at, v_unread
      FROM bookingdb.changes c WHERE c.seq IS NULL;
    SELECT count(*), max(clock_timestamp() - l.waitstart) INTO v_waiting, v_longest
      FROM pg_locks l
      JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE NOT l.granted AND a.datname = current_database();
    IF check_invariants THEN
        SELECT coalesce(jsonb_agg(jsonb_build_object('invariant', i.invariant, 'detail', i.detail)), '[]')
          INTO v_violations
          FROM (SELECT * FROM bookingdb.verify_invariants() LIMIT 100) AS i;
        IF jsonb_array_length(v_violations) > 0 THEN
            v_problems := v_problems || format('%s invariant violations', jsonb_array_length(v_violations));
        END IF;
        -- A damaged allocation index (I7) gets a line of its own: it is
        -- what lets double bookings in, and the doctor repairs it.
        v_problems := v_problems || coalesce(
            (SELECT array_agg(format('allocation index %s has lost entries: run bookingdb doctor',
                                     split_part(e.detail, ' ', 2)))
               FROM jsonb_to_recordset(v_violations) AS e(invariant text, detail text)
              WHERE e.invariant = 'I7'),
            '{}');
    END IF;
    IF max_unswept IS NOT NULL AND now() - v_unswept_at > max_unswept THEN
        v_problems := v_problems || format('expired holds unswept for %s', now() - v_unswept_at);
    END IF;
    IF max_feed_lag IS NOT NULL AND clock_timestamp() - v_feed_at > max_feed_lag THEN
        v_problems := v_problems || format('change feed unread for %s', clock_timestamp() - v_feed_at);
    END IF;
    IF max_lock_wait IS NOT NULL AND v_longest > max_lock_wait THEN
        v_problems := v_problems || format('a lock wait has lasted %s', v_longest);
    END IF;
    RETURN jsonb_build_object(
        'healthy', cardinality(v_problems) = 0,
        'problems', to_jsonb(v_problems),
        'checked_at', clock_timestamp(),
        'unswept_holds', v_unswept,
        'oldest_unswept_hold_seconds', round(extract(epoch FROM now() - v_unswept_at)::numeric, 3),
        'unread_changes', v_unread,
        'feed_lag_seconds', round(extract(epoch FROM clock_timestamp() - v_feed_at)::numeric, 3),
        'lock_waits', v_waiting,
        'longest_lock_wait_seconds', round(extract(epoch FROM v_longest)::numeric, 3),
        'notify_queue_usage', pg_notification_queue_usage(),
        'invariants_checked', check_invariants,
        'invariant_violations', v_violations);
END
$$;

COMMENT ON FUNCTION bookingdb.health(interval, interval, interval, boolean) IS
    'Health of the whole database as jsonb: healthy (boolean) and problems (why not), unswept expired holds '
    'and the oldest one''s age, unread change-feed rows and their age (feed lag), backends waiting on locks and '
    'the longest wait, NOTIFY queue usage, invariant violations (verify_invariants, first 100, I7 a damaged '
    'allocation index with a problem line of its own; '
    'check_invariants => false skips it, for a cheap liveness probe). Unhealthy when invariants fail, a lock '
    'wait exceeds max_lock_wait (default 30 s), or, when given, unswept holds are older than max_unswept or '
    'the feed is unread for longer than max_feed_lag. Expired holds never affect correctness. No refusals.';
