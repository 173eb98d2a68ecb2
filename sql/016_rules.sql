-- Venue rules, opening hours and per-resource settings, and the helpers that
-- turn a venue's local times into instants.
--
-- Local times become instants with the venue's IANA zone
-- (`timestamp AT TIME ZONE zone`), never the session's TimeZone. In a
-- spring-forward gap a local time that does not exist is read with the
-- offset in force before the gap (01:30 on 2027-03-28 in London is 01:30
-- GMT = 02:30 BST); in a fall-back repeat PostgreSQL takes the later
-- (standard-time) reading.

-- An instant moved by an interval on the venue's local calendar: six months
-- ahead means the same local time six months later, whatever the session's
-- TimeZone and across DST changes.
CREATE FUNCTION bookingdb._local_shift(p_at timestamptz, p_by interval, p_timezone text)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ((p_at AT TIME ZONE p_timezone) + p_by) AT TIME ZONE p_timezone $$;

-- The earliest start min_notice allows: elapsed time from now (two hours
-- of notice are two real hours across a DST change, and '1 day' is 24 h).
-- max_advance, by contrast, counts on the venue's local calendar.
CREATE FUNCTION bookingdb._notice_end(v bookingdb.venues)
RETURNS timestamptz
LANGUAGE sql STABLE
AS $$ SELECT now() + make_interval(secs => extract(epoch FROM v.min_notice)::float8) $$;

-- The latest start max_advance allows, on the venue's local calendar.
CREATE FUNCTION bookingdb._advance_end(v bookingdb.venues)
RETURNS timestamptz
LANGUAGE sql STABLE
AS $$ SELECT bookingdb._local_shift(now(), v.max_advance, v.timezone) $$;

-- A local [day + starts, day + ends) as instants; ends <= starts ends the
-- next day (a bar's 21:00-03:00).
CREATE FUNCTION bookingdb._local_interval(p_day date, p_starts time, p_ends time, p_timezone text)
RETURNS tstzrange
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT tstzrange((p_day + p_starts) AT TIME ZONE p_timezone,
                     (p_day + p_ends + CASE WHEN p_ends <= p_starts THEN interval '1 day'
                                            ELSE interval '0' END) AT TIME ZONE p_timezone)
$$;

-- When the venue is open, as instants, for every local day that can touch
-- p_window (the day before it too: its interval may run past midnight).
-- A day with date overrides uses them (a NULL row closes it); any other day
-- uses the weekly hours, or the whole day when the venue has no weekly hours.
CREATE FUNCTION bookingdb._open_ranges(p_venue_id bigint, p_timezone text, p_window tstzrange)
RETURNS tstzmultirange
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    -- plpgsql, not sql: called in an expression, an SQL function would be
    -- planned again on every call; plpgsql keeps its plan.
    RETURN (
    WITH days AS (
        SELECT d0 + g AS day
          FROM (SELECT (lower(p_window) AT TIME ZONE p_timezone)::date - 1 AS d0,
                       (upper(p_window) AT TIME ZONE p_timezone)::date AS d1) AS span,
               generate_series(0, span.d1 - span.d0) AS g
    ),
    weekly AS (
        SELECT EXISTS (SELECT 1 FROM bookingdb.opening_hours h WHERE h.venue_id = p_venue_id) AS any
    )
    SELECT coalesce(range_agg(bookingdb._local_interval(i.day, i.opens, i.closes, p_timezone)),
                    '{}'::tstzmultirange)
      FROM (SELECT d.day, o.opens, o.closes
              FROM days d
              JOIN bookingdb.date_overrides o ON o.venue_id = p_venue_id AND o.day = d.day
             WHERE o.opens IS NOT NULL
            UNION ALL
            SELECT d.day, h.opens, h.closes
              FROM days d
              JOIN bookingdb.opening_hours h
                ON h.venue_id = p_venue_id AND h.weekday = extract(isodow FROM d.day)::int
             WHERE NOT EXISTS (SELECT 1 FROM bookingdb.date_overrides o
                                WHERE o.venue_id = p_venue_id AND o.day = d.day)
            UNION ALL
            SELECT d.day, time '00:00', time '00:00'
              FROM days d, weekly w
             WHERE NOT w.any
               AND NOT EXISTS (SELECT 1 FROM bookingdb.date_overrides o
                                WHERE o.venue_id = p_venue_id AND o.day = d.day)) AS i);
END
$$;

-- Which time rule of the venue a booking for [starts_at, ends_at) breaks, as
-- its refusal code, or NULL: BK012 in the past, BK009 sooner than
-- min_notice, BK013 beyond max_advance, BK015 outside opening hours. One
-- definition for the writers (which raise it) and the readers (which answer
-- "not available").
CREATE FUNCTION bookingdb._time_rule_refusal(v bookingdb.venues, p_starts_at timestamptz, p_ends_at timestamptz)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN p_starts_at < now() THEN 'BK012'
        WHEN p_starts_at < bookingdb._notice_end(v) THEN 'BK009'
        WHEN p_starts_at > bookingdb._advance_end(v) THEN 'BK013'
        WHEN v.has_hours AND NOT tstzrange(p_starts_at, p_ends_at)
                 <@ bookingdb._open_ranges(v.venue_id, v.timezone, tstzrange(p_starts_at, p_ends_at))
            THEN 'BK015'
    END
$$;

CREATE FUNCTION bookingdb._check_time_rules(v bookingdb.venues, p_starts_at timestamptz, p_ends_at timestamptz)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    CASE bookingdb._time_rule_refusal(v, p_starts_at, p_ends_at)
        WHEN 'BK012' THEN
            RAISE EXCEPTION USING ERRCODE = 'BK012', MESSAGE = 'booking would start in the past',
                DETAIL = format('starts_at: %s, now: %s', p_starts_at, now());
        WHEN 'BK009' THEN
            RAISE EXCEPTION USING ERRCODE = 'BK009', MESSAGE = 'too little notice',
                DETAIL = format('starts_at: %s; the venue needs %s notice', p_starts_at, v.min_notice);
        WHEN 'BK013' THEN
            RAISE EXCEPTION USING ERRCODE = 'BK013', MESSAGE = 'beyond maximum advance',
                DETAIL = format('starts_at: %s; the venue takes bookings up to %s ahead', p_starts_at,
                                v.max_advance);
        WHEN 'BK015' THEN
            RAISE EXCEPTION USING ERRCODE = 'BK015', MESSAGE = 'outside opening hours',
                DETAIL = format('%s to %s is not within the venue''s opening hours (%s)',
                                p_starts_at, p_ends_at, v.timezone),
                HINT = 'availability() lists bookable slots.';
        ELSE
            NULL;
    END CASE;
END
$$;

-- BK008 unless customer is a JSON object with a readable ISO date_of_birth
-- (when given); BK016 when the venue has a min_age the customer is under on
-- the local day of the booking.
CREATE FUNCTION bookingdb._check_customer(v bookingdb.venues, p_customer jsonb, p_starts_at timestamptz)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_born date;
    v_age  int;
BEGIN
    IF p_customer IS NULL THEN
        RETURN;
    END IF;
    IF jsonb_typeof(p_customer) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'customer must be a JSON object',
            DETAIL = format('customer is a JSON %s', jsonb_typeof(p_customer));
    END IF;
    -- The e-mail is indexed (customer_bookings): at most 320 characters, as
    -- an address can be.
    IF length(p_customer ->> 'email') > 320 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'customer email must be at most 320 characters',
            DETAIL = format('email length: %s', length(p_customer ->> 'email'));
    END IF;
    IF NOT p_customer ? 'date_of_birth' OR jsonb_typeof(p_customer -> 'date_of_birth') = 'null' THEN
        RETURN;
    END IF;
    IF jsonb_typeof(p_customer -> 'date_of_birth') <> 'string'
       OR (p_customer ->> 'date_of_birth') !~ '^\d{4}-\d{2}-\d{2}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'date_of_birth must be an ISO date (YYYY-MM-DD)',
            DETAIL = format('date_of_birth: %s', p_customer -> 'date_of_birth');
    END IF;
    BEGIN
        v_born := to_date(p_customer ->> 'date_of_birth', 'YYYY-MM-DD');
    EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'date_of_birth is not a real date',
            DETAIL = format('date_of_birth: %s', p_customer ->> 'date_of_birth');
    END;
    IF v.min_age IS NOT NULL THEN
        v_age := extract(year FROM age((p_starts_at AT TIME ZONE v.timezone)::date, v_born))::int;
        IF v_age < v.min_age THEN
            RAISE EXCEPTION USING ERRCODE = 'BK016', MESSAGE = 'under minimum age',
                DETAIL = format('the venue requires age %s; the customer is %s on the day', v.min_age,
                                greatest(v_age, 0));
        END IF;
    END IF;
END
$$;

-- One rule value from set_venue_rules' JSON: an interval given as text, or
-- an integer. Anything else is BK010, naming the key.
CREATE FUNCTION bookingdb._rule_interval(p_key text, p_value jsonb, p_min interval, p_max interval,
                                         p_min_inclusive boolean)
RETURNS interval
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_interval interval;
BEGIN
    IF jsonb_typeof(p_value) <> 'string' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = format('rule %s must be an interval as text', p_key),
            DETAIL = format('%s: %s', p_key, p_value), HINT = 'For example "15 minutes" or "6 months".';
    END IF;
    BEGIN
        v_interval := (p_value #>> '{}')::interval;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow
                   OR invalid_text_representation THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = format('rule %s is not an interval', p_key),
            DETAIL = format('%s: %s', p_key, p_value), HINT = 'For example "15 minutes" or "6 months".';
    END;
    IF v_interval < p_min OR (v_interval = p_min AND NOT p_min_inclusive) OR v_interval > p_max THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = format('rule %s is out of range', p_key),
            DETAIL = format('%s: %s; allowed: %s %s to %s', p_key, v_interval,
                            CASE WHEN p_min_inclusive THEN 'from' ELSE 'above' END, p_min, p_max);
    END IF;
    RETURN v_interval;
END
$$;

CREATE FUNCTION bookingdb._rule_int(p_key text, p_value jsonb, p_min int, p_max int)
RETURNS int
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_int int;
BEGIN
    IF jsonb_typeof(p_value) = 'number' AND (p_value #>> '{}') ~ '^-?\d{1,9}$' THEN
        v_int := (p_value #>> '{}')::int;
    END IF;
    IF v_int IS NULL OR v_int NOT BETWEEN p_min AND p_max THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = format('rule %s must be a whole number from %s to %s',
                                                                  p_key, p_min, p_max),
            DETAIL = format('%s: %s', p_key, p_value);
    END IF;
    RETURN v_int;
END
$$;

CREATE FUNCTION bookingdb.set_venue_rules(venue_id bigint, rules jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v     bookingdb.venues;
    v_key text;
    v_val jsonb;
BEGIN
    v := bookingdb._lock_venue(set_venue_rules.venue_id);
    IF rules IS NULL OR jsonb_typeof(rules) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'rules must be a JSON object',
            DETAIL = format('rules: %s', coalesce(jsonb_typeof(rules), 'NULL'));
    END IF;
    -- JSON null puts a rule back to its default (min_age: no limit).
    FOR v_key, v_val IN SELECT e.key, e.value FROM jsonb_each(rules) AS e ORDER BY e.key LOOP
        IF jsonb_typeof(v_val) = 'null' THEN
            CASE v_key
                WHEN 'hold_ttl'      THEN v.hold_ttl := interval '10 minutes';
                WHEN 'min_notice'    THEN v.min_notice := interval '0';
                WHEN 'max_advance'   THEN v.max_advance := interval '6 months';
                WHEN 'min_party'     THEN v.min_party := 1;
                WHEN 'max_party'     THEN v.max_party := 50;
                WHEN 'min_age'       THEN v.min_age := NULL;
                WHEN 'buffer_before' THEN v.buffer_before := interval '0';
                WHEN 'buffer_after'  THEN v.buffer_after := interval '0';
                WHEN 'slot_step'     THEN v.slot_step := interval '15 minutes';
                WHEN 'notify'        THEN v.notify := false;
                WHEN 'max_active_holds_per_customer' THEN v.max_active_holds_per_customer := NULL;
                ELSE NULL;
            END CASE;
        END IF;
        CASE
            WHEN v_key NOT IN ('hold_ttl', 'min_notice', 'max_advance', 'min_party', 'max_party',
                               'min_age', 'buffer_before', 'buffer_after', 'slot_step', 'notify',
                               'max_active_holds_per_customer') THEN
                RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'unknown venue rule',
                    DETAIL = format('key: %s', v_key),
                    HINT = 'Known rules: hold_ttl, min_notice, max_advance, min_party, max_party, min_age, '
                           'buffer_before, buffer_after, slot_step, notify, max_active_holds_per_customer.';
            WHEN jsonb_typeof(v_val) = 'null' THEN
                NULL;
            WHEN v_key = 'hold_ttl' THEN
                v.hold_ttl := bookingdb._rule_interval(v_key, v_val, interval '0', interval '30 days', false);
            WHEN v_key = 'min_notice' THEN
                v.min_notice := bookingdb._rule_interval(v_key, v_val, interval '0', interval '1 year', true);
            WHEN v_key = 'max_advance' THEN
                v.max_advance := bookingdb._rule_interval(v_key, v_val, interval '0', interval '10 years', false);
            WHEN v_key = 'min_party' THEN
                v.min_party := bookingdb._rule_int(v_key, v_val, 1, 100000);
            WHEN v_key = 'max_party' THEN
                v.max_party := bookingdb._rule_int(v_key, v_val, 1, 100000);
            WHEN v_key = 'min_age' THEN
                v.min_age := bookingdb._rule_int(v_key, v_val, 0, 150);
            WHEN v_key = 'buffer_before' THEN
                v.buffer_before := bookingdb._rule_interval(v_key, v_val, interval '0', interval '1 day', true);
            WHEN v_key = 'buffer_after' THEN
                v.buffer_after := bookingdb._rule_interval(v_key, v_val, interval '0', interval '1 day', true);
            WHEN v_key = 'slot_step' THEN
                v.slot_step := bookingdb._rule_interval(v_key, v_val, interval '1 minute', interval '1 day', true);
            WHEN v_key = 'max_active_holds_per_customer' THEN
                v.max_active_holds_per_customer := bookingdb._rule_int(v_key, v_val, 1, 100000);
            WHEN v_key = 'notify' THEN
                IF jsonb_typeof(v_val) <> 'boolean' THEN
                    RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'notify must be true or false',
                        DETAIL = format('notify: %s', v_val);
                END IF;
                v.notify := v_val::boolean;
        END CASE;
    END LOOP;
    -- Buffers are stored as elapsed time: added to an instant, '1 day'
    -- would otherwise mean 23 or 25 hours depending on the session's TimeZone.
    v.buffer_before := make_interval(secs => extract(epoch FROM v.buffer_before)::float8);
    v.buffer_after := make_interval(secs => extract(epoch FROM v.buffer_after)::float8);
    IF v.max_party < v.min_party THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'max_party must be at least min_party',
            DETAIL = format('min_party: %s, max_party: %s', v.min_party, v.max_party);
    END IF;
    IF v.min_notice >= v.max_advance THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'min_notice must be shorter than max_advance',
            DETAIL = format('min_notice: %s, max_advance: %s', v.min_notice, v.max_advance);
    END IF;

    UPDATE bookingdb.venues x
       SET hold_ttl = v.hold_ttl, min_notice = v.min_notice, max_advance = v.max_advance,
           min_party = v.min_party, max_party = v.max_party, min_age = v.min_age,
           buffer_before = v.buffer_before, buffer_after = v.buffer_after, slot_step = v.slot_step,
           notify = v.notify, max_active_holds_per_customer = v.max_active_holds_per_customer
     WHERE x.venue_id = v.venue_id;
    -- Resources without buffers of their own follow the venue's defaults.
    -- Existing bookings keep the buffers they were made with.
    UPDATE bookingdb.resources r
       SET buffer_before = v.buffer_before, buffer_after = v.buffer_after
     WHERE r.venue_id = v.venue_id AND NOT r.own_buffers
       AND (r.buffer_before, r.buffer_after) IS DISTINCT FROM (v.buffer_before, v.buffer_after);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.set_venue_rules(bigint, jsonb) IS
    'Sets some of a venue''s booking rules from a JSON object; keys not given keep their value, JSON null '
    'restores the default. Keys: hold_ttl (default "10 minutes", at most 30 days), min_notice ("0"), '
    'max_advance ("6 months"), buffer_before/buffer_after ("0", the default for resources without their own), '
    'slot_step ("15 minutes") as interval text; min_party (1), max_party (50), min_age (none) as numbers; '
    'notify (false): whether changes send NOTIFY bookingdb_changes at commit (the change feed is written either way; '
    'NOTIFY serialises the commits of every notifying transaction, so watch() polls instead); '
    'max_active_holds_per_customer (none): live holds one customer (holder key, else e-mail) may have. '
    'Existing bookings are not re-checked. Refusals: BK007 unknown venue; BK010 unknown key or bad value.';

CREATE FUNCTION bookingdb.get_venue_rules(venue_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
    SELECT jsonb_build_object(
               'timezone', v.timezone, 'hold_ttl', v.hold_ttl::text, 'min_notice', v.min_notice::text,
               'max_advance', v.max_advance::text, 'min_party', v.min_party, 'max_party', v.max_party,
               'min_age', v.min_age, 'buffer_before', v.buffer_before::text,
               'buffer_after', v.buffer_after::text, 'slot_step', v.slot_step::text,
               'notify', v.notify, 'max_active_holds_per_customer', v.max_active_holds_per_customer,
               'has_hours', v.has_hours)
      FROM bookingdb._require_venue(get_venue_rules.venue_id) AS v
$$;

COMMENT ON FUNCTION bookingdb.get_venue_rules(bigint) IS
    'The venue''s rules as a JSON object (the keys set_venue_rules takes, plus timezone and has_hours). '
    'Intervals are rendered in the session''s IntervalStyle. Refusals: BK007 unknown venue.';

-- Keeps venues.has_hours true exactly while the venue has weekly hours or
-- date overrides.
CREATE FUNCTION bookingdb._refresh_has_hours(p_venue_id bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE bookingdb.venues v
       SET has_hours = EXISTS (SELECT 1 FROM bookingdb.opening_hours h WHERE h.venue_id = p_venue_id)
                    OR EXISTS (SELECT 1 FROM bookingdb.date_overrides o WHERE o.venue_id = p_venue_id)
     WHERE v.venue_id = p_venue_id;
END
$$;

-- BK010 unless weekday is an ISO weekday (NULL passes where it means
-- "every weekday").
CREATE FUNCTION bookingdb._check_weekday(p_weekday int, p_null_allowed boolean)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_weekday NOT BETWEEN 1 AND 7 OR (p_weekday IS NULL AND NOT p_null_allowed) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'weekday must be an ISO weekday, 1 (Monday) to 7 (Sunday)',
            DETAIL = format('weekday: %s', coalesce(p_weekday::text, 'NULL'));
    END IF;
END
$$;

CREATE FUNCTION bookingdb.set_opening_hours(venue_id bigint, weekday int, opens time, closes time)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    PERFORM bookingdb._lock_venue(venue_id);
    PERFORM bookingdb._check_weekday(weekday, false);
    IF opens IS NULL OR closes IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'opens and closes are required',
            DETAIL = format('opens: %s, closes: %s', coalesce(opens::text, 'NULL'), coalesce(closes::text, 'NULL')),
            HINT = 'clear_opening_hours closes a weekday; set_date_override closes one date.';
    END IF;
    INSERT INTO bookingdb.opening_hours (venue_id, weekday, opens, closes)
    VALUES (set_opening_hours.venue_id, set_opening_hours.weekday, set_opening_hours.opens,
            set_opening_hours.closes)
    ON CONFLICT DO NOTHING;
    PERFORM bookingdb._refresh_has_hours(venue_id);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.set_opening_hours(bigint, int, time, time) IS
    'Adds an opening interval on ISO weekday 1 (Monday) to 7 (Sunday), in the venue''s local time; closes <= '
    'opens means it ends the next day (21:00-03:00 belongs to the day it opens; 00:00-00:00 is the whole day). '
    'Several intervals a day are allowed; adding one twice is a no-op. Once a venue has any hours, bookings '
    'must lie within them. Refusals: BK007 unknown venue; BK010 bad weekday or missing time.';

CREATE FUNCTION bookingdb.clear_opening_hours(venue_id bigint, weekday int DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    PERFORM bookingdb._lock_venue(venue_id);
    PERFORM bookingdb._check_weekday(weekday, true);
    DELETE FROM bookingdb.opening_hours h
     WHERE h.venue_id = clear_opening_hours.venue_id
       AND (clear_opening_hours.weekday IS NULL OR h.weekday = clear_opening_hours.weekday);
    PERFORM bookingdb._refresh_has_hours(venue_id);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.clear_opening_hours(bigint, int) IS
    'Removes the weekly opening intervals of one ISO weekday (NULL: of every weekday). A venue left with no '
    'hours and no date overrides is open around the clock; with other weekdays still set, the cleared one is '
    'closed. Refusals: BK007 unknown venue; BK010 bad weekday.';

CREATE FUNCTION bookingdb.set_date_override(venue_id bigint, day date, opens time DEFAULT NULL,
                                            closes time DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    PERFORM bookingdb._lock_venue(venue_id);
    IF day IS NULL OR NOT isfinite(day) OR (opens IS NULL) <> (closes IS NULL) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'a date override needs a day, and opens and closes together',
            DETAIL = format('day: %s, opens: %s, closes: %s', coalesce(day::text, 'NULL'),
                            coalesce(opens::text, 'NULL'), coalesce(closes::text, 'NULL'));
    END IF;
    -- Closed all day replaces the day's intervals; an interval replaces a
    -- closure and adds to the day's other intervals.
    DELETE FROM bookingdb.date_overrides o
     WHERE o.venue_id = set_date_override.venue_id AND o.day = set_date_override.day
       AND (set_date_override.opens IS NULL OR o.opens IS NULL
            OR (o.opens, o.closes) = (set_date_override.opens, set_date_override.closes));
    INSERT INTO bookingdb.date_overrides (venue_id, day, opens, closes)
    VALUES (set_date_override.venue_id, set_date_override.day, set_date_override.opens,
            set_date_override.closes);
    PERFORM bookingdb._refresh_has_hours(venue_id);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.set_date_override(bigint, date, time, time) IS
    'Replaces the weekly hours of one local date. NULL opens/closes: closed all day; otherwise adds an interval '
    'for that day (several calls add several; closes <= opens ends the next day). '
    'Refusals: BK007 unknown venue; BK010 missing day, or only one of opens/closes.';

CREATE FUNCTION bookingdb.clear_date_overrides(venue_id bigint, day date DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    PERFORM bookingdb._lock_venue(venue_id);
    DELETE FROM bookingdb.date_overrides o
     WHERE o.venue_id = clear_date_overrides.venue_id
       AND (clear_date_overrides.day IS NULL OR o.day = clear_date_overrides.day);
    PERFORM bookingdb._refresh_has_hours(venue_id);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.clear_date_overrides(bigint, date) IS
    'Removes the date overrides of one day (NULL: all of them), so the weekly hours apply again. '
    'Refusals: BK007 unknown venue.';

CREATE FUNCTION bookingdb.opening_hours(venue_id bigint)
RETURNS TABLE (weekday int, day date, opens time, closes time)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    PERFORM bookingdb._require_venue(opening_hours.venue_id);
    RETURN QUERY
        SELECT h.weekday, NULL::date, h.opens, h.closes
          FROM bookingdb.opening_hours h
         WHERE h.venue_id = opening_hours.venue_id
        UNION ALL
        SELECT NULL, o.day, o.opens, o.closes
          FROM bookingdb.date_overrides o
         WHERE o.venue_id = opening_hours.venue_id
        ORDER BY 2 NULLS FIRST, 1, 3;
END
$$;

COMMENT ON FUNCTION bookingdb.opening_hours(bigint) IS
    'The venue''s weekly hours (weekday set, day NULL) and date overrides (day set, weekday NULL; NULL '
    'opens/closes = closed all day), local times. Refusals: BK007 unknown venue.';

CREATE FUNCTION bookingdb.local_range(venue_id bigint, day date, starts time, ends time)
RETURNS tstzrange
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
DECLARE
    v bookingdb.venues := bookingdb._require_venue(venue_id);
BEGIN
    IF day IS NULL OR NOT isfinite(day) OR starts IS NULL OR ends IS NULL
       OR day NOT BETWEEN '1900-01-01' AND '9999-12-29' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'day (1900-01-01 to 9999-12-29), starts and ends are required',
            DETAIL = format('day: %s, starts: %s, ends: %s', coalesce(day::text, 'NULL'),
                            coalesce(starts::text, 'NULL'), coalesce(ends::text, 'NULL'));
    END IF;
    RETURN bookingdb._local_interval(day, starts, ends, v.timezone);
END
$$;

COMMENT ON FUNCTION bookingdb.local_range(bigint, date, time, time) IS
    'The instants of a local date and times at the venue (its IANA zone, not the session''s): '
    'local_range(v, ''2027-03-28'', ''19:00'', ''01:00'') ends at 01:00 the next day. '
    'Refusals: BK007 unknown venue; BK008 missing day or time.';

CREATE FUNCTION bookingdb.set_resource_buffers(venue_id bigint, resource_id bigint, before interval,
                                               after interval)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    PERFORM bookingdb._require_resource(venue_id, resource_id);
    IF before IS NULL OR after IS NULL OR before < interval '0' OR after < interval '0'
       OR before > interval '1 day' OR after > interval '1 day' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'buffers must be from 0 to 1 day',
            DETAIL = format('before: %s, after: %s', coalesce(before::text, 'NULL'),
                            coalesce(after::text, 'NULL'));
    END IF;
    -- Elapsed time (see set_venue_rules).
    UPDATE bookingdb.resources r
       SET buffer_before = make_interval(secs => extract(epoch FROM before)::float8),
           buffer_after = make_interval(secs => extract(epoch FROM after)::float8),
           own_buffers = true
     WHERE r.venue_id = set_resource_buffers.venue_id AND r.resource_id = set_resource_buffers.resource_id;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.set_resource_buffers(bigint, bigint, interval, interval) IS
    'Gives a resource its own changeover time before and after every booking (0 to 1 day each), stored in '
    'the blocked range of new bookings so the same constraint guarantees it. Existing bookings keep theirs. '
    'Refusals: BK007 unknown venue/resource; BK010 bad buffer.';

CREATE FUNCTION bookingdb.set_resource_pricing(venue_id bigint, resource_id bigint, deposit_cents int,
                                               min_spend_cents int, zone text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    PERFORM bookingdb._require_resource(venue_id, resource_id);
    IF deposit_cents IS NULL OR min_spend_cents IS NULL OR deposit_cents < 0 OR min_spend_cents < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'deposit_cents and min_spend_cents must be 0 or more',
            DETAIL = format('deposit_cents: %s, min_spend_cents: %s', coalesce(deposit_cents::text, 'NULL'),
                            coalesce(min_spend_cents::text, 'NULL'));
    END IF;
    IF length(zone) > 100 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'zone must be at most 100 characters',
            DETAIL = format('zone length: %s', length(zone));
    END IF;
    UPDATE bookingdb.resources r
       SET deposit_cents = set_resource_pricing.deposit_cents,
           min_spend_cents = set_resource_pricing.min_spend_cents,
           zone = CASE WHEN set_resource_pricing.zone IS NULL THEN r.zone
                       ELSE nullif(set_resource_pricing.zone, '') END
     WHERE r.venue_id = set_resource_pricing.venue_id AND r.resource_id = set_resource_pricing.resource_id;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.set_resource_pricing(bigint, bigint, int, int, text) IS
    'Sets a resource''s deposit and minimum spend (cents) and optionally its zone (e.g. ''upstairs''; NULL '
    'keeps the zone, an empty string removes it). A booking''s total_deposit_cents is the sum of its '
    'resources'' deposits times its quantity, fixed when it is made. Refusals: BK007 unknown venue/resource; '
    'BK010 negative amount or over-long zone.';

CREATE FUNCTION bookingdb.link_resources(venue_id bigint, a bigint, b bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
DECLARE
    v_a bookingdb.resources := bookingdb._require_resource(venue_id, a);
    v_b bookingdb.resources := bookingdb._require_resource(venue_id, b);
BEGIN
    IF v_a.resource_id = v_b.resource_id OR v_a.capacity <> 1 OR v_b.capacity <> 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'only two different exclusive resources can be linked',
            DETAIL = format('a: %s (capacity %s), b: %s (capacity %s)', v_a.resource_id, v_a.capacity,
                            v_b.resource_id, v_b.capacity);
    END IF;
    INSERT INTO bookingdb.resource_links (venue_id, a, b)
    VALUES (link_resources.venue_id, least(v_a.resource_id, v_b.resource_id),
            greatest(v_a.resource_id, v_b.resource_id))
    ON CONFLICT DO NOTHING;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.link_resources(bigint, bigint, bigint) IS
    'Declares two tables (exclusive resources) physically combinable: table_combinations may seat one party '
    'across linked tables of the same zone. Linking twice is a no-op. Refusals: BK007 unknown venue/resource; '
    'BK010 same resource twice or a shared resource.';

CREATE FUNCTION bookingdb.unlink_resources(venue_id bigint, a bigint, b bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    PERFORM bookingdb._require_resource(venue_id, a);
    PERFORM bookingdb._require_resource(venue_id, b);
    DELETE FROM bookingdb.resource_links l
     WHERE l.venue_id = unlink_resources.venue_id
       AND l.a = least(unlink_resources.a, unlink_resources.b)
       AND l.b = greatest(unlink_resources.a, unlink_resources.b);
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.unlink_resources(bigint, bigint, bigint) IS
    'Removes a link made by link_resources (no-op if there is none). Refusals: BK007 unknown venue/resource.';

CREATE FUNCTION bookingdb.list_resources(venue_id bigint)
RETURNS TABLE (resource_id bigint, name text, kind text, capacity int, seats_min int, seats_max int,
               buffer_before interval, buffer_after interval, deposit_cents int, min_spend_cents int,
               zone text, linked_to bigint[], sellable_capacity int)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    PERFORM bookingdb._require_venue(list_resources.venue_id);
    RETURN QUERY
        SELECT r.resource_id, r.name, r.kind, r.capacity, r.seats_min, r.seats_max, r.buffer_before,
               r.buffer_after, r.deposit_cents, r.min_spend_cents, r.zone,
               ARRAY(SELECT CASE WHEN l.a = r.resource_id THEN l.b ELSE l.a END
                       FROM bookingdb.resource_links l
                      WHERE l.venue_id = list_resources.venue_id AND r.resource_id IN (l.a, l.b)
                      ORDER BY 1),
               r.sellable_capacity
          FROM bookingdb.resources r
         WHERE r.venue_id = list_resources.venue_id
         ORDER BY r.resource_id;
END
$$;

COMMENT ON FUNCTION bookingdb.list_resources(bigint) IS
    'The venue''s resources with their settings (capacity, seats, buffers, pricing, zone) and the tables '
    'each is linked to, and sellable_capacity (NULL: sells its capacity). Refusals: BK007 unknown venue.';

CREATE FUNCTION bookingdb.set_sellable_capacity(venue_id bigint, resource_id bigint, sellable_capacity int)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r      bookingdb.resources := bookingdb._require_resource(venue_id, resource_id);
    v_used int;
    v_refs text;
BEGIN
    -- A table is free or taken: keeping part of it back, or selling it
    -- twice, has no meaning. Shared resources only.
    IF r.capacity = 1 AND sellable_capacity IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'only shared resources (capacity > 1) have a sellable capacity',
            DETAIL = format('resource %s has capacity 1', r.resource_id);
    END IF;
    IF sellable_capacity < 1 OR sellable_capacity > 10 * r.capacity THEN
        RAISE EXCEPTION USING ERRCODE = 'BK010', MESSAGE = 'sellable_capacity must be 1 to 10 times the capacity',
            DETAIL = format('sellable_capacity: %s, capacity: %s', sellable_capacity, r.capacity);
    END IF;
    -- The lock every booking of this resource takes: no booking slips in
    -- between the check and the change.
    IF r.capacity > 1 THEN
        PERFORM bookingdb._lock_resources(ARRAY[r.resource_id]);
    END IF;
    -- Lowering must leave room for every current and future booking.
    v_used := bookingdb._max_occupancy(r.venue_id, r.resource_id, tstzrange(now(), NULL), NULL,
                                       coalesce(sellable_capacity, r.capacity), 1000000000);
    IF v_used > coalesce(sellable_capacity, r.capacity) THEN
        SELECT string_agg(x.reference, ', ' ORDER BY x.starts_at) INTO v_refs
          FROM (SELECT b.reference, b.starts_at FROM bookingdb._shared_overlaps(
                           r.venue_id, r.resource_id, tstzrange(now(), NULL), NULL) AS a
                  JOIN bookingdb.bookings b ON b.venue_id = a.venue_id AND b.booking_id = a.booking_id
                 ORDER BY b.starts_at LIMIT 50) AS x;
        RAISE EXCEPTION USING ERRCODE = 'BK022', MESSAGE = 'sellable capacity below what is already booked',
            DETAIL = format('resource %s: %s units booked at the busiest moment ahead, sellable_capacity %s; '
                            'bookings from now on: %s', r.resource_id, v_used,
                            coalesce(sellable_capacity, r.capacity), v_refs),
            HINT = 'Move or cancel bookings first, or choose a higher value.';
    END IF;
    UPDATE bookingdb.resources x SET sellable_capacity = set_sellable_capacity.sellable_capacity
     WHERE x.venue_id = r.venue_id AND x.resource_id = r.resource_id;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.set_sellable_capacity(bigint, bigint, int) IS
    'Sets how many units of a shared resource may be sold at once: below capacity keeps places back (walk-ins), '
    'above it overbooks on purpose (up to 10x); NULL sells exactly the capacity. Bookings, availability and '
    'verify_invariants use it. Never silently invalidates bookings: lowering it below what current and future '
    'bookings use is refused. Refusals: BK007 unknown venue/resource, BK010 capacity-1 resource or value out of '
    'range, BK022 current or future bookings exceed it (DETAIL lists them).';
