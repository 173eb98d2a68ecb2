-- Read-only availability questions. They answer from the same indexes, the
-- same occupancy rule and the same venue rules the writers use, and treat a
-- lapsed hold as free. Each is one call (one round trip).
--
-- The ones that generate candidate slots run with jit = off: a generic plan
-- estimates slot grids and unnest() far above what they are, which crossed
-- the JIT threshold and spent half a second compiling a 3 ms query
-- (measured at 1M bookings).

-- BK011 for a missing, empty or unbounded window; BK008 for one longer than
-- a year (a question that big is a report, not a page).
CREATE FUNCTION bookingdb._check_window(p_window tstzrange)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_window IS NULL OR isempty(p_window) OR lower_inf(p_window) OR upper_inf(p_window)
       OR NOT isfinite(lower(p_window)) OR NOT isfinite(upper(p_window)) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK011', MESSAGE = 'invalid time window',
            DETAIL = format('window: %s', coalesce(p_window::text, 'NULL')),
            HINT = 'Give a finite, non-empty range such as [2027-03-28 00:00+00, 2027-03-29 00:00+00).';
    END IF;
    IF upper(p_window) - lower(p_window) > interval '366 days' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'window longer than a year',
            DETAIL = format('window: %s', p_window);
    END IF;
END
$$;

-- An interval as plain elapsed time ('1 day' = 24 hours), so adding it to an
-- instant never depends on the session's TimeZone. NULL for a non-positive
-- or missing one.
CREATE FUNCTION bookingdb._elapsed(p_interval interval)
RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- NULL when not positive, or longer than any length a caller accepts
    -- (100 years; 'infinity' too), so no caller overflows converting it.
    SELECT CASE WHEN extract(epoch FROM p_interval) > 0
                 AND extract(epoch FROM p_interval) < 3162240000  -- 100 years of 366 days
                THEN make_interval(secs => extract(epoch FROM p_interval)::float8) END
$$;

-- Occupancy of resources over a span, as segments of constant use: a
-- resource has `units` in use during `seg` (only segments with units > 0).
-- Built from the active, unlapsed allocations by a sweep over their start
-- (+q) and end (-q) events; exclusive and shared resources alike. plpgsql
-- for Citus, as _shared_overlaps (020_validation.sql).
CREATE FUNCTION bookingdb._occupancy(p_venue_id bigint, p_resource_ids bigint[], p_span tstzrange)
RETURNS TABLE (resource_id bigint, seg tstzrange, units int)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT s.resource_id, s.seg, s.units
      FROM (SELECT e.resource_id,
                   tstzrange(e.at, lead(e.at) OVER w) AS seg,
                   (sum(e.delta) OVER (w ROWS UNBOUNDED PRECEDING))::int AS units
              FROM (SELECT a.resource_id, x.at, sum(x.delta) AS delta
                      FROM (-- Two branches, one per partial index (exclusive
                            -- and shared allocations): a plain "active"
                            -- matches neither index and would scan the venue.
                            SELECT a.resource_id, a.blocked, a.quantity
                              FROM bookingdb.allocations a
                             WHERE a.venue_id = p_venue_id
                               AND a.resource_id = ANY (p_resource_ids)
                               AND a.active AND a.exclusive
                               AND a.blocked && p_span
                               AND (a.expires_at IS NULL OR a.expires_at > now())
                            UNION ALL
                            SELECT a.resource_id, a.blocked, a.quantity
                              FROM bookingdb.allocations a
                             WHERE a.venue_id = p_venue_id
                               AND a.resource_id = ANY (p_resource_ids)
                               AND a.active AND NOT a.exclusive
                               AND a.blocked && p_span
                               AND (a.expires_at IS NULL OR a.expires_at > now())) AS a,
                           LATERAL (VALUES (lower(a.blocked), a.quantity),
                                           (upper(a.blocked), -a.quantity)) AS x(at, delta)
                     GROUP BY a.resource_id, x.at) AS e
            WINDOW w AS (PARTITION BY e.resource_id ORDER BY e.at)) AS s
     WHERE s.units > 0;
END
$$;

-- Whether each request could be booked now as far as time and capacity go,
-- for many requests in one query (check_availability asks one,
-- check_availability_many up to a thousand). The input is flat: element i
-- says request p_idx[i] wants p_quantity[i] units of p_resource_ids[i] for
-- [p_starts[i], p_ends[i]). Per request: how many distinct resources it
-- named (wanted) and how many of them are in the venue (known; the caller
-- compares them), and whether every one of them has room (plus buffers) and
-- the venue's time rules allow the start.
CREATE FUNCTION bookingdb._requests_free(
    v bookingdb.venues, p_idx int[], p_resource_ids bigint[], p_starts timestamptz[],
    p_ends timestamptz[], p_quantity int[], p_exclude_booking_id bigint)
RETURNS TABLE (idx int, wanted int, known int, available boolean)
LANGUAGE plpgsql STABLE
SET enable_indexscan = off
AS $$
#variable_conflict use_column
BEGIN
    -- plpgsql, not sql: called in an expression, an SQL function would be
    -- planned again on every call; plpgsql keeps its plan.
    RETURN QUERY
    SELECT q.idx, count(DISTINCT q.rid)::int, count(DISTINCT r.resource_id)::int,
           coalesce(bool_and(r.resource_id IS NOT NULL AND q.qty <= r.sell_limit AND CASE
               WHEN r.capacity = 1 THEN NOT EXISTS (
                   SELECT 1 FROM bookingdb.allocations a
                    WHERE a.venue_id = v.venue_id AND a.resource_id = r.resource_id
                      AND a.active AND a.exclusive
                      AND a.blocked && tstzrange(q.s - r.buffer_before, q.e + r.buffer_after)
                      AND (a.expires_at IS NULL OR a.expires_at > now())
                      AND a.booking_id IS DISTINCT FROM p_exclude_booking_id)
               ELSE bookingdb._max_occupancy(v.venue_id, r.resource_id,
                        tstzrange(q.s - r.buffer_before, q.e + r.buffer_after),
                        p_exclude_booking_id, r.sell_limit, q.qty) + q.qty <= r.sell_limit
           END), false)
           AND bookingdb._time_rule_refusal(v, min(q.s), min(q.e)) IS NULL
      FROM unnest(p_idx, p_resource_ids, p_starts, p_ends, p_quantity) AS q(idx, rid, s, e, qty)
      LEFT JOIN bookingdb.resources r ON r.venue_id = v.venue_id AND r.resource_id = q.rid
     GROUP BY q.idx
     ORDER BY q.idx;
END
$$;

CREATE FUNCTION bookingdb.check_availability(
    venue_id bigint, resource_ids bigint[], starts_at timestamptz, ends_at timestamptz,
    quantity int DEFAULT 1, exclude_booking_id bigint DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_variable
DECLARE
    v      bookingdb.venues := bookingdb._require_venue(venue_id);
    v_n    int := coalesce(cardinality(resource_ids), 0);
    v_slot record;
BEGIN
    PERFORM bookingdb._check_range(starts_at, ends_at);
    IF quantity IS NULL OR quantity < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK017', MESSAGE = 'quantity not allowed',
            DETAIL = format('quantity: %s', coalesce(quantity::text, 'NULL'));
    END IF;
    SELECT * INTO v_slot
      FROM bookingdb._requests_free(v, array_fill(0, ARRAY[v_n]), resource_ids,
                                    array_fill(starts_at, ARRAY[v_n]), array_fill(ends_at, ARRAY[v_n]),
                                    array_fill(quantity, ARRAY[v_n]), exclude_booking_id);
    PERFORM bookingdb._check_resource_list(v.venue_id, resource_ids, coalesce(v_slot.known, 0));
    RETURN v_slot.available;
END
$$;

COMMENT ON FUNCTION bookingdb.check_availability(bigint, bigint[], timestamptz, timestamptz, int, bigint) IS
    'True when a booking of quantity units on every resource for [starts_at, ends_at) (plus buffers) would be '
    'accepted right now as far as time and capacity go: free, not in the past, within min_notice/max_advance '
    'and opening hours. Lapsed holds count as free; exclude_booking_id ignores that booking (to test a move). '
    'Quantity above capacity answers false. Refusals: BK007 unknown venue/resource, BK008 empty resource list, '
    'BK011 bad range, BK017 quantity < 1.';

-- An instant from JSON text: ISO 8601; without an offset it is a local time
-- at the venue (never the session's TimeZone).
CREATE FUNCTION bookingdb._json_instant(p_value jsonb, p_timezone text, p_what text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_text text := p_value #>> '{}';
BEGIN
    IF jsonb_typeof(p_value) IS DISTINCT FROM 'string'
       OR v_text !~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}(:?\d{2})?)?$' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = format('%s must be an ISO 8601 time', p_what),
            DETAIL = format('%s: %s', p_what, coalesce(p_value::text, 'missing')),
            HINT = 'For example "2027-03-28T19:00:00+01:00"; without an offset it is the venue''s local time.';
    END IF;
    BEGIN
        IF v_text ~ '(Z|z|[+-]\d{2}(:?\d{2})?)$' THEN
            RETURN v_text::timestamptz;
        END IF;
        RETURN v_text::timestamp AT TIME ZONE p_timezone;
    EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format
                   OR invalid_time_zone_displacement_value THEN
        -- The shape matched but the date or offset does not exist (Feb 30, +99).
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = format('%s is not a valid time', p_what),
            DETAIL = format('%s: %s', p_what, p_value);
    END;
END
$$;

CREATE FUNCTION bookingdb.check_availability_many(venue_id bigint, requests jsonb)
RETURNS TABLE (idx int, available boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $$
#variable_conflict use_variable
DECLARE
    v              bookingdb.venues := bookingdb._require_venue(venue_id);
    v_n            int;
    v_request      jsonb;
    v_id           bigint;
    v_starts       timestamptz;
    v_ends         timestamptz;
    v_quantity     int;
    v_idx          int[] := '{}';
    v_ids          bigint[] := '{}';
    v_all_starts   timestamptz[] := '{}';
    v_all_ends     timestamptz[] := '{}';
    v_all_quantity int[] := '{}';
    v_slot         record;
BEGIN
    IF requests IS NULL OR jsonb_typeof(requests) <> 'array' OR jsonb_array_length(requests) > 1000 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'requests must be a JSON array of at most 1000 objects',
            DETAIL = format('requests: %s', coalesce(jsonb_typeof(requests), 'NULL'));
    END IF;
    FOR v_n, v_request IN
        SELECT (e.n - 1)::int, e.value FROM jsonb_array_elements(requests) WITH ORDINALITY AS e(value, n)
    LOOP
        IF jsonb_typeof(v_request) <> 'object'
           OR jsonb_typeof(v_request -> 'resource_ids') IS DISTINCT FROM 'array'
           OR jsonb_array_length(v_request -> 'resource_ids') = 0
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(v_request -> 'resource_ids') AS x
                       WHERE jsonb_typeof(x) <> 'number' OR (x #>> '{}') !~ '^\d{1,18}$')
           OR (v_request ? 'quantity' AND ((v_request ->> 'quantity') !~ '^-?\d{1,9}$'
                                           OR jsonb_typeof(v_request -> 'quantity') <> 'number')) THEN
            RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'malformed availability request',
                DETAIL = format('request %s: %s', v_n, left(v_request::text, 200)),
                HINT = 'Each request is {"resource_ids": [ids], "starts_at": "...", "ends_at": "...", "quantity": n}.';
        END IF;
        v_starts := bookingdb._json_instant(v_request -> 'starts_at', v.timezone, format('request %s starts_at', v_n));
        v_ends := bookingdb._json_instant(v_request -> 'ends_at', v.timezone, format('request %s ends_at', v_n));
        v_quantity := coalesce((v_request ->> 'quantity')::int, 1);
        IF v_ends <= v_starts THEN
            RAISE EXCEPTION USING ERRCODE = 'BK011', MESSAGE = 'invalid time range',
                DETAIL = format('request %s: starts_at %s, ends_at %s', v_n, v_starts, v_ends);
        END IF;
        IF v_quantity < 1 THEN
            RAISE EXCEPTION USING ERRCODE = 'BK017', MESSAGE = 'quantity not allowed',
                DETAIL = format('request %s: quantity %s', v_n, v_quantity);
        END IF;
        -- One flat element per (request, resource).
        FOR v_id IN SELECT (x #>> '{}')::bigint FROM jsonb_array_elements(v_request -> 'resource_ids') AS x LOOP
            v_idx := v_idx || v_n;
            v_ids := v_ids || v_id;
            v_all_starts := v_all_starts || v_starts;
            v_all_ends := v_all_ends || v_ends;
            v_all_quantity := v_all_quantity || v_quantity;
        END LOOP;
    END LOOP;

    FOR v_slot IN
        SELECT * FROM bookingdb._requests_free(v, v_idx, v_ids, v_all_starts, v_all_ends, v_all_quantity, NULL)
    LOOP
        IF v_slot.known <> v_slot.wanted THEN
            RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'resource not found in this venue',
                DETAIL = format('request %s: %s of %s resource_ids are not in venue %s', v_slot.idx,
                                v_slot.wanted - v_slot.known, v_slot.wanted, v.venue_id);
        END IF;
        idx := v_slot.idx;
        available := v_slot.available;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION bookingdb.check_availability_many(bigint, jsonb) IS
    'Answers many check_availability questions in one call: requests is a JSON array of '
    '{"resource_ids": [...], "starts_at": "...", "ends_at": "...", "quantity": n (default 1)}, times in ISO 8601 '
    '(no offset = the venue''s local time); returns one row per request, idx counting from 0 in array order. '
    'Refusals: BK007 unknown venue/resource, BK008 malformed request (DETAIL names its idx) or more than 1000, '
    'BK011 bad range, BK017 quantity < 1.';

CREATE FUNCTION bookingdb.availability(
    venue_id bigint, "window" tstzrange, duration interval, step interval DEFAULT NULL,
    resource_ids bigint[] DEFAULT NULL, party_size int DEFAULT 1, quantity int DEFAULT 1)
RETURNS TABLE (resource_id bigint, starts_at timestamptz, ends_at timestamptz, remaining int)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
SET jit = off
SET enable_indexscan = off
AS $$
#variable_conflict use_variable
DECLARE
    v          bookingdb.venues := bookingdb._require_venue(venue_id);
    v_duration interval := bookingdb._elapsed(duration);
    v_step     interval;
    v_first    timestamptz;
    v_last     timestamptz;
    v_open     tstzmultirange;
    v_span     tstzrange;
    v_ids      bigint[];
    v_shared   bigint[];
    v_before   interval;
    v_after    interval;
BEGIN
    PERFORM bookingdb._check_window("window");
    IF v_duration IS NULL OR v_duration > interval '31 days' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'duration must be positive and at most 31 days',
            DETAIL = format('duration: %s', coalesce(duration::text, 'NULL'));
    END IF;
    v_step := bookingdb._elapsed(coalesce(step, v.slot_step));
    IF v_step IS NULL OR v_step < interval '1 minute' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'step must be at least 1 minute',
            DETAIL = format('step: %s', step);
    END IF;
    PERFORM bookingdb._check_party_limits(v, party_size);
    IF quantity IS NULL OR quantity < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK017', MESSAGE = 'quantity not allowed',
            DETAIL = format('quantity: %s', coalesce(quantity::text, 'NULL'));
    END IF;
    IF resource_ids IS NOT NULL THEN
        PERFORM bookingdb._check_resource_list(v.venue_id, resource_ids, NULL);
    END IF;
    -- The resources that fit the party and the quantity, and the longest
    -- buffers among them.
    SELECT array_agg(r.resource_id ORDER BY r.resource_id),
           array_agg(r.resource_id ORDER BY r.resource_id) FILTER (WHERE r.capacity > 1),
           max(r.buffer_before), max(r.buffer_after)
      INTO v_ids, v_shared, v_before, v_after
      FROM bookingdb.resources r
     WHERE r.venue_id = v.venue_id
       AND (resource_ids IS NULL OR r.resource_id = ANY (resource_ids))
       AND party_size >= r.seats_min AND party_size <= coalesce(r.seats_max, party_size)
       AND quantity <= r.sell_limit;

    -- Slots start no earlier than now and min_notice allow, no later than
    -- max_advance allows, and end within the window.
    -- An exclusive lower bound '(' excludes a slot starting exactly there.
    v_first := greatest(lower("window") + CASE WHEN lower_inc("window") THEN interval '0'
                                                ELSE interval '1 microsecond' END,
                        bookingdb._notice_end(v));
    v_last := least(upper("window") - v_duration, bookingdb._advance_end(v));
    IF v_first > v_last OR v_ids IS NULL THEN
        RETURN;
    END IF;
    -- The slot grid starts where each opening interval starts (local
    -- midnight for a venue without hours), every step.
    v_open := bookingdb._open_ranges(v.venue_id, v.timezone, "window");
    -- No allocation outside this span can meet a slot plus its buffers.
    v_span := tstzrange(v_first - v_before, v_last + v_duration + v_after);

    RETURN QUERY
    WITH res AS MATERIALIZED (
        SELECT r.resource_id, r.capacity, r.sell_limit, r.buffer_before, r.buffer_after
          FROM bookingdb.resources r
         WHERE r.venue_id = v.venue_id AND r.resource_id = ANY (v_ids)
    ),
    -- Shared resources: occupancy segments (units in use over time).
    occ AS MATERIALIZED (
        SELECT o.resource_id, o.seg, o.units
          FROM bookingdb._occupancy(v.venue_id, coalesce(v_shared, '{}'), v_span) AS o
    ),
    -- Per resource, where this request would not fit: an exclusive
    -- resource wherever it is taken, a shared one where fewer than quantity
    -- units are left.
    taken AS (
        SELECT a.resource_id, a.blocked AS span
          FROM bookingdb.allocations a
         WHERE a.venue_id = v.venue_id AND a.resource_id = ANY (v_ids)
           AND a.active AND a.exclusive
           AND a.blocked && v_span
           AND (a.expires_at IS NULL OR a.expires_at > now())
        UNION ALL
        SELECT o.resource_id, o.seg
          FROM occ o JOIN res r ON r.resource_id = o.resource_id
         WHERE o.units > r.sell_limit - quantity
    ),
    -- The starts each taken span rules out: a slot starting at s blocks
    -- [s - before, s + duration + after), which meets [lo, hi) exactly
    -- when lo - duration - after < s < hi + before.
    ruled_out AS (
        SELECT t.resource_id,
               range_agg(tstzrange(lower(t.span) - v_duration - r.buffer_after,
                                   upper(t.span) + r.buffer_before, '()')) AS starts
          FROM taken t JOIN res r ON r.resource_id = t.resource_id
         GROUP BY t.resource_id
    ),
    -- Per resource and opening interval, the starts left: the interval's
    -- possible starts minus the ruled-out ones. Slots are generated only
    -- there, instead of testing every grid point.
    allowed AS (
        SELECT r.resource_id, r.capacity, r.sell_limit, r.buffer_before, r.buffer_after, o AS open_range, piece
          FROM res r
         CROSS JOIN unnest(v_open) AS o
          LEFT JOIN ruled_out x ON x.resource_id = r.resource_id
         CROSS JOIN LATERAL unnest(
               CASE WHEN greatest(lower(o), v_first) <= least(upper(o) - v_duration, v_last)
                    THEN tstzmultirange(tstzrange(greatest(lower(o), v_first),
                                                  least(upper(o) - v_duration, v_last), '[]'))
                    ELSE '{}'::tstzmultirange END
               - coalesce(x.starts, '{}'::tstzmultirange)) AS piece
    )
    SELECT al.resource_id, st.s, st.s + v_duration,
           CASE WHEN al.capacity = 1 THEN 1
                ELSE al.sell_limit - coalesce(
                    (SELECT max(o.units) FROM occ o
                      WHERE o.resource_id = al.resource_id
                        AND o.seg && tstzrange(st.s - al.buffer_before, st.s + v_duration + al.buffer_after)), 0)
           END
      FROM allowed al,
           generate_series(
               ceil(extract(epoch FROM lower(al.piece) - lower(al.open_range)) / extract(epoch FROM v_step))::int,
               floor(extract(epoch FROM upper(al.piece) - lower(al.open_range)) / extract(epoch FROM v_step))::int
           ) AS k,
           LATERAL (SELECT lower(al.open_range) + k * v_step AS s) AS st
     WHERE st.s <@ al.piece
     ORDER BY al.resource_id, st.s;
END
$$;

COMMENT ON FUNCTION bookingdb.availability(bigint, tstzrange, interval, interval, bigint[], int, int) IS
    'Every bookable slot of length duration inside window: rows (resource_id, starts_at, ends_at, remaining '
    'units) for the resources (default: all of the venue''s) that fit party_size and quantity, on a grid of '
    'step (default: the venue''s slot_step) from the start of each opening interval (local midnight for a venue '
    'without hours). Honours opening hours, date overrides, buffers, min_notice, max_advance and current '
    'bookings; lapsed holds count as free. duration and step are elapsed time (''1 day'' = 24 hours). '
    'Refusals: BK007 unknown venue/resource, BK008 bad duration/step or window over a year, BK011 bad window, '
    'BK014 party size outside the venue''s limits, BK017 quantity < 1.';

CREATE FUNCTION bookingdb.free_time(venue_id bigint, resource_id bigint, "window" tstzrange)
RETURNS tstzmultirange
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
SET jit = off
SET enable_indexscan = off
AS $$
#variable_conflict use_variable
DECLARE
    r      bookingdb.resources := bookingdb._require_resource(venue_id, resource_id);
    v      bookingdb.venues := bookingdb._require_venue(venue_id);
    v_full tstzmultirange;
BEGIN
    PERFORM bookingdb._check_window("window");
    SELECT range_agg(o.seg) INTO v_full
      FROM bookingdb._occupancy(v.venue_id, ARRAY[r.resource_id], "window") AS o
     WHERE o.units >= r.sell_limit;
    RETURN bookingdb._open_ranges(v.venue_id, v.timezone, "window")
         * tstzmultirange("window")
         * tstzmultirange(tstzrange(bookingdb._notice_end(v), NULL))
         - coalesce(v_full, '{}'::tstzmultirange);
END
$$;

COMMENT ON FUNCTION bookingdb.free_time(bigint, bigint, tstzrange) IS
    'The parts of window when the resource is open (opening hours), not before now() + min_notice, and not '
    'fully taken (a shared resource is free while any unit is). Taken time includes the buffers of existing '
    'bookings; a new booking also needs its own buffers free. Refusals: BK007 unknown venue/resource, '
    'BK008 window over a year, BK011 bad window.';

CREATE FUNCTION bookingdb.suggest_alternatives(
    venue_id bigint, resource_ids bigint[], starts_at timestamptz, ends_at timestamptz,
    party_size int DEFAULT 1, max_results int DEFAULT 5)
RETURNS SETOF bookingdb.alternative
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $$
#variable_conflict use_variable
DECLARE
    v_starts timestamptz := starts_at;
    v_ids    bigint[] := resource_ids;
BEGIN
    PERFORM bookingdb._require_venue(venue_id);
    PERFORM bookingdb._check_range(starts_at, ends_at);
    IF ends_at - starts_at > interval '31 days' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'alternatives are for slots of at most 31 days',
            DETAIL = format('starts_at: %s, ends_at: %s', starts_at, ends_at);
    END IF;
    PERFORM bookingdb._check_resource_list(venue_id, resource_ids, NULL);
    IF max_results IS NULL OR max_results NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'max_results must be from 1 to 100',
            DETAIL = format('max_results: %s', coalesce(max_results::text, 'NULL'));
    END IF;
    -- Same length, within a day either side, on any resource that fits the
    -- party. Score in (0, 1], higher is better: one hour away costs as much
    -- as a different resource twice, and every wasted seat a little.
    RETURN QUERY
    SELECT a.resource_id, a.starts_at, a.ends_at,
           1.0 / (1.0 + abs(extract(epoch FROM a.starts_at - v_starts)) / 3600.0
                  + CASE WHEN a.resource_id = ANY (v_ids) THEN 0 ELSE 0.5 END
                  + 0.05 * coalesce(r.seats_max - party_size, 0))::float8 AS score
      FROM bookingdb.availability(venue_id, tstzrange(starts_at - interval '24 hours', ends_at + interval '24 hours'),
                                  ends_at - starts_at, NULL, NULL, party_size, 1) AS a
      JOIN bookingdb.resources r ON r.venue_id = suggest_alternatives.venue_id AND r.resource_id = a.resource_id
     WHERE NOT (a.starts_at = v_starts AND a.resource_id = ANY (v_ids))
     ORDER BY 4 DESC, 2, 1
     LIMIT max_results;
END
$$;

COMMENT ON FUNCTION bookingdb.suggest_alternatives(bigint, bigint[], timestamptz, timestamptz, int, int) IS
    'Up to max_results bookable slots of the same length near a refused request: on the same resources or '
    'others that fit the party, within a day either side, best first by score (in (0, 1]; closer in time, '
    'the same resource and fewer wasted seats score higher). Refusals: BK007 unknown venue/resource, '
    'BK008 bad max_results or a slot over 31 days, BK011 bad range, BK014 party size outside the venue''s limits.';

CREATE FUNCTION bookingdb.table_combinations(
    venue_id bigint, starts_at timestamptz, ends_at timestamptz, party_size int, max_tables int DEFAULT 3)
RETURNS TABLE (rank int, resource_ids bigint[], total_seats int, wasted_seats int,
               total_min_spend_cents int, total_deposit_cents int, zone text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET plan_cache_mode = force_generic_plan
SET jit = off
SET enable_indexscan = off
AS $$
#variable_conflict use_variable
DECLARE
    v bookingdb.venues := bookingdb._require_venue(venue_id);
BEGIN
    PERFORM bookingdb._check_range(starts_at, ends_at);
    PERFORM bookingdb._check_party_limits(v, party_size);
    IF max_tables IS NULL OR max_tables NOT BETWEEN 1 AND 6 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'max_tables must be from 1 to 6',
            DETAIL = format('max_tables: %s', coalesce(max_tables::text, 'NULL'));
    END IF;
    IF bookingdb._time_rule_refusal(v, starts_at, ends_at) IS NOT NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    WITH RECURSIVE free AS MATERIALIZED (
        -- Tables (exclusive resources) free for the slot plus their buffers.
        SELECT r.resource_id, r.seats_min, coalesce(r.seats_max, party_size) AS seats,
               r.min_spend_cents, r.deposit_cents, r.zone
          FROM bookingdb.resources r
         WHERE r.venue_id = v.venue_id AND r.capacity = 1
           AND party_size >= r.seats_min
           AND NOT EXISTS (
               SELECT 1 FROM bookingdb.allocations a
                WHERE a.venue_id = r.venue_id AND a.resource_id = r.resource_id
                  AND a.active AND a.exclusive
                  AND a.blocked && tstzrange(starts_at - r.buffer_before, ends_at + r.buffer_after)
                  AND (a.expires_at IS NULL OR a.expires_at > now()))
    ),
    link AS MATERIALIZED (
        SELECT l.a AS x, l.b AS y FROM bookingdb.resource_links l WHERE l.venue_id = v.venue_id
        UNION ALL
        SELECT l.b, l.a FROM bookingdb.resource_links l WHERE l.venue_id = v.venue_id
    ),
    -- Connected sets of free linked tables in one zone, grown one linked
    -- table at a time while they do not yet seat the party (a set that
    -- already does only wastes seats by growing).
    combo (ids, seats, zone) AS (
        SELECT ARRAY[f.resource_id], f.seats, f.zone FROM free f
        UNION
        SELECT (SELECT array_agg(x ORDER BY x) FROM unnest(c.ids || f.resource_id) AS x),
               c.seats + f.seats, c.zone
          FROM combo c
          JOIN link l ON l.x = ANY (c.ids)
          JOIN free f ON f.resource_id = l.y
         WHERE f.resource_id <> ALL (c.ids)
           AND cardinality(c.ids) < max_tables
           AND c.seats < party_size
           AND f.zone IS NOT DISTINCT FROM c.zone
    ),
    fitting AS (
        SELECT DISTINCT c.ids, c.seats, c.zone FROM combo c
         WHERE c.seats >= party_size
           AND party_size >= (SELECT max(f.seats_min) FROM free f WHERE f.resource_id = ANY (c.ids))
    )
    SELECT (row_number() OVER (ORDER BY fi.seats - party_size, m.spend, cardinality(fi.ids), fi.ids))::int,
           fi.ids, fi.seats, fi.seats - party_size, m.spend, m.deposit, fi.zone
      FROM fitting fi,
           LATERAL (SELECT sum(f.min_spend_cents)::int AS spend, sum(f.deposit_cents)::int AS deposit
                      FROM free f WHERE f.resource_id = ANY (fi.ids)) AS m
     ORDER BY 1;
END
$$;

COMMENT ON FUNCTION bookingdb.table_combinations(bigint, timestamptz, timestamptz, int, int) IS
    'Ranked sets of up to max_tables linked tables (link_resources) in one zone that are all free for '
    '[starts_at, ends_at) and seat the party together (party_size between the largest seats_min and the sum '
    'of seats_max): fewest wasted seats first, then lowest total minimum spend, then fewest tables. Single '
    'tables count as sets of one; sets are not grown past the first size that seats the party. Empty when '
    'the venue''s time rules refuse the slot. Book one with create_booking_atomic(resource_ids => ...). '
    'Refusals: BK007 unknown venue, BK008 max_tables outside 1-6, BK011 bad range, BK014 party size outside '
    'the venue''s limits.';
