-- verify_invariants(): an independent check of I1-I7 from the raw tables.
-- It does not trust the constraint or the triggers it checks: I1 is
-- recomputed by a sweep in start order, I2 by an occupancy sweep, I6 from the
-- audit log, I7 by counting each allocation index against the table
-- (check_allocation_indexes, 068_doctor.sql). Every check is one pass (sorts
-- and joins), not a pairwise comparison, so it stays usable at millions of
-- bookings.

CREATE FUNCTION bookingdb.verify_invariants()
RETURNS TABLE (invariant text, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
    SELECT bookingdb._require_unbound();
    WITH live AS (
        -- Allocations that occupy right now: active and not a lapsed hold.
        SELECT a.*, r.capacity, r.sell_limit
          FROM bookingdb.allocations a
          JOIN bookingdb.resources r ON r.venue_id = a.venue_id AND r.resource_id = a.resource_id
         WHERE a.active AND (a.expires_at IS NULL OR a.expires_at > now())
    ),
    occupies AS (
        SELECT b.*, (b.status IN ('pending', 'confirmed')
                     OR (b.status = 'held' AND b.expires_at > now())) AS occupying
          FROM bookingdb.bookings b
    ),
    -- I1 by a sweep, not a self-join (quadratic in the bookings of one
    -- resource): in start order, an allocation overlaps an earlier one
    -- exactly when it starts before the latest end seen so far.
    exclusive_sweep AS (
        SELECT l.venue_id, l.resource_id, l.booking_id, l.blocked,
               max(upper(l.blocked)) OVER (PARTITION BY l.venue_id, l.resource_id
                                           ORDER BY lower(l.blocked), l.booking_id
                                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_end
          FROM live l
         WHERE l.capacity = 1
    ),
    -- I2 from now on: within sell_limit (sellable_capacity, else capacity).
    -- Before now: within the larger of the two, since sellable capacity may
    -- have been lowered after those bookings were made (never below what
    -- is still to come: set_sellable_capacity refuses that).
    shared_events AS (
        SELECT l.venue_id, l.resource_id, e.kind, e.lim, e.at,
               sum(e.delta) OVER (PARTITION BY l.venue_id, l.resource_id, e.kind
                                  ORDER BY e.at, e.delta ROWS UNBOUNDED PRECEDING) AS running
          FROM live l,
               LATERAL (VALUES ('all', greatest(l.capacity, l.sell_limit), lower(l.blocked), l.quantity),
                               ('all', greatest(l.capacity, l.sell_limit), upper(l.blocked), -l.quantity),
                               ('ahead', l.sell_limit, greatest(lower(l.blocked), now()), l.quantity),
                               ('ahead', l.sell_limit, upper(l.blocked), -l.quantity)) AS e(kind, lim, at, delta)
         WHERE l.capacity > 1 AND (e.kind = 'all' OR upper(l.blocked) > now())
    )
    SELECT 'I1', format('venue %s resource %s: bookings %s and %s overlap (%s, %s)',
                        x.venue_id, x.resource_id, y.booking_id, x.booking_id, y.blocked, x.blocked)
      FROM exclusive_sweep x
      -- Only for a violation: which earlier allocation it meets.
      CROSS JOIN LATERAL (
          SELECT l.booking_id, l.blocked FROM live l
           WHERE l.venue_id = x.venue_id AND l.resource_id = x.resource_id
             AND l.booking_id <> x.booking_id AND l.blocked && x.blocked
             AND (lower(l.blocked), l.booking_id) < (lower(x.blocked), x.booking_id)
           ORDER BY lower(l.blocked), l.booking_id
           LIMIT 1) AS y
     WHERE lower(x.blocked) < x.earlier_end
    UNION ALL
    SELECT 'I1', format('venue %s resource %s: allocation of booking %s has exclusive = %s but capacity %s',
                        a.venue_id, a.resource_id, a.booking_id, a.exclusive, r.capacity)
      FROM bookingdb.allocations a
      JOIN bookingdb.resources r ON r.venue_id = a.venue_id AND r.resource_id = a.resource_id
     WHERE a.exclusive <> (r.capacity = 1)
    UNION ALL
    SELECT 'I2', format('venue %s resource %s: %s units in use at %s, limit %s',
                        s.venue_id, s.resource_id, max(s.running), min(s.at), s.lim)
      FROM shared_events s
     WHERE s.running > s.lim
     GROUP BY s.venue_id, s.resource_id, s.kind, s.lim
    UNION ALL
    SELECT 'I3', format('venue %s booking %s (%s, occupying: %s): %s allocations for %s resources, %s active, '
                        'quantities %s, ranges cover the booking: %s',
                        o.venue_id, o.booking_id, o.status, o.occupying, count(a.resource_id),
                        cardinality(o.resource_ids),
                        count(a.resource_id) FILTER (WHERE a.active AND (a.expires_at IS NULL OR a.expires_at > now())),
                        array_agg(DISTINCT a.quantity), bool_and(a.blocked @> tstzrange(o.starts_at, o.ends_at)))
      FROM occupies o
      LEFT JOIN bookingdb.allocations a ON a.venue_id = o.venue_id AND a.booking_id = o.booking_id
     GROUP BY o.venue_id, o.booking_id, o.status, o.occupying, o.resource_ids, o.quantity,
              o.starts_at, o.ends_at
    HAVING count(a.resource_id) <> cardinality(o.resource_ids)
        OR count(a.resource_id) FILTER (WHERE a.active AND (a.expires_at IS NULL OR a.expires_at > now()))
           <> CASE WHEN o.occupying THEN cardinality(o.resource_ids) ELSE 0 END
        OR bool_or(a.quantity <> o.quantity)
        OR NOT bool_and(a.blocked @> tstzrange(o.starts_at, o.ends_at))
        OR bool_or(a.resource_id <> ALL (o.resource_ids))
    UNION ALL
    -- I4: a lapsed hold must read as free everywhere, which holds when the
    -- allocations carry the hold's own expiry.
    SELECT 'I4', format('venue %s booking %s: held until %s but its allocation on resource %s expires %s',
                        b.venue_id, b.booking_id, b.expires_at, a.resource_id, a.expires_at)
      FROM bookingdb.bookings b
      JOIN bookingdb.allocations a ON a.venue_id = b.venue_id AND a.booking_id = b.booking_id
     WHERE b.status = 'held' AND a.active AND a.expires_at IS DISTINCT FROM b.expires_at
    UNION ALL
    SELECT 'I5', format('venue %s idempotency key %s: %s bookings', b.venue_id, b.idempotency_key, count(*))
      FROM bookingdb.bookings b
     WHERE b.idempotency_key IS NOT NULL
     GROUP BY b.venue_id, b.idempotency_key
    HAVING count(*) > 1
    UNION ALL
    SELECT 'I6', format('venue %s booking %s: version %s but audit versions %s',
                        b.venue_id, b.booking_id, b.version,
                        (SELECT array_agg(l.version ORDER BY l.version) FROM bookingdb.audit_log l
                          WHERE l.venue_id = b.venue_id AND l.booking_id = b.booking_id))
      FROM bookingdb.bookings b
     WHERE (SELECT count(*) = b.version AND count(DISTINCT l.version) = b.version
                   AND min(l.version) = 1 AND max(l.version) = b.version
              FROM bookingdb.audit_log l
             WHERE l.venue_id = b.venue_id AND l.booking_id = b.booking_id) IS NOT TRUE
    UNION ALL
    -- I7: every allocation an index should hold is found through it. A GiST
    -- index that lost live entries (PostgreSQL 16-18) lets the exclusion
    -- constraint admit overlaps.
    SELECT 'I7', format('index %s (%s) finds %s of the %s allocations it should hold, %s missing: '
                        'run bookingdb doctor',
                        c.index_name, c.method, c.index_rows, c.table_rows, c.missing)
      FROM bookingdb.check_allocation_indexes() AS c
     WHERE c.missing <> 0
$$;

COMMENT ON FUNCTION bookingdb.verify_invariants() IS
    'Checks I1-I7 (README, Guarantees) across all venues from the raw tables; returns one row per violation '
    '(invariant, detail) and no rows when every invariant holds. Read-only.';
