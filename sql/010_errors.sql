-- The catalogue of refusals. Every RAISE in sql/ uses one of these SQLSTATEs
-- (class BK); the Python package maps each to one exception class and the
-- README documents them. A test checks that the three agree.

CREATE FUNCTION bookingdb.error_codes()
RETURNS TABLE (code text, name text, meaning text, retryable boolean)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
    VALUES
        ('BK001', 'slot_unavailable',     'An exclusive resource is already taken for (part of) that time.', false),
        ('BK002', 'capacity_exceeded',    'A shared resource has fewer free units than requested at some instant of that time.', false),
        ('BK003', 'hold_expired',         'The hold has expired or was released; it can no longer be confirmed, extended or released.', false),
        ('BK004', 'version_conflict',     'expected_version does not match the booking''s current version (DETAIL has it); re-read and retry.', false),
        ('BK005', 'idempotency_conflict', 'The idempotency key was already used for a different request.', false),
        ('BK006', 'invalid_transition',   'The booking''s status does not allow this change.', false),
        ('BK007', 'not_found',            'No such venue, resource or booking in this venue.', false),
        ('BK008', 'invalid_argument',     'An argument is missing or malformed (empty resource list, bad time zone, non-positive ttl, customer not a JSON object, ...).', false),
        ('BK009', 'notice_too_short',     'The booking would start sooner than the venue''s minimum notice allows.', false),
        ('BK010', 'invalid_rule',         'A venue rule, opening-hours interval or resource setting is unknown or has a bad value.', false),
        ('BK011', 'invalid_time_range',   'starts_at/ends_at missing, infinite, or ends_at not after starts_at.', false),
        ('BK012', 'in_the_past',          'The booking would start in the past.', false),
        ('BK013', 'beyond_max_advance',   'The booking would start later than the venue''s maximum advance allows.', false),
        ('BK014', 'party_size_not_allowed', 'Party size outside the venue''s limits (min_party/max_party).', false),
        ('BK015', 'outside_opening_hours', 'The booking does not lie within the venue''s opening hours (weekly hours and date overrides, in the venue''s time zone).', false),
        ('BK016', 'under_minimum_age',    'The customer''s date_of_birth makes them younger than the venue''s min_age on the day of the booking.', false),
        ('BK017', 'quantity_not_allowed', 'Quantity below 1 or above a resource''s capacity.', false),
        ('BK018', 'party_does_not_fit',   'The resources do not fit the party: below the largest seats_min or above the total seats_max.', false),
        ('BK020', 'busy',                 'A lock wait passed the function''s own lock_timeout (heavy contention); nothing was written. Retry, with the same idempotency key.', true),
        ('BK021', 'too_many_holds',       'The customer (holder key or e-mail) already has the venue''s max_active_holds_per_customer live holds.', false),
        ('BK022', 'capacity_in_use',      'Sellable capacity cannot go below what current and future bookings already use (DETAIL names them).', false),
        ('BK023', 'overlaps_unresolved',  'Allocation indexes are not rebuilt while active allocations of an exclusive resource overlap (DETAIL names them); resolve them first.', false)
$$;

COMMENT ON FUNCTION bookingdb.error_codes() IS
    'The documented refusal codes (SQLSTATE class BK): code, name, meaning, retryable. '
    'Every refusal raised by a bookingdb function uses one of these codes and writes nothing.';
