-- Shared checks and small internal helpers every booking path uses.
--
-- Conventions for every function in sql/:
-- * Public functions fix their own search_path (pg_catalog, bookingdb,
--   pg_temp), so a caller's objects cannot hijack them and the session's
--   settings do not matter. Internal helpers (prefixed _) are only called from
--   public functions, name everything schema-qualified, and carry no SET
--   clause: each SET costs a GUC save/restore and a search-path recompute per
--   call, measured at ~30% of a booking when every helper had one.
-- * No function reads the allocations' GiST index (the exclusion
--   constraint's) with a plain index scan: on PostgreSQL 16 to 18 such a
--   scan, rescanned (a nested loop's inner side, a correlated subquery), can
--   mark live entries dead and let the constraint admit a second booking.
--   Functions whose own statements probe allocations for overlaps run with
--   enable_indexscan = off, so a GiST read is a bitmap scan, which never
--   marks entries; the writers' checks read btree indexes instead.
--   tests/sql/test_sql_gist_plans.py checks every plan they run.
-- * Public functions that query with their arguments run with
--   plan_cache_mode = force_generic_plan: their statements are short,
--   index-driven lookups, and re-planning them for every call's values cost
--   more than the lookups themselves (measured: 0.78 -> 0.54 ms per booking).

-- The key of a resource's transaction-scoped advisory lock. The constant in
-- the high bits ('BKDB') keeps our keys away from small integers other
-- applications lock; resource ids are unique across venues.
CREATE FUNCTION bookingdb._lock_key(resource_id bigint)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT resource_id # x'424B444200000000'::bigint $$;

-- A booking row as callers see it. A hold past expires_at reads as expired
-- whether or not anything has marked it yet (I4). A query over the table
-- passes ROW(b.*)::bookingdb.bookings, not b: on Citus it runs on a shard,
-- whose rows are of the shard's own type.
CREATE FUNCTION bookingdb._as_booking(b bookingdb.bookings)
RETURNS bookingdb.booking
LANGUAGE sql STABLE
AS $$
    SELECT ROW(b.booking_id, b.venue_id, b.reference,
               CASE WHEN b.status = 'held' AND b.expires_at <= now() THEN 'expired' ELSE b.status END,
               b.starts_at, b.ends_at, b.party_size, b.quantity, b.resource_ids, b.customer,
               b.payment_ref, b.expires_at, b.version, b.created_at, b.updated_at,
               b.cancel_reason, b.total_deposit_cents, b.series_id, b.event_id, b.total_cents,
               b.waitlist_entry_id, NULL)::bookingdb.booking
$$;

-- The active, unlapsed allocations on one shared resource that overlap
-- `blocked`, ignoring `exclude_booking_id`. Read through the btree
-- allocations_active_by_end (those ending after `blocked` starts), never a
-- GiST index: the capacity check must not depend on entries a PostgreSQL
-- 16-18 GiST bug can lose.
--
-- plpgsql, not an inlinable sql function: on Citus the planner would inline
-- the read after Citus had routed the calling query, and read the
-- coordinator's empty table instead of the venue's shard (a capacity check
-- that always finds room). As plpgsql its query is routed like any other.
CREATE FUNCTION bookingdb._shared_overlaps(
    p_venue_id bigint, p_resource_id bigint, p_blocked tstzrange, p_exclude_booking_id bigint)
RETURNS SETOF bookingdb.allocations
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN QUERY
    SELECT a.*
      FROM bookingdb.allocations a
     WHERE a.venue_id = p_venue_id
       AND a.resource_id = p_resource_id
       AND a.active AND NOT a.exclusive
       AND upper(a.blocked) > coalesce(lower(p_blocked), '-infinity')
       AND a.blocked && p_blocked
       AND (a.expires_at IS NULL OR a.expires_at > now())
       AND a.booking_id IS DISTINCT FROM p_exclude_booking_id;
END
$$;

-- The highest number of units in use at any instant of `blocked` on one
-- shared resource. A sweep over start (+q) and end (-q) events: counting
-- overlapping bookings instead would refuse a 10:00-11:00 booking next to
-- 09:00-10:00 and 11:00-12:00 ones that never meet. Ends sort before starts
-- at the same instant because ranges are [).
--
-- The plain sum of the overlapping units is an upper bound that needs no
-- sort; when it already leaves room for p_wanted more units, it is returned
-- instead (callers only compare the result with capacity - p_wanted).
CREATE FUNCTION bookingdb._max_occupancy(
    p_venue_id bigint, p_resource_id bigint, p_blocked tstzrange, p_exclude_booking_id bigint,
    p_capacity int, p_wanted int)
RETURNS int
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    -- plpgsql, not sql: called in an expression, an SQL function would be
    -- planned again on every call; plpgsql keeps its plan.
    RETURN (SELECT CASE
        WHEN total.units + p_wanted <= p_capacity THEN total.units
        ELSE (SELECT coalesce(max(s.running), 0)::int
                FROM (SELECT sum(e.delta) OVER (ORDER BY e.at, e.delta ROWS UNBOUNDED PRECEDING)
                                 AS running
                        FROM bookingdb._shared_overlaps(p_venue_id, p_resource_id, p_blocked,
                                                        p_exclude_booking_id) AS a,
                             LATERAL (VALUES (greatest(lower(a.blocked), lower(p_blocked)), a.quantity),
                                             (upper(a.blocked), -a.quantity)) AS e(at, delta)) AS s)
    END
      FROM (SELECT coalesce(sum(a.quantity), 0)::int AS units
              FROM bookingdb._shared_overlaps(p_venue_id, p_resource_id, p_blocked,
                                              p_exclude_booking_id) AS a) AS total);
END
$$;
-- BK011 unless [starts_at, ends_at) is a finite, non-empty range.
-- Supported instants: from 1900-01-01 to 9999-12-31 00:00 UTC, a day short
-- of the end of year 9999, so that the instant in any zone is still a date
-- every client's date type can hold, and local-time arithmetic cannot
-- overflow. NULL for NULL.
CREATE FUNCTION bookingdb._supported_instant(p_at timestamptz)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT p_at BETWEEN '1900-01-01 00:00+00' AND '9999-12-31 00:00+00'
$$;

CREATE FUNCTION bookingdb._check_range(p_starts_at timestamptz, p_ends_at timestamptz)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    -- Both ends supported instants (_supported_instant): with ends after
    -- starts, starts from 1900 and ends by 9999-12-31 say it.
    IF p_starts_at IS NULL OR p_ends_at IS NULL OR NOT isfinite(p_starts_at) OR NOT isfinite(p_ends_at)
       OR p_ends_at <= p_starts_at
       OR p_starts_at < '1900-01-01 00:00+00' OR p_ends_at > '9999-12-31 00:00+00' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK011', MESSAGE = 'invalid time range',
            DETAIL = format('starts_at: %s, ends_at: %s', coalesce(p_starts_at::text, 'NULL'),
                            coalesce(p_ends_at::text, 'NULL')),
            HINT = 'ends_at must be after starts_at, both finite and from 1900 to 9999-12-30.';
    END IF;
END
$$;

-- BK014 unless the party size is within the venue's min_party..max_party.
CREATE FUNCTION bookingdb._check_party_limits(v bookingdb.venues, p_party_size int)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_party_size IS NULL OR p_party_size < v.min_party OR p_party_size > v.max_party THEN
        RAISE EXCEPTION USING ERRCODE = 'BK014', MESSAGE = 'party size not allowed at this venue',
            DETAIL = format('party_size: %s, venue allows %s to %s',
                            coalesce(p_party_size::text, 'NULL'), v.min_party, v.max_party);
    END IF;
END
$$;

-- BK008 for a resource list that is empty or holds NULL; BK007, naming the
-- missing ids, unless every id is a resource of the venue. p_known is how
-- many distinct ids the caller found in the venue (NULL: count them here).
-- Duplicated ids name the same resource once.
CREATE FUNCTION bookingdb._check_resource_list(p_venue_id bigint, p_resource_ids bigint[], p_known int)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF p_resource_ids IS NULL OR cardinality(p_resource_ids) = 0 OR array_position(p_resource_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'resource_ids must name at least one resource',
            DETAIL = format('resource_ids: %s', coalesce(p_resource_ids::text, 'NULL'));
    END IF;
    IF coalesce(p_known, (SELECT count(*) FROM bookingdb.resources r
                           WHERE r.venue_id = p_venue_id AND r.resource_id = ANY (p_resource_ids)))
       <> (SELECT count(DISTINCT x) FROM unnest(p_resource_ids) AS x) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'resource not found in this venue',
            DETAIL = format('missing resource_ids: %s',
                            (SELECT array_agg(DISTINCT x ORDER BY x) FROM unnest(p_resource_ids) AS x
                              WHERE NOT EXISTS (SELECT 1 FROM bookingdb.resources r
                                                 WHERE r.venue_id = p_venue_id AND r.resource_id = x)));
    END IF;
END
$$;

-- Validates a booking request against the venue, its rules and its
-- resources in one query and returns what the writers need. Every booking
-- path (hold, atomic booking, reschedule) calls it, so no path can skip a
-- rule. The customer (given at booking or at confirmation) is checked by
-- _check_customer.
CREATE FUNCTION bookingdb._prepare(
    p_venue_id bigint, p_resource_ids bigint[], p_starts_at timestamptz, p_ends_at timestamptz,
    p_party_size int, p_quantity int,
    OUT venue bookingdb.venues, OUT resource_ids bigint[], OUT shared_ids bigint[],
    OUT total_deposit_cents bigint)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_min_cap    int;
    v_seats_min  int;
    v_seats_max  bigint;
    v_deposit    bigint;
    v_asked      bigint;
BEGIN
    SELECT * INTO venue FROM bookingdb.venues v WHERE v.venue_id = p_venue_id;
    SELECT array_agg(r.resource_id ORDER BY r.resource_id),
           array_agg(r.resource_id ORDER BY r.resource_id) FILTER (WHERE r.capacity > 1),
           min(r.sell_limit), max(r.seats_min),
           -- NULL seats_max means no limit: the sum is then unbounded.
           CASE WHEN bool_or(r.seats_max IS NULL) THEN NULL ELSE sum(r.seats_max) END,
           coalesce(sum(r.deposit_cents), 0),
           (SELECT count(DISTINCT x) FROM unnest(p_resource_ids) AS x)
      INTO resource_ids, shared_ids, v_min_cap, v_seats_min, v_seats_max, v_deposit, v_asked
      FROM bookingdb.resources r
     WHERE r.venue_id = p_venue_id AND r.resource_id = ANY (p_resource_ids);

    IF venue.venue_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'venue not found',
            DETAIL = format('venue_id: %s', coalesce(p_venue_id::text, 'NULL'));
    END IF;
    PERFORM bookingdb._check_range(p_starts_at, p_ends_at);
    PERFORM bookingdb._check_time_rules(venue, p_starts_at, p_ends_at);
    PERFORM bookingdb._check_party_limits(venue, p_party_size);
    -- Every id asked for found in the venue: the list is sound, no need to
    -- ask _check_resource_list (which finds what is wrong).
    IF v_asked IS DISTINCT FROM cardinality(resource_ids) OR array_position(p_resource_ids, NULL) IS NOT NULL THEN
        PERFORM bookingdb._check_resource_list(p_venue_id, p_resource_ids, coalesce(cardinality(resource_ids), 0));
    END IF;
    IF p_quantity IS NULL OR p_quantity < 1 OR p_quantity > v_min_cap THEN
        RAISE EXCEPTION USING ERRCODE = 'BK017', MESSAGE = 'quantity not allowed',
            DETAIL = format('quantity: %s, smallest capacity among the resources: %s',
                            coalesce(p_quantity::text, 'NULL'), v_min_cap);
    END IF;
    -- A party spread over pushed-together tables must need every table
    -- (at least the largest seats_min) and fit in their seats together.
    IF p_party_size < v_seats_min OR p_party_size > v_seats_max THEN
        RAISE EXCEPTION USING ERRCODE = 'BK018', MESSAGE = 'the resources do not fit the party',
            DETAIL = format('party_size: %s, resources seat %s to %s', p_party_size, v_seats_min,
                            coalesce(v_seats_max::text, 'any number')),
            HINT = 'table_combinations() finds tables that seat the party together.';
    END IF;
    total_deposit_cents := v_deposit * p_quantity;
END
$$;
