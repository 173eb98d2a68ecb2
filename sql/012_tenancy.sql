-- Tenant isolation: which venues the caller may reach.
--
-- A caller is bound to venues in one of two ways:
--   * its login role (session_user) is listed in bookingdb.tenant_roles:
--     it reaches only those venues, whatever it sets in its session;
--   * it sets bookingdb.venue_id (per transaction with
--     set_config('bookingdb.venue_id', '42', true), or for a role with
--     ALTER ROLE ... SET bookingdb.venue_id = '42'): it reaches only that
--     venue. This guards a platform's application against its own bugs; a
--     caller who can run arbitrary SQL can change it, so bind such callers
--     by role.
-- Both together: the setting must name one of the role's venues.
-- An unbound caller (no row, no setting) reaches every venue: the platform.
-- A venue the caller may not reach is refused exactly like a venue that
-- does not exist (BK007 'venue not found'), so its existence does not leak.

-- The rule itself: a venue is within reach of a binding (what
-- _tenant_venues returns) when the caller is unbound (NULL) or the venue is
-- one of its venues. Pure, so callers that read the binding once (the
-- report views, list_venues) apply it per row without reading it again.
CREATE FUNCTION bookingdb._in_reach(p_venue_id bigint, p_reach bigint[])
RETURNS boolean
LANGUAGE sql IMMUTABLE
AS $$
    SELECT p_reach IS NULL OR coalesce(p_venue_id = ANY (p_reach), false)
$$;

-- The venues the caller may reach; NULL when it is not bound.
CREATE FUNCTION bookingdb._tenant_venues()
RETURNS bigint[]
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_setting text := nullif(current_setting('bookingdb.venue_id', true), '');
    v_roles   bigint[];
BEGIN
    SELECT array_agg(t.venue_id) INTO v_roles
      FROM bookingdb.tenant_roles t
     WHERE t.role_name = session_user;
    IF v_setting IS NULL THEN
        RETURN v_roles;
    END IF;
    -- A setting that is not a venue id binds the caller to nothing.
    IF v_setting !~ '^[0-9]{1,18}$' THEN
        RETURN '{}'::bigint[];
    END IF;
    IF bookingdb._in_reach(v_setting::bigint, v_roles) THEN
        RETURN ARRAY[v_setting::bigint];
    END IF;
    RETURN '{}'::bigint[];
END
$$;

CREATE FUNCTION bookingdb._reachable(p_venue_id bigint)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT bookingdb._in_reach(p_venue_id, bookingdb._tenant_venues())
$$;

-- The row filter of the report_* views: the venues the reader may see
-- (NULL: all). A function a view calls runs with the reader's rights, so
-- this one runs as the owner (to read the role bindings) and tells the
-- reader no more than its own binding. The views call it once per query,
-- not per row: on Citus, a per-row call would run on the shards, where it
-- may not read the bindings.
CREATE FUNCTION bookingdb._report_venues()
RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
    SELECT bookingdb._tenant_venues()
$$;

-- The start of a function that reads the venue's rows without
-- _require_venue (the hot paths): the same refusal as an unknown venue.
CREATE FUNCTION bookingdb._check_tenant(p_venue_id bigint)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    -- The platform's own connections (no setting, no role binding: what
    -- _tenant_venues calls unbound) pass with one indexed read.
    IF coalesce(current_setting('bookingdb.venue_id', true), '') = ''
       AND NOT EXISTS (SELECT 1 FROM bookingdb.tenant_roles t WHERE t.role_name = session_user) THEN
        RETURN;
    END IF;
    IF NOT bookingdb._reachable(p_venue_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'venue not found',
            DETAIL = format('venue_id: %s', coalesce(p_venue_id::text, 'NULL'));
    END IF;
END
$$;

-- For functions that act across venues (create_venue, expire_holds, health,
-- verify_invariants): only an unbound caller may run them.
CREATE FUNCTION bookingdb._require_unbound()
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF bookingdb._tenant_venues() IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'not available to a caller bound to a venue',
            HINT = 'Platform-wide functions run on a connection bound to no venue.';
    END IF;
END
$$;

CREATE FUNCTION bookingdb.bind_tenant_role(venue_id bigint, role_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
BEGIN
    PERFORM bookingdb._require_unbound();
    PERFORM bookingdb._require_venue(bind_tenant_role.venue_id);
    IF role_name IS NULL OR to_regrole(quote_ident(role_name)) IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'no such role',
            DETAIL = format('role_name: %s', coalesce(role_name, 'NULL'));
    END IF;
    INSERT INTO bookingdb.tenant_roles (venue_id, role_name)
    VALUES (bind_tenant_role.venue_id, bind_tenant_role.role_name)
    ON CONFLICT DO NOTHING;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.bind_tenant_role(bigint, text) IS
    'Binds a database role to a venue: connections logged in as that role reach only the venues bound to it; '
    'every other venue is refused as not found. Idempotent. For the schema owner only (not granted to the app '
    'role). Refusals: BK007 unknown venue or a bound caller; BK008 no such role; BK020 busy.';

CREATE FUNCTION bookingdb.unbind_tenant_role(venue_id bigint, role_name text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
DECLARE
    v_found boolean;
BEGIN
    PERFORM bookingdb._require_unbound();
    PERFORM bookingdb._require_venue(unbind_tenant_role.venue_id);
    DELETE FROM bookingdb.tenant_roles t
     WHERE t.venue_id = unbind_tenant_role.venue_id AND t.role_name = unbind_tenant_role.role_name;
    v_found := FOUND;
    RETURN v_found;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

COMMENT ON FUNCTION bookingdb.unbind_tenant_role(bigint, text) IS
    'Removes a role''s binding to a venue; true if there was one. A role with no binding left is unbound '
    '(it reaches every venue). For the schema owner only. Refusals: BK007 unknown venue or a bound caller; '
    'BK020 busy.';
