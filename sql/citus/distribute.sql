-- Distributes the bookingdb schema with Citus, colocated by venue_id.
--
-- NOT applied by `bookingdb migrate` and not exercised in CI (no Citus build
-- is available there); see docs/scaling.md for when to use it and what the
-- catalog test (tests/migrations/test_citus_ready.py) proves instead.
--
-- Run once on the Citus coordinator, after `bookingdb migrate` and before
-- any data arrives:
--     psql "$DSN" -v ON_ERROR_STOP=1 -f sql/citus/distribute.sql
--
-- Every table carries venue_id and every key includes it, so each venue's
-- rows live together on one shard group; every public function takes
-- venue_id first, so a call can be delegated whole to the worker holding
-- that venue, where its locks, constraint checks and triggers run locally.

CREATE EXTENSION IF NOT EXISTS citus;

-- The booking triggers (version, audit, change feed, waitlist) only touch
-- rows of the same venue, i.e. the same shard group.
SET citus.enable_unsafe_triggers = on;
ALTER SYSTEM SET citus.enable_unsafe_triggers = on;
SELECT pg_reload_conf();

SELECT create_distributed_table('bookingdb.venues', 'venue_id');
SELECT create_distributed_table(t, 'venue_id', colocate_with => 'bookingdb.venues')
  FROM unnest(ARRAY[
      'bookingdb.resources', 'bookingdb.bookings', 'bookingdb.allocations', 'bookingdb.audit_log',
      'bookingdb.opening_hours', 'bookingdb.date_overrides', 'bookingdb.resource_links',
      'bookingdb.series', 'bookingdb.events', 'bookingdb.event_inventory', 'bookingdb.waitlist',
      'bookingdb.changes', 'bookingdb.feed_heads', 'bookingdb.refusal_counts']::regclass[]) AS t;

-- Delegate every venue-scoped public function by its venue_id argument.
-- The global ones (create_venue, expire_holds, verify_invariants, health,
-- error_codes, and the doctor's check_allocation_indexes, hidden_overlaps,
-- allocation_index_repairs) run on the coordinator.
SELECT create_distributed_function(p.oid::regprocedure, 'venue_id', colocate_with => 'bookingdb.venues')
  FROM pg_proc p
 WHERE p.pronamespace = 'bookingdb'::regnamespace AND p.proname !~ '^_' AND p.prokind = 'f'
   AND p.proargnames[1] = 'venue_id';
