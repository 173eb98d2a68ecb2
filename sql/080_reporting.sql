-- Reporting views for bookingdb_readonly: what a dashboard or a BI tool
-- reads, without customer contact details, tokens, payment references or
-- idempotency keys.
--
-- The views belong to the schema owner and read the tables with its rights;
-- each reads the reader's binding once (bookingdb._report_venues(), in a
-- CTE) and filters with bookingdb._in_reach, so a reader bound to a venue
-- (by tenant_roles or the bookingdb.venue_id setting, see 012_tenancy.sql)
-- sees that venue's rows only: row-level security on the views.
-- security_barrier keeps a reader's own functions in a WHERE clause from
-- seeing rows before the filter runs.

CREATE VIEW bookingdb.report_venues WITH (security_barrier) AS
WITH seen AS MATERIALIZED (SELECT bookingdb._report_venues() AS ids)
SELECT v.venue_id, v.name, v.timezone, v.created_at
  FROM bookingdb.venues v, seen
 WHERE bookingdb._in_reach(v.venue_id, seen.ids);

COMMENT ON VIEW bookingdb.report_venues IS
    'Venues the reader may see (all of them for an unbound reader).';

CREATE VIEW bookingdb.report_resources WITH (security_barrier) AS
WITH seen AS MATERIALIZED (SELECT bookingdb._report_venues() AS ids)
SELECT r.venue_id, r.resource_id, r.name, r.kind, r.capacity, r.sell_limit,
       r.seats_min, r.seats_max, r.zone, r.section, r.row_label, r.seat_number
  FROM bookingdb.resources r, seen
 WHERE bookingdb._in_reach(r.venue_id, seen.ids);

COMMENT ON VIEW bookingdb.report_resources IS
    'Resources of the venues the reader may see.';

CREATE VIEW bookingdb.report_bookings WITH (security_barrier) AS
WITH seen AS MATERIALIZED (SELECT bookingdb._report_venues() AS ids)
SELECT b.venue_id, b.booking_id, b.reference,
       CASE WHEN b.status = 'held' AND b.expires_at <= now() THEN 'expired' ELSE b.status END AS status,
       b.starts_at, b.ends_at, b.party_size, b.quantity, b.resource_ids,
       b.event_id, b.series_id, b.total_cents, b.total_deposit_cents,
       b.created_at, b.updated_at
  FROM bookingdb.bookings b, seen
 WHERE bookingdb._in_reach(b.venue_id, seen.ids);

COMMENT ON VIEW bookingdb.report_bookings IS
    'Bookings of the venues the reader may see, without customer details, tokens, payment references or '
    'idempotency keys. A lapsed hold reads as expired.';

CREATE VIEW bookingdb.report_daily WITH (security_barrier) AS
WITH seen AS MATERIALIZED (SELECT bookingdb._report_venues() AS ids)
SELECT b.venue_id,
       (b.starts_at AT TIME ZONE v.timezone)::date AS local_day,
       count(*) FILTER (WHERE b.status IN ('confirmed', 'pending')) AS bookings,
       coalesce(sum(b.party_size) FILTER (WHERE b.status IN ('confirmed', 'pending')), 0) AS covers,
       count(*) FILTER (WHERE b.status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE b.status = 'expired'
                           OR (b.status = 'held' AND b.expires_at <= now())) AS expired_holds,
       coalesce(sum(b.total_cents) FILTER (WHERE b.status = 'confirmed'), 0) AS revenue_cents
  FROM bookingdb.bookings b
  JOIN bookingdb.venues v ON v.venue_id = b.venue_id
 CROSS JOIN seen
 WHERE bookingdb._in_reach(b.venue_id, seen.ids)
 GROUP BY b.venue_id, local_day;

COMMENT ON VIEW bookingdb.report_daily IS
    'Per venue and local day of the venue: live bookings, covers, cancellations, expired holds, confirmed '
    'revenue, for the venues the reader may see.';
