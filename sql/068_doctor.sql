-- Detect and repair damaged allocation indexes (issue 13): what
-- `bookingdb doctor` runs.
--
-- On PostgreSQL 16 to 18 a rescanned GiST index scan can mark live entries
-- of allocations_no_overlap dead (LP_DEAD); index scans and the exclusion
-- constraint then skip those rows, and an overlapping allocation can get in
-- (README, Guarantees). Bookings are guarded behind the constraint by a
-- btree neighbour check (025_claims.sql), but a database that ran earlier
-- code may hold damage and double bookings already. These functions find
-- both without trusting the index under suspicion, and say how to rebuild.

-- One probe per index of the allocations: a condition that every row the
-- index should hold satisfies (its predicate and a search condition only
-- that index can serve, so the planner reads it and no other). The search
-- value comes from a sub-select: the planner cannot estimate it, so it
-- takes the condition for a selective one and prefers the index it names.
-- tests/sql/test_sql_doctor.py checks each plan and that every index of
-- the table is probed.
CREATE FUNCTION bookingdb._allocation_index_probes()
RETURNS TABLE (index_name text, condition text)
LANGUAGE sql IMMUTABLE
AS $$
    VALUES
        ('allocations_pkey',          'a.venue_id >= (SELECT (-9223372036854775808)::bigint)'),
        ('allocations_active_by_end', 'a.active AND upper(a.blocked) IS NOT NULL'),
        ('allocations_no_overlap',    'a.active AND a.exclusive AND a.blocked && (SELECT ''(,)''::tstzrange)')
$$;

-- What each allocation index finds, against what the table holds. The table
-- is read once by a sequential scan; each index by a bitmap scan, which
-- skips entries marked dead and never finds rows the index lacks, but never
-- marks entries dead itself (a plain, rescannable GiST scan is what causes
-- the damage). STABLE: every count reads the same snapshot, so concurrent
-- bookings cannot look like missing entries. work_mem is raised so that the
-- bitmap stays exact (a lossy page would recheck every row on it and hide a
-- missing entry there).
CREATE FUNCTION bookingdb.check_allocation_indexes()
RETURNS TABLE (index_name text, method text, table_rows bigint, index_rows bigint, missing bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET jit = off
SET work_mem = '64MB'
SET enable_seqscan = on
SET enable_bitmapscan = on
SET enable_indexscan = off
SET enable_indexonlyscan = off
AS $$
DECLARE
    v_probes   text[];
    v_table    bigint[];
    v_found    bigint;
    i          int;
BEGIN
    PERFORM bookingdb._require_unbound();
    SELECT array_agg(p.condition ORDER BY p.index_name) INTO v_probes
      FROM bookingdb._allocation_index_probes() AS p;

    -- The table side: one sequential scan counts the rows of every probe.
    PERFORM set_config('enable_bitmapscan', 'off', true);
    EXECUTE format('SELECT ARRAY[%s] FROM bookingdb.allocations a',
                   (SELECT string_agg(format('count(*) FILTER (WHERE %s)', c), ', ' ORDER BY n)
                      FROM unnest(v_probes) WITH ORDINALITY AS u(c, n)))
       INTO v_table;

    -- The index side: no sequential scan, so each probe reads its index.
    PERFORM set_config('enable_bitmapscan', 'on', true);
    PERFORM set_config('enable_seqscan', 'off', true);
    i := 0;
    FOR index_name, method IN
        SELECT p.index_name, am.amname::text
          FROM bookingdb._allocation_index_probes() AS p
          LEFT JOIN pg_class c ON c.relnamespace = 'bookingdb'::regnamespace AND c.relname = p.index_name
          LEFT JOIN pg_am am ON am.oid = c.relam
         ORDER BY p.index_name
    LOOP
        i := i + 1;
        EXECUTE 'SELECT count(*) FROM bookingdb.allocations a WHERE ' || v_probes[i] INTO v_found;
        table_rows := v_table[i];
        index_rows := v_found;
        missing := v_table[i] - v_found;
        RETURN NEXT;
    END LOOP;

    -- An index nobody probes (added by a migration without a probe, or left
    -- behind invalid by an interrupted REINDEX CONCURRENTLY): listed, unchecked.
    RETURN QUERY
        SELECT c.relname::text, am.amname::text, NULL::bigint, NULL::bigint, NULL::bigint
          FROM pg_index x
          JOIN pg_class c ON c.oid = x.indexrelid
          JOIN pg_am am ON am.oid = c.relam
         WHERE x.indrelid = 'bookingdb.allocations'::regclass
           AND c.relname NOT IN (SELECT p.index_name FROM bookingdb._allocation_index_probes() AS p)
         ORDER BY c.relname;
END
$$;

COMMENT ON FUNCTION bookingdb.check_allocation_indexes() IS
    'One row per index of the allocations: index_name, method (gist, btree), table_rows (rows the index '
    'should hold, read from the table by a sequential scan), index_rows (the same rows found through the '
    'index by a bitmap scan), missing (table_rows - index_rows; above 0: live rows the index has lost, as '
    'the PostgreSQL 16-18 GiST bug does; run bookingdb doctor). An index without a probe is listed with '
    'NULL counts. Reads the whole table and each index once, in one snapshot. Refusals: BK007 for a '
    'caller bound to a venue.';

-- Pairs of active allocations of an exclusive resource that overlap: what
-- the exclusion constraint should have refused. The same rows as the
-- constraint's (active AND exclusive, a lapsed hold included: its
-- allocation stays active until it is expired, and REINDEX would trip over
-- it), read by a sequential scan only: neither the GiST index nor the btree
-- behind it can be trusted here. In start order per resource, an
-- allocation overlaps an earlier one exactly when it starts before the
-- latest end seen so far (the sweep of verify_invariants' I1); only those
-- are paired with the earlier ones they meet.
CREATE FUNCTION bookingdb.hidden_overlaps()
RETURNS TABLE (
    venue_id bigint, resource_id bigint, resource_name text,
    booking_id bigint, reference text, status text, starts_at timestamptz, ends_at timestamptz,
    other_booking_id bigint, other_reference text, other_status text,
    other_starts_at timestamptz, other_ends_at timestamptz,
    overlap tstzrange)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
SET jit = off
SET enable_seqscan = on
SET enable_bitmapscan = off
SET enable_indexscan = off
SET enable_indexonlyscan = off
AS $$
DECLARE
    v_pairs bigint[];
BEGIN
    PERFORM bookingdb._require_unbound();
    -- Pairs as (venue, resource, booking, other booking), from the table alone.
    WITH claims AS MATERIALIZED (
        SELECT a.venue_id, a.resource_id, a.booking_id, a.blocked,
               max(upper(a.blocked)) OVER (PARTITION BY a.venue_id, a.resource_id
                                           ORDER BY lower(a.blocked), a.booking_id
                                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_end
          FROM bookingdb.allocations a
         WHERE a.active AND a.exclusive
    )
    SELECT array_agg(ARRAY[x.venue_id, x.resource_id, least(x.booking_id, y.booking_id),
                           greatest(x.booking_id, y.booking_id)])
      INTO v_pairs
      FROM claims x
      JOIN claims y ON y.venue_id = x.venue_id AND y.resource_id = x.resource_id
                   AND (lower(y.blocked), y.booking_id) < (lower(x.blocked), x.booking_id)
                   AND y.blocked && x.blocked
     WHERE lower(x.blocked) < x.earlier_end;

    IF v_pairs IS NULL THEN
        RETURN;
    END IF;
    -- The few pairs found: now named, through the primary keys.
    PERFORM set_config('enable_indexscan', 'on', true);
    PERFORM set_config('enable_bitmapscan', 'on', true);
    RETURN QUERY
        SELECT p.v, p.r, res.name, b.booking_id, b.reference,
               CASE WHEN b.status = 'held' AND b.expires_at <= now() THEN 'expired' ELSE b.status END,
               b.starts_at, b.ends_at,
               o.booking_id, o.reference,
               CASE WHEN o.status = 'held' AND o.expires_at <= now() THEN 'expired' ELSE o.status END,
               o.starts_at, o.ends_at,
               ab.blocked * ao.blocked
          FROM (SELECT DISTINCT v_pairs[n][1] AS v, v_pairs[n][2] AS r, v_pairs[n][3] AS b1, v_pairs[n][4] AS b2
                  FROM generate_subscripts(v_pairs, 1) AS n) AS p
          JOIN bookingdb.resources res ON res.venue_id = p.v AND res.resource_id = p.r
          JOIN bookingdb.bookings b ON b.venue_id = p.v AND b.booking_id = p.b1
          JOIN bookingdb.bookings o ON o.venue_id = p.v AND o.booking_id = p.b2
          JOIN bookingdb.allocations ab ON ab.venue_id = p.v AND ab.booking_id = p.b1 AND ab.resource_id = p.r
          JOIN bookingdb.allocations ao ON ao.venue_id = p.v AND ao.booking_id = p.b2 AND ao.resource_id = p.r
         ORDER BY p.v, p.r, lower(ab.blocked * ao.blocked), p.b1, p.b2;
END
$$;

COMMENT ON FUNCTION bookingdb.hidden_overlaps() IS
    'Pairs of active allocations on an exclusive resource that overlap, which the exclusion constraint '
    'should have refused (a damaged GiST index lets them in): venue_id, resource_id, resource_name, '
    'booking_id, reference, status, starts_at, ends_at of the earlier booking (lower id), the same for the '
    'other (later) booking, and overlap (the shared range, buffers included). Read from the table by a '
    'sequential scan, never through an index. A status of expired is a lapsed hold not yet swept '
    '(expire_holds resolves it). No rows when there are none. Refusals: BK007 for a caller bound to a venue.';

-- What rebuilding takes: one statement per damaged index, for the caller to
-- run outside a transaction (REINDEX CONCURRENTLY cannot run in a function).
-- The index of an exclusion constraint cannot be rebuilt concurrently
-- (PostgreSQL refuses: "concurrent index creation for exclusion constraints
-- is not supported", 15 and 18 alike), so it gets a plain REINDEX, which
-- blocks writes to the allocations while it runs. A rebuild of the
-- constraint's index fails while an overlap exists, and rebuilding the
-- others would hide the damage's trace without undoing the double booking:
-- so nothing is offered until hidden_overlaps() is empty.
CREATE FUNCTION bookingdb.allocation_index_repairs(include_healthy boolean DEFAULT false)
RETURNS TABLE (index_name text, statement text, concurrently boolean, missing bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, bookingdb, pg_temp
AS $$
DECLARE
    v_overlaps text;
    v_count    bigint;
BEGIN
    PERFORM bookingdb._require_unbound();
    SELECT count(*),
           string_agg(format('venue %s resource %s (%s): %s (booking %s, %s) and %s (booking %s, %s)',
                             h.venue_id, h.resource_id, h.resource_name, h.reference, h.booking_id, h.status,
                             h.other_reference, h.other_booking_id, h.other_status), '; ')
      INTO v_count, v_overlaps
      FROM (SELECT * FROM bookingdb.hidden_overlaps() LIMIT 20) AS h;
    IF v_count > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK023', MESSAGE = 'overlaps unresolved',
            DETAIL = format('active allocations overlap on exclusive resources%s: %s',
                            CASE WHEN v_count >= 20 THEN ' (first 20)' ELSE '' END, v_overlaps),
            HINT = 'Cancel, move or release one booking of each pair (a lapsed hold: run expire_holds), '
                   'then repair again.';
    END IF;
    RETURN QUERY
        SELECT c.index_name,
               format('REINDEX INDEX %s%I.%I', CASE WHEN x.is_exclusion THEN '' ELSE 'CONCURRENTLY ' END,
                      'bookingdb', c.index_name),
               NOT x.is_exclusion,
               c.missing
          FROM bookingdb.check_allocation_indexes() AS c
         CROSS JOIN LATERAL (
                SELECT EXISTS (SELECT 1 FROM pg_constraint k
                                WHERE k.conindid = format('%I.%I', 'bookingdb', c.index_name)::regclass
                                  AND k.contype = 'x') AS is_exclusion) AS x
         WHERE c.missing IS NOT NULL AND (c.missing <> 0 OR include_healthy)
         ORDER BY x.is_exclusion, c.index_name;
END
$$;

COMMENT ON FUNCTION bookingdb.allocation_index_repairs(boolean) IS
    'The statements that rebuild the allocation indexes that lost rows (all of them with include_healthy): '
    'index_name, statement (REINDEX INDEX CONCURRENTLY, or a plain REINDEX INDEX for the exclusion '
    'constraint''s index, which PostgreSQL cannot rebuild concurrently and which blocks writes to the '
    'allocations while it runs), concurrently, missing. Runs nothing: run each statement outside a '
    'transaction, as the tables'' owner (bookingdb doctor --repair does). Refusals: BK023 while '
    'hidden_overlaps() returns rows (DETAIL names them); BK007 for a caller bound to a venue.';
