-- Venues (tenants) and their bookable resources.

-- The venue (or resource) of a call, or BK007: the one check every public
-- function that takes a venue_id makes.
CREATE FUNCTION bookingdb._require_venue(p_venue_id bigint)
RETURNS bookingdb.venues
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_venue bookingdb.venues;
BEGIN
    SELECT * INTO v_venue FROM bookingdb.venues v WHERE v.venue_id = p_venue_id;
    -- A venue the caller is not bound to is not found (sql/012_tenancy.sql).
    IF NOT FOUND OR NOT bookingdb._reachable(p_venue_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'venue not found',
            DETAIL = format('venue_id: %s', coalesce(p_venue_id::text, 'NULL'));
    END IF;
    RETURN v_venue;
END
$$;

-- The venue's row, locked until commit: the settings that derive a flag or
-- defaults from several rows (opening hours -> has_hours, default buffers)
-- serialise per venue, so two concurrent changes cannot both compute from
-- a snapshot without the other's rows.
CREATE FUNCTION bookingdb._lock_venue(p_venue_id bigint)
RETURNS bookingdb.venues
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM 1 FROM bookingdb.venues v WHERE v.venue_id = p_venue_id FOR UPDATE;
    RETURN bookingdb._require_venue(p_venue_id);
END
$$;

CREATE FUNCTION bookingdb._require_resource(p_venue_id bigint, p_resource_id bigint)
RETURNS bookingdb.resources
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_resource bookingdb.resources;
BEGIN
    PERFORM bookingdb._require_venue(p_venue_id);
    SELECT * INTO v_resource FROM bookingdb.resources r
     WHERE r.venue_id = p_venue_id AND r.resource_id = p_resource_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'resource not found in this venue',
            DETAIL = format('venue_id: %s, resource_id: %s', p_venue_id,
                            coalesce(p_resource_id::text, 'NULL'));
    END IF;
    RETURN v_resource;
END
$$;

CREATE FUNCTION bookingdb.create_venue(name text, timezone text DEFAULT 'UTC')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    PERFORM bookingdb._require_unbound();
    IF name IS NULL OR length(btrim(name)) = 0 OR length(name) > 200 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'venue name must be 1 to 200 characters',
            DETAIL = format('name length: %s', length(name));
    END IF;
    -- Local times are turned into instants with this zone, never the
    -- session's; so it must be a zone PostgreSQL knows.
    IF timezone IS NULL OR NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = timezone) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'unknown time zone',
            DETAIL = format('timezone: %s', coalesce(timezone, 'NULL')),
            HINT = 'Use an IANA zone name such as Europe/London.';
    END IF;
    INSERT INTO bookingdb.venues (name, timezone)
    VALUES (create_venue.name, create_venue.timezone)
    RETURNING venues.venue_id INTO v_id;
    RETURN v_id;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.create_venue(text, text) IS
    'Creates a venue (tenant) with an IANA time zone and default rules; returns its venue_id. '
    'Refusals: BK008 empty/over-long name or unknown time zone.';

CREATE FUNCTION bookingdb.list_venues()
RETURNS TABLE (venue_id bigint, name text, timezone text, resources bigint, created_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
DECLARE
    -- Read once, before the venues: on Citus the row filter runs on every
    -- shard, where it may not read the binding table itself.
    v_reach bigint[] := bookingdb._tenant_venues();
BEGIN
    RETURN QUERY
        SELECT v.venue_id, v.name, v.timezone,
               (SELECT count(*) FROM bookingdb.resources r WHERE r.venue_id = v.venue_id),
               v.created_at
          FROM bookingdb.venues v
         WHERE bookingdb._in_reach(v.venue_id, v_reach)
         ORDER BY v.venue_id;
END
$$;

COMMENT ON FUNCTION bookingdb.list_venues() IS
    'The venues the caller may reach (all of them for an unbound caller, its own for a caller bound to '
    'venues), in id order: venue_id, name, timezone, how many resources, created_at. No refusals.';

CREATE FUNCTION bookingdb.add_resource(
    venue_id bigint, name text, capacity int DEFAULT 1,
    seats_min int DEFAULT 1, seats_max int DEFAULT NULL, kind text DEFAULT 'table')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
DECLARE
    v_id     bigint;
    v_before interval;
    v_after  interval;
BEGIN
    PERFORM bookingdb._require_venue(add_resource.venue_id);
    IF name IS NULL OR length(btrim(name)) = 0 OR length(name) > 200
       OR kind IS NULL OR length(btrim(kind)) = 0 OR length(kind) > 50 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'resource name must be 1 to 200 characters and kind 1 to 50',
            DETAIL = format('name length: %s, kind length: %s', length(name), length(kind));
    END IF;
    IF capacity IS NULL OR capacity < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'capacity must be at least 1',
            DETAIL = format('capacity: %s', coalesce(capacity::text, 'NULL'));
    END IF;
    IF seats_min IS NULL OR seats_min < 1 OR seats_max < seats_min THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'seats_min must be at least 1 and seats_max at least seats_min',
            DETAIL = format('seats_min: %s, seats_max: %s', coalesce(seats_min::text, 'NULL'),
                            coalesce(seats_max::text, 'NULL'));
    END IF;
    -- The venue's default buffers until set_resource_buffers gives it its
    -- own; read FOR SHARE, so a concurrent set_venue_rules sees this
    -- resource. (A read and an insert, not INSERT ... SELECT ... FOR SHARE,
    -- which Citus cannot run.)
    SELECT v.buffer_before, v.buffer_after INTO v_before, v_after
      FROM bookingdb.venues v
     WHERE v.venue_id = add_resource.venue_id
       FOR SHARE;
    INSERT INTO bookingdb.resources
        (venue_id, name, kind, capacity, seats_min, seats_max, buffer_before, buffer_after)
    VALUES (add_resource.venue_id, add_resource.name, add_resource.kind, add_resource.capacity,
            add_resource.seats_min, add_resource.seats_max, v_before, v_after)
    RETURNING resources.resource_id INTO v_id;
    RETURN v_id;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.add_resource(bigint, text, int, int, int, text) IS
    'Adds a bookable resource to a venue; returns its resource_id. capacity 1 = exclusive (a table, a seat), '
    'N = shared (a class, a standing area). seats_min/seats_max: party sizes that fit (NULL max = no limit). '
    'Refusals: BK007 unknown venue; BK008 bad name, kind, capacity or seats.';

-- Bookings and allocations refer to venues and resources without a foreign
-- key (see migrations/0001); these triggers keep the reference sound by
-- refusing to delete a venue or resource that anything refers to.
CREATE FUNCTION bookingdb._refuse_venue_delete()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM bookingdb.bookings b WHERE b.venue_id = OLD.venue_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK006', MESSAGE = 'venue has bookings and cannot be deleted',
            DETAIL = format('venue_id: %s', OLD.venue_id);
    END IF;
    RETURN OLD;
END
$$;

CREATE FUNCTION bookingdb._refuse_resource_delete()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM bookingdb.allocations a
                WHERE a.venue_id = OLD.venue_id AND a.resource_id = OLD.resource_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK006', MESSAGE = 'resource has bookings and cannot be deleted',
            DETAIL = format('venue_id: %s, resource_id: %s', OLD.venue_id, OLD.resource_id);
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER venues_refuse_referenced_delete BEFORE DELETE ON bookingdb.venues
    FOR EACH ROW EXECUTE FUNCTION bookingdb._refuse_venue_delete();

CREATE TRIGGER resources_refuse_referenced_delete BEFORE DELETE ON bookingdb.resources
    FOR EACH ROW EXECUTE FUNCTION bookingdb._refuse_resource_delete();
