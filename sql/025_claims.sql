-- The one implementation behind every way of taking a slot: create_hold,
-- create_booking_atomic and reschedule_booking all go through _book or
-- _place, so the locking and conflict rules exist once.

-- Human reference code, e.g. BK-7Q3M-X2PD (Crockford's alphabet: no I, L,
-- O, U). A plain SQL expression so the planner inlines it into the INSERT.
CREATE FUNCTION bookingdb._new_reference()
RETURNS text
LANGUAGE sql VOLATILE
AS $$
    SELECT 'BK-'
        || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + floor(random() * 32)::int, 1)
        || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + floor(random() * 32)::int, 1)
        || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + floor(random() * 32)::int, 1)
        || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + floor(random() * 32)::int, 1)
        || '-'
        || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + floor(random() * 32)::int, 1)
        || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + floor(random() * 32)::int, 1)
        || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + floor(random() * 32)::int, 1)
        || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + floor(random() * 32)::int, 1)
$$;

-- Every booking takes a transaction-scoped advisory lock per resource, in
-- exclusive mode (safe under PgBouncer transaction pooling, released at
-- commit or rollback), in sorted id order so that bookings naming several
-- resources cannot wait on each other in a cycle. Only bookings of the same
-- resource wait for each other. The lock is what makes the checks that
-- follow sound: the capacity check of shared resources, and for exclusive
-- resources the neighbour check that backs the exclusion constraint (see
-- _place). A caller holding it with acquire_booking_lock holds them all off.
CREATE FUNCTION bookingdb._lock_resources(p_resource_ids bigint[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    -- Lock-then-read is only sound when the read after the lock sees what the
    -- previous holder committed, i.e. with a fresh snapshot per statement
    -- (READ COMMITTED), or when the database aborts a read that missed a
    -- concurrent write (SERIALIZABLE). A REPEATABLE READ snapshot predates
    -- the lock, so neither the capacity check nor the neighbour check could
    -- see the booking that held it before us.
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008',
            MESSAGE = 'bookings cannot be made in a REPEATABLE READ transaction',
            HINT = 'Use READ COMMITTED (the default) or SERIALIZABLE.';
    END IF;
    -- unnest keeps the (sorted) array order, so locks are taken in id order.
    PERFORM pg_advisory_xact_lock(bookingdb._lock_key(x)) FROM unnest(p_resource_ids) AS x;
END
$$;

-- The same locks without queueing for any: lock_not_available (55P03) unless
-- every one was free, or came free within p_within (tried again about every
-- millisecond). For a waitlist offer, made inside the transaction of the
-- change that freed the slot: that transaction may hold a row a booking
-- with the lock is waiting for (a cancelled allocation its exclusion check
-- must see settled), so the offer sitting in the lock's queue would close a
-- cycle (40P01 for the booking). Polling never joins the queue; an offer
-- that runs out of time gives way, and the caller's subtransaction, rolled
-- back, lets go of the locks it did take.
CREATE FUNCTION bookingdb._try_lock_resources(p_resource_ids bigint[], p_within interval)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    x          bigint;
    v_deadline timestamptz := clock_timestamp() + p_within;
BEGIN
    FOREACH x IN ARRAY p_resource_ids LOOP
        WHILE NOT pg_try_advisory_xact_lock(bookingdb._lock_key(x)) LOOP
            IF clock_timestamp() >= v_deadline THEN
                RAISE EXCEPTION USING ERRCODE = 'lock_not_available',
                    MESSAGE = format('resource %s is being booked by another transaction', x);
            END IF;
            PERFORM pg_sleep(0.001);
        END LOOP;
    END LOOP;
END
$$;

-- With the locks held: the highest occupancy at any instant plus the request
-- must fit every shared resource, else BK002.
CREATE FUNCTION bookingdb._check_shared(
    p_venue_id bigint, p_shared_ids bigint[], p_starts_at timestamptz, p_ends_at timestamptz,
    p_quantity int, p_exclude_booking_id bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_full text;
BEGIN
    SELECT string_agg(format('resource %s: %s of %s units in use', r.resource_id, occ.used, r.sell_limit),
                      '; ' ORDER BY r.resource_id)
      INTO v_full
      FROM bookingdb.resources r,
           LATERAL (SELECT bookingdb._max_occupancy(
                        p_venue_id, r.resource_id,
                        tstzrange(p_starts_at - r.buffer_before, p_ends_at + r.buffer_after),
                        p_exclude_booking_id, r.sell_limit, p_quantity) AS used) AS occ
     WHERE r.venue_id = p_venue_id
       AND r.resource_id = ANY (p_shared_ids)
       AND occ.used + p_quantity > r.sell_limit;

    IF v_full IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'BK002', MESSAGE = 'capacity exceeded',
            DETAIL = format('requested %s; %s', p_quantity, v_full);
    END IF;
END
$$;

-- Lapsed holds (past expires_at, still marked held) whose allocations are
-- in the way of [starts_at, ends_at) on these exclusive resources. Read
-- through the btree allocations_active_by_end, never the GiST index (the
-- resource, not a.exclusive, says what is exclusive, so the constraint's
-- partial index cannot serve it). The active allocations of an exclusive
-- resource never overlap each other, so those meeting a window w are the
-- ones ending inside it, plus at most one ending after it: the first, if it
-- starts before w ends. Two bounded index ranges, however long the history.
CREATE FUNCTION bookingdb._lapsed_holds_in_way(
    p_venue_id bigint, p_resource_ids bigint[], p_starts_at timestamptz, p_ends_at timestamptz)
RETURNS SETOF bigint
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    -- plpgsql, not sql: Citus cannot route an SQL function's parameterised
    -- statements to a shard.
    RETURN QUERY
    SELECT a.booking_id
      FROM bookingdb.resources r
     CROSS JOIN LATERAL (
            SELECT tstzrange(p_starts_at - r.buffer_before, p_ends_at + r.buffer_after) AS w) AS q
     CROSS JOIN LATERAL (
            SELECT x.booking_id, x.blocked, x.expires_at
              FROM bookingdb.allocations x
             WHERE x.venue_id = p_venue_id AND x.resource_id = r.resource_id AND x.active
               AND upper(x.blocked) > lower(q.w) AND upper(x.blocked) <= upper(q.w)
            UNION ALL
            (SELECT x.booking_id, x.blocked, x.expires_at
               FROM bookingdb.allocations x
              WHERE x.venue_id = p_venue_id AND x.resource_id = r.resource_id AND x.active
                AND upper(x.blocked) > upper(q.w)
              ORDER BY upper(x.blocked)
              LIMIT 1)) AS a
     WHERE r.venue_id = p_venue_id
       AND r.resource_id = ANY (p_resource_ids)
       AND r.capacity = 1
       AND a.blocked && q.w
       AND a.expires_at <= now();
END
$$;

-- Lazy expiry: marks the lapsed holds in the way expired (the status change
-- deactivates all of a hold's allocations, by trigger), so no cron is needed
-- for correctness. Holds are locked in id order, so two bookings expiring the
-- same holds cannot deadlock.
--
-- p_wait decides what to do with a hold someone else has locked. Waiting is
-- only safe while this transaction has written no allocation yet: the other
-- transaction may itself be waiting for one of ours (40P01). So callers
-- expire with p_wait = true before their first allocation insert, and only
-- skip-locked afterwards.
CREATE FUNCTION bookingdb._expire_in_way(
    p_venue_id bigint, p_resource_ids bigint[], p_starts_at timestamptz, p_ends_at timestamptz,
    p_wait boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_ids bigint[] := ARRAY(SELECT x FROM bookingdb._lapsed_holds_in_way(
                                p_venue_id, p_resource_ids, p_starts_at, p_ends_at) AS x);
BEGIN
    IF cardinality(v_ids) = 0 THEN
        RETURN;
    END IF;
    IF p_wait THEN
        UPDATE bookingdb.bookings b
           SET status = 'expired'
         WHERE b.venue_id = p_venue_id AND b.status = 'held'
           AND b.booking_id IN (
                SELECT h.booking_id FROM bookingdb.bookings h
                 WHERE h.venue_id = p_venue_id AND h.status = 'held' AND h.expires_at <= now()
                   AND h.booking_id = ANY (v_ids)
                 ORDER BY h.booking_id
                   FOR UPDATE);
    ELSE
        UPDATE bookingdb.bookings b
           SET status = 'expired'
         WHERE b.venue_id = p_venue_id AND b.status = 'held'
           AND b.booking_id IN (
                SELECT h.booking_id FROM bookingdb.bookings h
                 WHERE h.venue_id = p_venue_id AND h.status = 'held' AND h.expires_at <= now()
                   AND h.booking_id = ANY (v_ids)
                 ORDER BY h.booking_id
                   FOR UPDATE SKIP LOCKED);
    END IF;
END
$$;

-- Writes a booking's allocations (one per resource). Exclusive resources are
-- guarded twice: by the exclusion constraint, then by _check_neighbours.
-- When a lapsed hold is in the way, it is expired and the insert retried
-- once; raises BK001 naming the resources still taken (the exception undoes
-- everything the caller wrote).
--
-- p_may_wait: the caller has written no allocation before this call (a new
-- booking), so if the first insert places nothing, waiting for a lapsed
-- hold's row lock is safe. Otherwise (several resources, or a reschedule that
-- deleted its old allocations) the caller expired the holds in its way with
-- waiting beforehand, and here a hold that lapsed in between is only expired
-- if nobody holds it.
CREATE FUNCTION bookingdb._place(
    p_venue_id bigint, p_booking_id bigint, p_resource_ids bigint[],
    p_starts_at timestamptz, p_ends_at timestamptz, p_quantity int, p_expires_at timestamptz,
    p_may_wait boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_todo bigint[] := p_resource_ids;
BEGIN
    FOR attempt IN 1..2 LOOP
        -- ON CONFLICT DO NOTHING, not a plain INSERT: plain inserts racing
        -- into an exclusion constraint can deadlock (40P01); this way a taken
        -- slot is simply "no row". Rows go in resource order so two
        -- multi-resource bookings wait for each other in one direction only.
        WITH placed AS (
            INSERT INTO bookingdb.allocations
                (venue_id, booking_id, resource_id, blocked, quantity, exclusive, expires_at)
            SELECT p_venue_id, p_booking_id, r.resource_id,
                   tstzrange(p_starts_at - r.buffer_before, p_ends_at + r.buffer_after),
                   p_quantity, r.capacity = 1, p_expires_at
              FROM bookingdb.resources r
             WHERE r.venue_id = p_venue_id AND r.resource_id = ANY (v_todo)
             ORDER BY r.resource_id
            ON CONFLICT DO NOTHING
            RETURNING resource_id
        )
        SELECT array_agg(x ORDER BY x) INTO v_todo
          FROM unnest(v_todo) AS x
         WHERE x NOT IN (SELECT resource_id FROM placed);

        IF v_todo IS NULL THEN
            PERFORM bookingdb._check_neighbours(p_venue_id, p_booking_id);
            RETURN;
        END IF;
        EXIT WHEN attempt = 2;
        PERFORM bookingdb._expire_in_way(p_venue_id, v_todo, p_starts_at, p_ends_at,
                                         p_may_wait AND v_todo = p_resource_ids);
    END LOOP;

    PERFORM bookingdb._refuse_taken(v_todo, p_starts_at, p_ends_at);
END
$$;

CREATE FUNCTION bookingdb._refuse_taken(p_resource_ids bigint[], p_starts_at timestamptz, p_ends_at timestamptz)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'BK001', MESSAGE = 'slot unavailable',
        DETAIL = format('resource_ids taken between %s and %s: %s', p_starts_at, p_ends_at, p_resource_ids),
        HINT = 'Choose another time or resource; check_availability answers without booking.';
END
$$;

-- The second line behind the exclusion constraint, independent of GiST: on
-- PostgreSQL 16 to 18 a rescanned GiST index scan (any query's, an
-- operator's included) can mark live entries of allocations_no_overlap
-- dead, and the constraint then admits an overlapping row. Under the
-- resource's exclusive lock (_lock_resources), with the booking's
-- allocations written, each of its exclusive allocations is compared with
-- its neighbour through the btree allocations_active_by_end: the first
-- other active allocation of the resource ending after it starts. Active
-- allocations of an exclusive resource never overlap each other (every
-- insert passes this check under the lock), so sorted by end they are
-- sorted by start too, and only that first one can overlap.
--
-- Finding one means the constraint missed it: a WARNING names the index
-- (it needs `bookingdb doctor`). A lapsed hold found there is free and is
-- expired (skip-locked: this transaction has written, so it must not
-- wait); anything else is refused with BK001, as the constraint would have.
CREATE FUNCTION bookingdb._check_neighbours(p_venue_id bigint, p_booking_id bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_clash record;
BEGIN
    FOR v_clash IN
        SELECT m.resource_id, m.blocked, n.booking_id AS other, n.expires_at <= now() AS lapsed
          FROM bookingdb.allocations m
         CROSS JOIN LATERAL (
                SELECT x.booking_id, x.blocked, x.expires_at
                  FROM bookingdb.allocations x
                 WHERE x.venue_id = p_venue_id AND x.resource_id = m.resource_id AND x.active
                   AND upper(x.blocked) > lower(m.blocked)
                   AND x.booking_id <> m.booking_id
                 ORDER BY upper(x.blocked)
                 LIMIT 1) AS n
         WHERE m.venue_id = p_venue_id AND m.booking_id = p_booking_id AND m.exclusive
           AND lower(n.blocked) < upper(m.blocked)
    LOOP
        RAISE WARNING USING
            MESSAGE = format('bookingdb: index allocations_no_overlap missed an overlap on resource %s',
                             v_clash.resource_id),
            DETAIL = format('booking %s overlaps booking %s%s', p_booking_id, v_clash.other,
                            CASE WHEN v_clash.lapsed THEN ' (a lapsed hold, now expired)' ELSE '' END),
            HINT = 'The GiST index has lost entries (a PostgreSQL 16-18 bug). Run bookingdb doctor.';
        IF v_clash.lapsed THEN
            UPDATE bookingdb.bookings b SET status = 'expired'
             WHERE b.venue_id = p_venue_id AND b.booking_id IN (
                    SELECT h.booking_id FROM bookingdb.bookings h
                     WHERE h.venue_id = p_venue_id AND h.booking_id = v_clash.other
                       AND h.status = 'held' AND h.expires_at <= now()
                       FOR UPDATE SKIP LOCKED);
        END IF;
        -- The lapsed hold could not be expired, was not the only neighbour
        -- in the way, or was no hold at all: refuse.
        IF NOT v_clash.lapsed OR EXISTS (
                SELECT 1 FROM bookingdb.allocations x
                 WHERE x.venue_id = p_venue_id AND x.resource_id = v_clash.resource_id AND x.active
                   AND upper(x.blocked) > lower(v_clash.blocked)
                   AND lower(x.blocked) < upper(v_clash.blocked)
                   AND x.booking_id <> p_booking_id) THEN
            PERFORM bookingdb._refuse_taken(ARRAY[v_clash.resource_id], lower(v_clash.blocked),
                                            upper(v_clash.blocked));
        END IF;
    END LOOP;
END
$$;

-- Replaying an idempotency key: the same request gets the original booking
-- back (no second row, no error); a different request is refused.
CREATE FUNCTION bookingdb._replay(b bookingdb.bookings, p_request_hash bigint)
RETURNS bookingdb.booking
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF b.request_hash IS DISTINCT FROM p_request_hash THEN
        RAISE EXCEPTION USING ERRCODE = 'BK005', MESSAGE = 'idempotency key reused for a different request',
            DETAIL = format('idempotency_key: %s already names booking %s (%s)',
                            b.idempotency_key, b.booking_id, b.reference),
            HINT = 'Use a new key for a new request.';
    END IF;
    RETURN bookingdb._as_booking(b);
END
$$;

-- Creates a held, pending or confirmed booking. Statements on the common path:
-- validate (one query), [idempotency lookup], insert the booking,
-- [shared-resource locks and capacity check], [expire lapsed holds in the
-- way], insert its allocations. Every path waits in that order (the
-- booking's unique keys, advisory locks, rows of lapsed holds, allocations),
-- which is what keeps concurrent bookings free of deadlocks.
CREATE FUNCTION bookingdb._book(
    p_venue_id bigint, p_resource_ids bigint[], p_starts_at timestamptz, p_ends_at timestamptz,
    p_party_size int, p_quantity int, p_idempotency_key text, p_status text,
    p_customer jsonb, p_payment_ref text, p_ttl interval, p_series_id bigint DEFAULT NULL,
    p_event_id bigint DEFAULT NULL, p_total_cents bigint DEFAULT NULL,
    p_waitlist_entry_id bigint DEFAULT NULL, p_request_hash bigint DEFAULT NULL,
    p_holder text DEFAULT NULL)
RETURNS bookingdb.booking
LANGUAGE plpgsql
AS $$
DECLARE
    v_req     record;
    v_venue   bookingdb.venues;
    v_row     bookingdb.bookings;
    v_expires timestamptz;
    v_hash    bigint;
    v_holder  text;
    v_token   text;
    v_result  bookingdb.booking;
BEGIN
    PERFORM bookingdb._check_tenant(p_venue_id);
    -- Both are indexed: a key past an index row's size would fail as 54000.
    IF length(p_idempotency_key) NOT BETWEEN 1 AND 200 OR length(p_holder) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'idempotency_key and holder must be 1 to 200 characters',
            DETAIL = format('idempotency_key length: %s, holder length: %s', length(p_idempotency_key),
                            length(p_holder));
    END IF;
    IF p_status IS NULL OR p_status NOT IN ('held', 'confirmed', 'pending') THEN
        RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'status must be confirmed or pending',
            DETAIL = format('status: %s', coalesce(p_status, 'NULL'));
    END IF;
    -- A replay first: the same request gets its booking back even if the
    -- venue's rules have changed since, or its start is now within the
    -- notice period (I5). Epoch seconds, not timestamptz::text or
    -- interval::text: the fingerprint must not depend on the session's
    -- TimeZone or IntervalStyle; resource ids sorted and deduplicated, as
    -- the booking stores them.
    -- p_request_hash: a caller whose request is not the resource list (a
    -- ticket hold that picks its seats) fingerprints it itself.
    IF p_idempotency_key IS NOT NULL THEN
        v_hash := coalesce(p_request_hash, hashtextextended(concat_ws('|', p_status,
                      ARRAY(SELECT DISTINCT x FROM unnest(p_resource_ids) AS x WHERE x IS NOT NULL
                             ORDER BY x)::text,
                      extract(epoch FROM p_starts_at), extract(epoch FROM p_ends_at),
                      p_party_size, p_quantity, p_customer::text, p_payment_ref,
                      extract(epoch FROM p_ttl), p_holder), 0));
        SELECT * INTO v_row FROM bookingdb.bookings b
         WHERE b.venue_id = p_venue_id AND b.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            RETURN bookingdb._replay(v_row, v_hash);
        END IF;
    END IF;

    v_req := bookingdb._prepare(p_venue_id, p_resource_ids, p_starts_at, p_ends_at,
                                p_party_size, p_quantity);
    v_venue := v_req.venue;
    PERFORM bookingdb._check_customer(v_venue, p_customer, p_starts_at);
    IF p_status = 'held' THEN
        -- A hold is a short claim; a bound also keeps expires_at readable
        -- by every client (no year-275000 expiry).
        IF p_ttl <= interval '0' OR p_ttl > interval '30 days' THEN
            RAISE EXCEPTION USING ERRCODE = 'BK008', MESSAGE = 'ttl must be positive and at most 30 days',
                DETAIL = format('ttl: %s', p_ttl);
        END IF;
        -- Elapsed time: a '1 day' hold lasts 24 hours whatever the session's
        -- TimeZone.
        v_expires := now() + bookingdb._elapsed(coalesce(p_ttl, v_venue.hold_ttl));
        v_holder := coalesce(p_holder, lower(p_customer ->> 'email'));
        -- Anti-hoarding: one customer's holds are counted under a lock of
        -- their own (only their concurrent holds wait for it). A waitlist
        -- offer is the engine's, not the customer's grab, and is exempt.
        IF v_venue.max_active_holds_per_customer IS NOT NULL AND v_holder IS NOT NULL
           AND p_waitlist_entry_id IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtextextended(
                format('bookingdb.holder|%s|%s', p_venue_id, v_holder), 0));
            -- A twin request with this key may have committed meanwhile.
            IF p_idempotency_key IS NOT NULL THEN
                SELECT * INTO v_row FROM bookingdb.bookings b
                 WHERE b.venue_id = p_venue_id AND b.idempotency_key = p_idempotency_key;
                IF FOUND THEN
                    RETURN bookingdb._replay(v_row, v_hash);
                END IF;
            END IF;
            IF (SELECT count(*) FROM bookingdb.bookings b
                 WHERE b.venue_id = p_venue_id AND b.status = 'held' AND b.holder = v_holder
                   AND b.expires_at > now()) >= v_venue.max_active_holds_per_customer THEN
                RAISE EXCEPTION USING ERRCODE = 'BK021', MESSAGE = 'too many live holds for this customer',
                    DETAIL = format('holder %s already has %s live holds (venue limit)', v_holder,
                                    v_venue.max_active_holds_per_customer),
                    HINT = 'Confirm or release a hold first.';
            END IF;
        END IF;
    ELSE
        -- The customer's cancellation token, handed out once with this
        -- result; only its hash is stored. One draw from the server's strong
        -- random source (gen_random_uuid: 122 random bits), spread over 64
        -- hex characters.
        v_token := encode(sha256(uuid_send(gen_random_uuid())), 'hex');
    END IF;

    FOR attempt IN 1..5 LOOP
        -- The booking, its audit row and its feed rows (one per resource, in
        -- id order) in one statement: the update trigger audits every later
        -- change, and verify_invariants (I6) finds a booking written any
        -- other way without its audit row. DO NOTHING covers both unique
        -- keys: a twin request with the same idempotency key that committed
        -- first, or (rarely) a reference code already in use in this venue;
        -- then nothing is written.
        WITH b AS (
            INSERT INTO bookingdb.bookings
                (venue_id, reference, status, starts_at, ends_at, party_size, quantity, resource_ids,
                 customer, payment_ref, idempotency_key, request_hash, expires_at, total_deposit_cents,
                 series_id, event_id, total_cents, waitlist_entry_id, holder, cancel_token_hash)
            VALUES (p_venue_id, bookingdb._new_reference(), p_status, p_starts_at, p_ends_at,
                    p_party_size, p_quantity, v_req.resource_ids, p_customer, p_payment_ref,
                    p_idempotency_key, v_hash, v_expires, v_req.total_deposit_cents, p_series_id,
                    p_event_id, p_total_cents, p_waitlist_entry_id, v_holder,
                    sha256(convert_to(v_token, 'UTF8')))
            ON CONFLICT DO NOTHING
            RETURNING *
        ), audited AS (
            INSERT INTO bookingdb.audit_log (venue_id, booking_id, version, action, old_status, new_status, actor)
            SELECT b.venue_id, b.booking_id, b.version, 'create', NULL, b.status, bookingdb._actor()
              FROM b
        ), fed AS (
            INSERT INTO bookingdb.changes
                (venue_id, booking_id, resource_id, starts_at, ends_at, old_status, new_status, action, reference)
            SELECT b.venue_id, b.booking_id, r.id, b.starts_at, b.ends_at, NULL, b.status,
                   CASE WHEN b.waitlist_entry_id IS NULL THEN 'create' ELSE 'waitlist_offer' END, b.reference
              FROM b, unnest(b.resource_ids) WITH ORDINALITY AS r(id, n)
             ORDER BY r.n
        )
        SELECT * INTO v_row FROM b;
        EXIT WHEN FOUND;
        IF p_idempotency_key IS NOT NULL THEN
            SELECT * INTO v_row FROM bookingdb.bookings b
             WHERE b.venue_id = p_venue_id AND b.idempotency_key = p_idempotency_key;
            IF FOUND THEN
                RETURN bookingdb._replay(v_row, v_hash);
            END IF;
        END IF;
    END LOOP;
    IF v_row.booking_id IS NULL THEN
        RAISE EXCEPTION 'could not allocate a unique booking reference in venue %', p_venue_id;
    END IF;
    IF v_venue.notify THEN
        PERFORM pg_notify('bookingdb_changes', p_venue_id::text);
    END IF;

    -- Shared resources: lock, then check, as late as possible, because the
    -- lock is held until commit: validation, the booking row and its audit
    -- row stay outside the critical section. A twin request with the same
    -- idempotency key never gets here: it waits on this booking's key above
    -- and then returns this booking.
    PERFORM bookingdb._lock_resources(v_req.resource_ids);
    IF v_req.shared_ids IS NOT NULL THEN
        PERFORM bookingdb._check_shared(p_venue_id, v_req.shared_ids, p_starts_at, p_ends_at,
                                        p_quantity, NULL);
    END IF;

    -- One resource: the insert goes first and lapsed holds are expired only
    -- when it hits one (_place may wait then: nothing is written yet). Several
    -- resources: expire first, since after a partial insert waiting for a
    -- hold could deadlock.
    IF cardinality(v_req.resource_ids) > 1 THEN
        PERFORM bookingdb._expire_in_way(p_venue_id, v_req.resource_ids, p_starts_at, p_ends_at, true);
    END IF;
    PERFORM bookingdb._place(p_venue_id, v_row.booking_id, v_req.resource_ids,
                             p_starts_at, p_ends_at, p_quantity, v_expires,
                             p_may_wait => cardinality(v_req.resource_ids) = 1);
    v_result := bookingdb._as_booking(v_row);
    v_result.cancel_token := v_token;
    RETURN v_result;
EXCEPTION WHEN lock_not_available THEN
    PERFORM bookingdb._busy();
END
$$;

-- Locks one booking of a venue for a change and applies the checks every
-- change shares: it exists here (BK007) and expected_version matches (BK004).
CREATE FUNCTION bookingdb._lock_booking(p_venue_id bigint, p_booking_id bigint, p_expected_version int)
RETURNS bookingdb.bookings
LANGUAGE plpgsql
AS $$
DECLARE
    v_row bookingdb.bookings;
BEGIN
    SELECT * INTO v_row FROM bookingdb.bookings b
     WHERE b.venue_id = p_venue_id AND b.booking_id = p_booking_id
       AND bookingdb._reachable(p_venue_id)  -- a venue the caller is not bound to: not found
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'BK007', MESSAGE = 'booking not found',
            DETAIL = format('venue_id: %s, booking_id: %s', coalesce(p_venue_id::text, 'NULL'),
                            coalesce(p_booking_id::text, 'NULL'));
    END IF;
    IF p_expected_version IS NOT NULL AND p_expected_version <> v_row.version THEN
        RAISE EXCEPTION USING ERRCODE = 'BK004', MESSAGE = 'version conflict',
            DETAIL = format('expected version %s, current version %s', p_expected_version, v_row.version),
            HINT = 'Re-read the booking and retry with its current version.';
    END IF;
    RETURN v_row;
END
$$;

-- A hold that can no longer be used: BK003 when it expired or was released,
-- BK006 for any other status.
CREATE FUNCTION bookingdb._require_live_hold(b bookingdb.bookings, p_action text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF b.status IN ('released', 'expired') OR (b.status = 'held' AND b.expires_at <= now()) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK003', MESSAGE = 'hold expired or released',
            DETAIL = format('booking %s (%s) is %s; expires_at: %s; cannot %s', b.booking_id,
                            b.reference, (bookingdb._as_booking(b)).status, b.expires_at, p_action),
            HINT = 'Create a new hold.';
    END IF;
    IF b.status <> 'held' THEN
        RAISE EXCEPTION USING ERRCODE = 'BK006', MESSAGE = 'invalid status transition',
            DETAIL = format('booking %s (%s) is %s; cannot %s', b.booking_id, b.reference,
                            b.status, p_action);
    END IF;
END
$$;
