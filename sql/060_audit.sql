-- Versions, the audit log and allocation state follow every change of a
-- booking through triggers, so no path (a function, or an operator's manual
-- UPDATE) can change a booking without them.

-- I6: every change raises version by exactly one.
CREATE FUNCTION bookingdb._bookings_before_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Who made a change: the bookingdb.actor setting, else the login role.
CREATE FUNCTION bookingdb._actor()
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(nullif(current_setting('bookingdb.actor', true), ''), session_user)
$$;

-- The change feed: one row per resource the change touches (a move
-- touches the old resources and the new), written in the same transaction,
-- and, for a venue with the notify rule on, a NOTIFY to wake listeners. The
-- rows are what a consumer catches up from; NOTIFY serialises the commits of
-- notifying transactions (a database-wide lock), so it is off by default and
-- watch() polls. A new booking writes its first feed row itself (_book).
-- It takes the fields it writes, not the rows: on Citus a trigger on a
-- shard sees rows of the shard's own type.
CREATE FUNCTION bookingdb._feed(
    p_venue_id bigint, p_booking_id bigint, p_old_resource_ids bigint[], p_new_resource_ids bigint[],
    p_starts_at timestamptz, p_ends_at timestamptz, p_old_status text, p_new_status text,
    p_action text, p_reference text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO bookingdb.changes
        (venue_id, booking_id, resource_id, starts_at, ends_at, old_status, new_status, action, reference)
    SELECT p_venue_id, p_booking_id, r, p_starts_at, p_ends_at, p_old_status, p_new_status, p_action, p_reference
      FROM (SELECT DISTINCT x FROM unnest(p_new_resource_ids || p_old_resource_ids) AS x) AS t(r)
     ORDER BY r;
    IF (SELECT v.notify FROM bookingdb.venues v WHERE v.venue_id = p_venue_id) THEN
        PERFORM pg_notify('bookingdb_changes', p_venue_id::text);
    END IF;
END
$$;

-- One lean audit row per change (who, what, old/new status, the fields that
-- changed); and I3: a booking's allocations are active exactly while it
-- occupies, all of them at once. A new booking's audit row is written with
-- it, in _book's insert; this trigger covers every later change, by any
-- path (an operator's manual UPDATE too).
CREATE FUNCTION bookingdb._bookings_after_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
DECLARE
    v_action text;
BEGIN
    INSERT INTO bookingdb.audit_log
        (venue_id, booking_id, version, action, old_status, new_status, changes, actor)
    VALUES (NEW.venue_id, NEW.booking_id, NEW.version,
            CASE WHEN NEW.status IS DISTINCT FROM OLD.status THEN NEW.status
                 WHEN (NEW.starts_at, NEW.ends_at, NEW.resource_ids)
                      IS DISTINCT FROM (OLD.starts_at, OLD.ends_at, OLD.resource_ids) THEN 'rescheduled'
                 WHEN NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN 'extended'
                 ELSE 'updated' END,
            OLD.status, NEW.status,
            nullif(jsonb_strip_nulls(jsonb_build_object(
                'starts_at',     CASE WHEN NEW.starts_at <> OLD.starts_at THEN jsonb_build_array(OLD.starts_at, NEW.starts_at) END,
                'ends_at',       CASE WHEN NEW.ends_at <> OLD.ends_at THEN jsonb_build_array(OLD.ends_at, NEW.ends_at) END,
                'resource_ids',  CASE WHEN NEW.resource_ids <> OLD.resource_ids THEN jsonb_build_array(OLD.resource_ids, NEW.resource_ids) END,
                'expires_at',    CASE WHEN NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN jsonb_build_array(OLD.expires_at, NEW.expires_at) END,
                'customer',      CASE WHEN NEW.customer IS DISTINCT FROM OLD.customer THEN jsonb_build_array(OLD.customer, NEW.customer) END,
                'payment_ref',   CASE WHEN NEW.payment_ref IS DISTINCT FROM OLD.payment_ref THEN jsonb_build_array(OLD.payment_ref, NEW.payment_ref) END,
                'cancel_reason', CASE WHEN NEW.cancel_reason IS DISTINCT FROM OLD.cancel_reason THEN jsonb_build_array(OLD.cancel_reason, NEW.cancel_reason) END
            )), '{}'::jsonb),
            bookingdb._actor())
    RETURNING action INTO v_action;
    PERFORM bookingdb._feed(NEW.venue_id, NEW.booking_id, OLD.resource_ids, NEW.resource_ids,
                            NEW.starts_at, NEW.ends_at, OLD.status, NEW.status, v_action, NEW.reference);

    IF (NEW.status, NEW.expires_at) IS DISTINCT FROM (OLD.status, OLD.expires_at) THEN
        UPDATE bookingdb.allocations a
           SET active = NEW.status IN ('held', 'pending', 'confirmed'),
               expires_at = CASE WHEN NEW.status = 'held' THEN NEW.expires_at END
         WHERE a.venue_id = NEW.venue_id AND a.booking_id = NEW.booking_id
           AND (a.active, a.expires_at) IS DISTINCT FROM
               (NEW.status IN ('held', 'pending', 'confirmed'),
                CASE WHEN NEW.status = 'held' THEN NEW.expires_at END);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER bookings_version BEFORE UPDATE ON bookingdb.bookings
    FOR EACH ROW EXECUTE FUNCTION bookingdb._bookings_before_update();

CREATE TRIGGER bookings_audit AFTER UPDATE ON bookingdb.bookings
    FOR EACH ROW EXECUTE FUNCTION bookingdb._bookings_after_change();
