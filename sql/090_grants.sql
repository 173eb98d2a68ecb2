-- Least privilege: who owns the schema and who may do what with it.
--
-- Roles (created by migrate, names configurable; bookingdb.migrate sets
-- these settings for this transaction):
--   bookingdb.owner_role    (default bookingdb_owner)    owns the schema and
--                           everything in it; the public functions run with
--                           its rights (SECURITY DEFINER).
--   bookingdb.app_role      (default bookingdb_app)      EXECUTE on the public
--                           functions, nothing else: no table, sequence or
--                           internal (_-prefixed) function.
--   bookingdb.readonly_role (default bookingdb_readonly) SELECT on the
--                           report_* views and EXECUTE on the read-only
--                           public functions.
-- Nothing in the schema is granted to PUBLIC. Every public function fixes
-- its search_path (pg_catalog, bookingdb, pg_temp: a caller's own tables,
-- functions or operators cannot stand in for ours). The tenancy functions
-- (bind/unbind_tenant_role) stay with the owner.
--
-- Lock waits: every public function runs with one lock_timeout, the
-- database's bookingdb.lock_timeout when set (ALTER DATABASE ... SET
-- bookingdb.lock_timeout = '2s', then bookingdb migrate), else 5 s. It is
-- applied here, at migrate, as each function's own SET clause: nothing is
-- read per call, and a caller's own lock_timeout never reaches inside.

DO $grants$
DECLARE
    v_owner text := coalesce(nullif(current_setting('bookingdb.owner_role', true), ''), 'bookingdb_owner');
    v_app   text := coalesce(nullif(current_setting('bookingdb.app_role', true), ''), 'bookingdb_app');
    v_ro    text := coalesce(nullif(current_setting('bookingdb.readonly_role', true), ''), 'bookingdb_readonly');
    v_bound text := coalesce(nullif(current_setting('bookingdb.lock_timeout', true), ''), '5s');
    v_owner_oid oid;
    obj record;
BEGIN
    -- Refuse a bound PostgreSQL cannot read before anything is changed.
    PERFORM set_config('lock_timeout', v_bound, true);
    IF to_regrole(quote_ident(v_owner)) IS NULL OR to_regrole(quote_ident(v_app)) IS NULL
       OR to_regrole(quote_ident(v_ro)) IS NULL THEN
        RAISE EXCEPTION 'bookingdb roles % / % / % do not exist: run bookingdb migrate, which creates them',
            v_owner, v_app, v_ro;
    END IF;
    v_owner_oid := quote_ident(v_owner)::regrole;

    -- Ownership, changed only where it differs: ALTER TABLE ... OWNER takes
    -- an ACCESS EXCLUSIVE lock even when the owner is already right, and
    -- migrate must not stall bookings on every run.
    IF (SELECT n.nspowner FROM pg_namespace n WHERE n.nspname = 'bookingdb') <> v_owner_oid THEN
        EXECUTE format('ALTER SCHEMA bookingdb OWNER TO %I', v_owner);
    END IF;
    FOR obj IN
        SELECT c.oid::regclass AS name, c.relkind
          FROM pg_class c
         WHERE c.relnamespace = 'bookingdb'::regnamespace AND c.relowner <> v_owner_oid
           AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
           -- identity sequences follow their table
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('i', 'a'))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I',
                       CASE obj.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                        WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                       obj.name, v_owner);
    END LOOP;
    FOR obj IN
        SELECT t.oid::regtype AS name
          FROM pg_type t
          JOIN pg_class c ON c.oid = t.typrelid
         WHERE t.typnamespace = 'bookingdb'::regnamespace AND c.relkind = 'c' AND t.typowner <> v_owner_oid
    LOOP
        EXECUTE format('ALTER TYPE %s OWNER TO %I', obj.name, v_owner);
    END LOOP;
    FOR obj IN
        SELECT p.oid::regprocedure AS sig, p.proname, p.provolatile,
               p.prorettype = 'trigger'::regtype AS is_trigger
          FROM pg_proc p
         WHERE p.pronamespace = 'bookingdb'::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO %I', obj.sig, v_owner);
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', obj.sig);
        CONTINUE WHEN obj.proname LIKE '\_%' OR obj.is_trigger;
        -- Public functions run with the owner's rights and their own
        -- search_path, whoever calls them.
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER', obj.sig);
        -- Every public function bounds its lock waits (v_bound, above). The
        -- writing ones turn a timeout into BK020; a read takes no row locks
        -- and can only wait behind DDL (ACCESS EXCLUSIVE), so there a
        -- timeout is PostgreSQL's 55P03, which the README documents as
        -- retryable (the Python client raises Busy for both).
        EXECUTE format('ALTER FUNCTION %s SET lock_timeout = %L', obj.sig, v_bound);
        CONTINUE WHEN obj.proname IN ('bind_tenant_role', 'unbind_tenant_role');
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', obj.sig, v_app);
        IF obj.provolatile <> 'v' THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', obj.sig, v_ro);
        END IF;
    END LOOP;

    REVOKE ALL ON SCHEMA bookingdb FROM PUBLIC;
    REVOKE ALL ON ALL TABLES IN SCHEMA bookingdb FROM PUBLIC;
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA bookingdb FROM PUBLIC;
    EXECUTE format('GRANT USAGE ON SCHEMA bookingdb TO %I, %I', v_app, v_ro);
    -- Types are usable by PUBLIC by default; the functions' result types
    -- are harmless, but nothing here is PUBLIC's.
    FOR obj IN
        SELECT t.oid::regtype AS name
          FROM pg_type t
         WHERE t.typnamespace = 'bookingdb'::regnamespace AND t.typelem = 0 AND t.typtype IN ('c', 'd', 'e')
           AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
    LOOP
        EXECUTE format('REVOKE ALL ON TYPE %s FROM PUBLIC', obj.name);
        EXECUTE format('GRANT USAGE ON TYPE %s TO %I, %I', obj.name, v_app, v_ro);
    END LOOP;
    -- The report views' row filter (see 012_tenancy.sql).
    EXECUTE format('GRANT EXECUTE ON FUNCTION bookingdb._report_venues() TO %I', v_ro);
    EXECUTE format('GRANT EXECUTE ON FUNCTION bookingdb._in_reach(bigint, bigint[]) TO %I', v_ro);
    FOR obj IN
        SELECT c.oid::regclass AS name
          FROM pg_class c
         WHERE c.relnamespace = 'bookingdb'::regnamespace AND c.relkind = 'v' AND c.relname LIKE 'report\_%'
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', obj.name, v_ro);
    END LOOP;
END
$grants$;
