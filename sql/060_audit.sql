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

-- One lean audit row per change (who, what, old/new status, the fields that
-- changed); and I3: a booking's allocations are active exactly while it
-- occupies, all of them at once.
CREATE FUNCTION bookingdb._bookings_after_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
DECLARE
    v_actor text := coalesce(nullif(current_setting('bookingdb.actor', true), ''), session_user);
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO bookingdb.audit_log (venue_id, booking_id, version, action, old_status, new_status, actor)
        VALUES (NEW.venue_id, NEW.booking_id, NEW.version, 'create', NULL, NEW.status, v_actor);
        RETURN NULL;
    END IF;

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
            v_actor);

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

CREATE TRIGGER bookings_audit AFTER INSERT OR UPDATE ON bookingdb.bookings
    FOR EACH ROW EXECUTE FUNCTION bookingdb._bookings_after_change();
