-- Distributes the bookingdb schema on a Citus coordinator: every venue's
-- rows on one node, every venue-scoped call run whole on that node.
--
-- Run by `bookingdb distribute` (first time, on a fresh or populated
-- database) and by `bookingdb migrate` on a database already distributed
-- (after it re-creates the functions). Idempotent: each step checks first.
-- See docs/scaling.md for what runs where and why.
--
-- The same sql/ files run on plain PostgreSQL and on Citus; what differs on
-- a cluster is settled here:
--   * Tables are distributed by venue_id, co-located with venues, so a
--     venue's keys, exclusion constraints, triggers and locks are all on the
--     node holding its shard group. tenant_roles is read by every call's
--     tenant check, whatever the venue, so it is a reference table (a copy
--     on every node); a reference table cannot refer to a distributed one,
--     so its foreign key to venues is dropped here (bind_tenant_role checks
--     the venue before it inserts).
--   * Every function exists on every node; the venue-scoped public ones are
--     delegated by their venue_id argument with force_delegation, so a call
--     runs on the venue's node even inside BEGIN ... COMMIT, and its
--     advisory locks are taken there. bind_tenant_role and
--     unbind_tenant_role write the reference table and stay on the
--     coordinator, with create_venue, list_venues and the platform-wide
--     functions.
--   * A function's SET plan_cache_mode = force_generic_plan is reset: Citus
--     cannot route a generic plan's parameterised query to a shard.
--   * SET LOCAL commands are sent on to the nodes (propagate_set_commands),
--     so a tenant binding made with SET LOCAL bookingdb.venue_id reaches the
--     venue's node; one made with set_config() does not (docs/scaling.md).
--   * The owner role may log in: a delegated call runs as the owner
--     (SECURITY DEFINER), and Citus opens its connections between nodes as
--     the current user.

DO $distribute$
DECLARE
    v_owner text := coalesce(nullif(current_setting('bookingdb.owner_role', true), ''), 'bookingdb_owner');
    v_colocated text[] := ARRAY[
        'resources', 'bookings', 'allocations', 'audit_log', 'opening_hours', 'date_overrides',
        'resource_links', 'series', 'events', 'event_inventory', 'waitlist', 'changes', 'feed_heads',
        'refusal_counts'];
    v_coordinator_only text[] := ARRAY['bind_tenant_role', 'unbind_tenant_role'];
    v_table text;
    v_setting text;
    obj record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'the citus extension is not installed in this database'
            USING HINT = 'Run CREATE EXTENSION citus on the coordinator and every worker, and add the workers.';
    END IF;
    IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = v_owner) THEN
        EXECUTE format('ALTER ROLE %I LOGIN', v_owner);
    END IF;
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    -- Function commands need one connection per node in the transaction.
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    -- Triggers on distributed tables (they touch only their venue's shard
    -- group); SET LOCAL commands sent on to the nodes, so a tenant binding
    -- made with SET LOCAL bookingdb.venue_id reaches the venue's node (one
    -- made with set_config() does not: docs/scaling.md).
    FOREACH v_setting IN ARRAY ARRAY['citus.enable_unsafe_triggers=on', 'citus.propagate_set_commands=local'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_db_role_setting s
                        WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
                          AND s.setrole = 0 AND v_setting = ANY (s.setconfig)) THEN
            EXECUTE format('ALTER DATABASE %I SET %s = %s', current_database(),
                           split_part(v_setting, '=', 1), split_part(v_setting, '=', 2));
        END IF;
    END LOOP;

    IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'bookingdb.venues'::regclass) THEN
        PERFORM create_distributed_table('bookingdb.venues', 'venue_id');
    END IF;
    FOREACH v_table IN ARRAY v_colocated LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_dist_partition
                        WHERE logicalrelid = ('bookingdb.' || v_table)::regclass) THEN
            PERFORM create_distributed_table('bookingdb.' || v_table, 'venue_id',
                                             colocate_with => 'bookingdb.venues');
        END IF;
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'bookingdb.tenant_roles'::regclass) THEN
        ALTER TABLE bookingdb.tenant_roles DROP CONSTRAINT IF EXISTS tenant_roles_venue_id_fkey;
        PERFORM create_reference_table('bookingdb.tenant_roles');
    END IF;

    FOR obj IN
        SELECT p.oid::regprocedure AS sig
          FROM pg_proc p
         WHERE p.pronamespace = 'bookingdb'::regnamespace
           AND 'plan_cache_mode=force_generic_plan' = ANY (p.proconfig)
    LOOP
        EXECUTE format('ALTER FUNCTION %s RESET plan_cache_mode', obj.sig);
    END LOOP;

    FOR obj IN
        -- The first input argument (proargnames lists a RETURNS TABLE
        -- function's output columns too).
        SELECT p.oid::regprocedure AS sig, p.proname,
               CASE WHEN p.pronargs > 0 AND coalesce(p.proargmodes[1], 'i') IN ('i', 'b')
                    THEN p.proargnames[1] END AS first_arg,
               d.objid IS NOT NULL AS distributed, d.distribution_argument_index AS delegated_by
          FROM pg_proc p
          LEFT JOIN pg_dist_object d
            ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.objsubid = 0
         WHERE p.pronamespace = 'bookingdb'::regnamespace AND p.prokind = 'f'
    LOOP
        IF obj.proname !~ '^_' AND obj.first_arg = 'venue_id' AND obj.proname <> ALL (v_coordinator_only) THEN
            CONTINUE WHEN obj.delegated_by IS NOT NULL;
            PERFORM create_distributed_function(obj.sig, 'venue_id', colocate_with => 'bookingdb.venues',
                                                force_delegation => true);
        ELSIF NOT obj.distributed THEN
            PERFORM create_distributed_function(obj.sig);
        END IF;
    END LOOP;
END
$distribute$;
