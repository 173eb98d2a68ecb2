-- Read-only availability questions. They answer from the same indexes and
-- the same occupancy rule the writers use, and treat a lapsed hold as free.

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
    v_known  int;
    v_wanted int;
    v_free   boolean;
BEGIN
    PERFORM 1 FROM bookingdb.venues v WHERE v.venue_id = check_availability.venue_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'venue not found',
            DETAIL = format('venue_id: %s', coalesce(venue_id::text, 'NULL'));
    END IF;
    IF starts_at IS NULL OR ends_at IS NULL OR NOT isfinite(starts_at) OR NOT isfinite(ends_at)
       OR ends_at <= starts_at THEN
        RAISE EXCEPTION USING ERRCODE = 'BK011', MESSAGE = 'invalid time range',
            DETAIL = format('starts_at: %s, ends_at: %s', coalesce(starts_at::text, 'NULL'),
                            coalesce(ends_at::text, 'NULL'));
    END IF;
    IF resource_ids IS NULL OR cardinality(resource_ids) = 0 OR array_position(resource_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'resource_ids must name at least one resource',
            DETAIL = format('resource_ids: %s', coalesce(resource_ids::text, 'NULL'));
    END IF;
    IF quantity IS NULL OR quantity < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK017', MESSAGE = 'quantity not allowed',
            DETAIL = format('quantity: %s', coalesce(quantity::text, 'NULL'));
    END IF;

    SELECT count(*),
           bool_and(quantity <= r.capacity AND CASE
               WHEN r.capacity = 1 THEN NOT EXISTS (
                   SELECT 1 FROM bookingdb.allocations a
                    WHERE a.venue_id = r.venue_id AND a.resource_id = r.resource_id
                      AND a.active AND a.exclusive
                      AND a.blocked && tstzrange(starts_at - r.buffer_before, ends_at + r.buffer_after)
                      AND (a.expires_at IS NULL OR a.expires_at > now())
                      AND a.booking_id IS DISTINCT FROM exclude_booking_id)
               ELSE bookingdb._max_occupancy(r.venue_id, r.resource_id,
                        tstzrange(starts_at - r.buffer_before, ends_at + r.buffer_after),
                        exclude_booking_id, r.capacity, quantity) + quantity <= r.capacity
           END)
      INTO v_known, v_free
      FROM bookingdb.resources r
     WHERE r.venue_id = check_availability.venue_id AND r.resource_id = ANY (resource_ids);

    v_wanted := (SELECT count(DISTINCT x) FROM unnest(resource_ids) AS x);
    IF v_known <> v_wanted THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'resource not found in this venue',
            DETAIL = format('%s of %s resource_ids are not in venue %s', v_wanted - v_known, v_wanted,
                            venue_id);
    END IF;
    -- A slot that has already started cannot be booked any more.
    RETURN v_free AND starts_at >= now();
END
$$;

COMMENT ON FUNCTION bookingdb.check_availability(bigint, bigint[], timestamptz, timestamptz, int, bigint) IS
    'True when every resource could take quantity more units for [starts_at, ends_at) (plus its buffers) '
    'right now; lapsed holds count as free; exclude_booking_id ignores that booking (to test a move). '
    'Past slots and quantity above capacity answer false. Refusals: BK007 unknown venue/resource, '
    'BK008 empty resource list, BK011 bad range, BK017 quantity < 1.';
