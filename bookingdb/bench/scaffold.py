"""The ``bench`` schema: reference designs, outcome recording, data loading.

This is benchmark scaffolding, deliberately outside the ``bookingdb`` schema:
the reference tables the engine is compared with, wrappers that let pgbench
clients survive and record refusals, and the bulk loader that pre-fills the
booking tables for the growth and storage scenarios.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import psycopg

from bookingdb.bench.acks import MULTIPLIER, Ack, SlotPlan
from bookingdb.bench.pgbench import STOP_MESSAGE, STOP_SQLSTATE

Connection = psycopg.Connection[tuple[Any, ...]]

SCHEMA_SQL = f"""
CREATE SCHEMA bench;

COMMENT ON SCHEMA bench IS
    'Scaffolding of bookingdb bench: reference designs and outcome recording. '
    'Not part of bookingdb.';

-- S1's reference: the same row as a booking, written with nothing guarding
-- it (no key, no index, no trigger): the physical cost of recording a
-- booking durably.
CREATE TABLE bench.bare_bookings (LIKE bookingdb.bookings INCLUDING DEFAULTS INCLUDING IDENTITY);

-- S1's floor (issue 19): the four rows one booking writes (booking,
-- allocation, audit row, feed row) into copies of bookingdb's tables with
-- every index and constraint (the exclusion constraint included) and the
-- foreign key between booking and allocation, but no trigger and no logic:
-- what the rows themselves cost. The lean floor writes the same four rows
-- into minimal tables (their keys and the exclusion constraint only), so
-- the cost of bookingdb's own indexes and constraints shows beside it.
CREATE TABLE bench.floor_bookings (LIKE bookingdb.bookings INCLUDING ALL);
CREATE TABLE bench.floor_allocations (LIKE bookingdb.allocations INCLUDING ALL,
    FOREIGN KEY (venue_id, booking_id) REFERENCES bench.floor_bookings (venue_id, booking_id));
CREATE TABLE bench.floor_audit_log (LIKE bookingdb.audit_log INCLUDING ALL);
CREATE TABLE bench.floor_changes (LIKE bookingdb.changes INCLUDING ALL);

CREATE TABLE bench.lean_bookings (
    venue_id bigint NOT NULL, booking_id bigint GENERATED ALWAYS AS IDENTITY,
    reference text NOT NULL, status text NOT NULL, starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL, party_size int NOT NULL, resource_ids bigint[] NOT NULL,
    PRIMARY KEY (venue_id, booking_id));
CREATE TABLE bench.lean_allocations (
    venue_id bigint NOT NULL, booking_id bigint NOT NULL, resource_id bigint NOT NULL,
    blocked tstzrange NOT NULL,
    PRIMARY KEY (venue_id, booking_id, resource_id),
    EXCLUDE USING gist (venue_id WITH =, resource_id WITH =, blocked WITH &&));
CREATE TABLE bench.lean_audit_log (
    venue_id bigint NOT NULL, audit_id bigint GENERATED ALWAYS AS IDENTITY,
    booking_id bigint NOT NULL, action text NOT NULL, new_status text NOT NULL,
    PRIMARY KEY (venue_id, audit_id));
CREATE TABLE bench.lean_changes (
    venue_id bigint NOT NULL, change_id bigint GENERATED ALWAYS AS IDENTITY,
    booking_id bigint NOT NULL, resource_id bigint NOT NULL, starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL, new_status text NOT NULL, action text NOT NULL,
    PRIMARY KEY (venue_id, change_id));

-- S2's reference: the check-then-insert design most booking systems use, with
-- an index for the check and no constraint.
CREATE TABLE bench.naive_bookings (LIKE bookingdb.bookings INCLUDING DEFAULTS INCLUDING IDENTITY);
CREATE INDEX naive_bookings_lookup ON bench.naive_bookings (venue_id, starts_at);

-- One row per attempt made through the wrappers below, written in the
-- attempt's own transaction: code 'ok' rows are exactly the acknowledged
-- bookings, as the function returned them to its caller.
CREATE UNLOGGED TABLE bench.outcomes (
    run          text NOT NULL,
    code         text NOT NULL,
    booking_id   bigint,
    resource_ids bigint[] NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    quantity     int NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Runs that have sold out (S3): their clients stop.
CREATE UNLOGGED TABLE bench.stops (run text PRIMARY KEY);

-- The ticket shop's own record of the seats it sold (S3), from its
-- acknowledgements. No unique key on purpose: a seat sold twice must show up
-- here as two rows, not make the second sale fail.
CREATE UNLOGGED TABLE bench.seats_sold (run text NOT NULL, resource_id bigint NOT NULL);
CREATE INDEX seats_sold_run ON bench.seats_sold (run, resource_id);

-- Records a booking as its caller was told it (code ok), in the caller's
-- transaction.
CREATE FUNCTION bench.acknowledge(p_run text, p_booking bookingdb.booking)
RETURNS text
LANGUAGE sql
AS $$
    INSERT INTO bench.outcomes (run, code, booking_id, resource_ids, starts_at, ends_at, quantity)
    VALUES (p_run, 'ok', p_booking.id, p_booking.resource_ids, p_booking.starts_at,
            p_booking.ends_at, p_booking.quantity)
    RETURNING code
$$;

-- Calls create_booking_atomic and records what the caller saw: the booking
-- (code ok) or the refusal's SQLSTATE. A pgbench client aborts on any error
-- other than a deadlock or serialization failure, so refusals are caught
-- here; a caught 40P01 is still recorded, as a deadlock seen by the caller.
CREATE FUNCTION bench.book(
    p_run text, p_venue_id bigint, p_resource_ids bigint[], p_starts_at timestamptz,
    p_ends_at timestamptz, p_party_size int, p_quantity int)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_booking bookingdb.booking;
BEGIN
    BEGIN
        SELECT * INTO v_booking
          FROM bookingdb.create_booking_atomic(
                   venue_id => p_venue_id, resource_ids => p_resource_ids,
                   starts_at => p_starts_at, ends_at => p_ends_at,
                   party_size => p_party_size, quantity => p_quantity);
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO bench.outcomes (run, code, resource_ids, starts_at, ends_at, quantity)
        VALUES (p_run, SQLSTATE, p_resource_ids, p_starts_at, p_ends_at, p_quantity);
        RETURN SQLSTATE;
    END;
    RETURN bench.acknowledge(p_run, v_booking);
END
$$;

-- The naive reference: look whether the slot is free, then insert. Between
-- the look and the commit a concurrent twin can make the same decision;
-- nothing stops both from inserting. That is the double booking the
-- benchmark shows.
CREATE FUNCTION bench.naive_book(
    p_run text, p_venue_id bigint, p_resource_ids bigint[], p_starts_at timestamptz,
    p_ends_at timestamptz, p_party_size int, p_quantity int)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_id bigint;
BEGIN
    PERFORM 1 FROM bench.naive_bookings n
     WHERE n.venue_id = p_venue_id AND n.resource_ids && p_resource_ids
       AND n.starts_at < p_ends_at AND n.ends_at > p_starts_at;
    IF FOUND THEN
        INSERT INTO bench.outcomes (run, code, resource_ids, starts_at, ends_at, quantity)
        VALUES (p_run, 'taken', p_resource_ids, p_starts_at, p_ends_at, p_quantity);
        RETURN 'taken';
    END IF;
    INSERT INTO bench.naive_bookings
        (venue_id, reference, status, starts_at, ends_at, party_size, quantity, resource_ids)
    VALUES (p_venue_id, 'BK-0000-0000', 'confirmed', p_starts_at, p_ends_at, p_party_size,
            p_quantity, p_resource_ids)
    RETURNING booking_id INTO v_id;
    INSERT INTO bench.outcomes (run, code, booking_id, resource_ids, starts_at, ends_at, quantity)
    VALUES (p_run, 'ok', v_id, p_resource_ids, p_starts_at, p_ends_at, p_quantity);
    RETURN 'ok';
END
$$;

-- S3, general admission: buy p_quantity places; once sold out, stop the client.
CREATE FUNCTION bench.buy_ga(
    p_run text, p_venue_id bigint, p_resource_id bigint, p_starts_at timestamptz,
    p_ends_at timestamptz, p_quantity int)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_code text;
BEGIN
    PERFORM 1 FROM bench.stops s WHERE s.run = p_run;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '{STOP_SQLSTATE}', MESSAGE = '{STOP_MESSAGE}';
    END IF;
    v_code := bench.book(p_run, p_venue_id, ARRAY[p_resource_id], p_starts_at, p_ends_at,
                         p_quantity, p_quantity);
    -- Every general-admission booking covers the same event time, so a
    -- refused single place means not one is left.
    IF v_code = 'BK002' AND p_quantity = 1 THEN
        INSERT INTO bench.stops (run) VALUES (p_run) ON CONFLICT DO NOTHING;
    END IF;
    RETURN v_code;
END
$$;

-- S3, numbered seats: pick p_count seats the shop has not sold yet (by its
-- own acknowledgements; two buyers can still pick the same free seat) and
-- book them together; stop the client when none is left.
CREATE FUNCTION bench.buy_seats(
    p_run text, p_venue_id bigint, p_first bigint, p_last bigint, p_starts_at timestamptz,
    p_ends_at timestamptz, p_count int)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_seats bigint[];
    v_code  text;
BEGIN
    SELECT array_agg(pick.x ORDER BY pick.x) INTO v_seats
      FROM (SELECT g.x
              FROM generate_series(p_first, p_last) AS g(x)
             WHERE NOT EXISTS (SELECT 1 FROM bench.seats_sold s
                                WHERE s.run = p_run AND s.resource_id = g.x)
             ORDER BY random()
             LIMIT p_count) AS pick;
    IF v_seats IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '{STOP_SQLSTATE}', MESSAGE = '{STOP_MESSAGE}';
    END IF;
    v_code := bench.book(p_run, p_venue_id, v_seats, p_starts_at, p_ends_at,
                         cardinality(v_seats), 1);
    IF v_code = 'ok' THEN
        INSERT INTO bench.seats_sold (run, resource_id) SELECT p_run, unnest(v_seats);
    END IF;
    RETURN v_code;
END
$$;

-- S6: the server-side cost of check_availability, one-hour questions on
-- random resources and hours: microseconds per call, measured with
-- clock_timestamp() around each call, so no network or client time is in it.
CREATE FUNCTION bench.time_check_availability(
    p_venue_id bigint, p_first bigint, p_resources int, p_t0 timestamptz, p_hours int,
    p_samples int)
RETURNS float8[]
LANGUAGE plpgsql
AS $$
DECLARE
    v_out      float8[] := '{{}}';
    v_resource bigint;
    v_start    timestamptz;
    v_clock    timestamptz;
    v_free     boolean;
BEGIN
    FOR k IN 1..p_samples LOOP
        v_resource := p_first + floor(random() * p_resources)::bigint;
        v_start := p_t0 + floor(random() * p_hours)::int * interval '1 hour';
        v_clock := clock_timestamp();
        v_free := bookingdb.check_availability(p_venue_id, ARRAY[v_resource], v_start,
                                               v_start + interval '1 hour');
        v_out := v_out || (extract(epoch FROM clock_timestamp() - v_clock) * 1e6)::float8;
    END LOOP;
    RETURN v_out;
END
$$;

-- S8: the server-side cost of the availability engine's questions, one row
-- per call: microseconds with clock_timestamp() around the call (every row
-- it returns counted, so all of its work is done) and the answer's size.
-- The question is picked at random before the clock starts: a day (or an
-- hour) among the p_days after p_from, a resource among p_resources.

-- availability() of one random resource (p_one) or of every resource of the
-- venue, over p_window from a random day, one-hour slots every 15 minutes.
CREATE FUNCTION bench.time_availability(
    p_venue_id bigint, p_first bigint, p_resources int, p_one boolean, p_from timestamptz,
    p_days int, p_window interval, p_samples int)
RETURNS TABLE (us float8, answer bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v_ids   bigint[];
    v_start timestamptz;
    v_clock timestamptz;
BEGIN
    FOR k IN 1..p_samples LOOP
        v_ids := CASE WHEN p_one THEN ARRAY[p_first + floor(random() * p_resources)::bigint] END;
        v_start := date_trunc('day', p_from, 'UTC')
                   + floor(random() * p_days)::int * interval '1 day';
        v_clock := clock_timestamp();
        SELECT count(*) INTO answer
          FROM bookingdb.availability(venue_id => p_venue_id,
                                      "window" => tstzrange(v_start, v_start + p_window),
                                      duration => interval '1 hour', step => interval '15 minutes',
                                      resource_ids => v_ids);
        us := extract(epoch FROM clock_timestamp() - v_clock) * 1e6;
        RETURN NEXT;
    END LOOP;
END
$$;

-- table_combinations() for a party of p_party, two hours from a random hour;
-- answer: the combinations offered.
CREATE FUNCTION bench.time_table_combinations(
    p_venue_id bigint, p_party int, p_from timestamptz, p_days int, p_samples int)
RETURNS TABLE (us float8, answer bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v_start timestamptz;
    v_clock timestamptz;
BEGIN
    FOR k IN 1..p_samples LOOP
        v_start := date_trunc('hour', p_from)
                   + floor(random() * p_days * 24)::int * interval '1 hour';
        v_clock := clock_timestamp();
        SELECT count(*) INTO answer
          FROM bookingdb.table_combinations(venue_id => p_venue_id, starts_at => v_start,
                                            ends_at => v_start + interval '2 hours',
                                            party_size => p_party);
        us := extract(epoch FROM clock_timestamp() - v_clock) * 1e6;
        RETURN NEXT;
    END LOOP;
END
$$;

-- check_availability_many() with p_requests one-hour questions, each on a
-- random resource and hour; answer: how many were available.
CREATE FUNCTION bench.time_check_availability_many(
    p_venue_id bigint, p_first bigint, p_resources int, p_requests int, p_from timestamptz,
    p_days int, p_samples int)
RETURNS TABLE (us float8, answer bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v_requests jsonb;
    v_clock    timestamptz;
BEGIN
    FOR k IN 1..p_samples LOOP
        SELECT jsonb_agg(jsonb_build_object(
                   'resource_ids', jsonb_build_array(q.resource_id),
                   'starts_at', to_char(q.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   'ends_at', to_char((q.at + interval '1 hour') AT TIME ZONE 'UTC',
                                      'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
          INTO v_requests
          FROM (SELECT p_first + floor(random() * p_resources)::bigint AS resource_id,
                       date_trunc('hour', p_from)
                           + floor(random() * p_days * 24)::int * interval '1 hour' AS at
                  FROM generate_series(1, p_requests)) AS q;
        v_clock := clock_timestamp();
        SELECT count(*) FILTER (WHERE c.available) INTO answer
          FROM bookingdb.check_availability_many(p_venue_id, v_requests) AS c;
        us := extract(epoch FROM clock_timestamp() - v_clock) * 1e6;
        RETURN NEXT;
    END LOOP;
END
$$;
"""

# What S9's buyers ask for, in percent: general-admission places, the best
# adjacent seats of a seated category (hold_event_tickets picks them), or
# seats named by number. Each kind's holds are recorded as run
# "<run>/<record>"; a kind that has sold out is stopped as "<run>/<kind>".
NAMED_SEATS = "named"


@dataclass(frozen=True)
class TicketKind:
    name: str
    percent: int
    record: str


ONSALE_GA = "Standing"
ONSALE_SEATED = ("Stalls", "Circle")
ONSALE_MIX = (
    TicketKind(ONSALE_GA, 80, "GA"),
    TicketKind(ONSALE_SEATED[0], 8, "best"),
    TicketKind(ONSALE_SEATED[1], 8, "best"),
    TicketKind(NAMED_SEATS, 4, NAMED_SEATS),
)


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{value}'" for value in values) + "]"


EVENTS_SQL = f"""
-- S9, one buyer of the on-sale rush: holds tickets through
-- hold_event_tickets and records what it was told in the same transaction
-- (bench.outcomes, code ok = an acknowledged hold). p_pick (1-100) chooses
-- the kind of request by the percentages above; a kind that has sold out
-- sends the buyer to the first kind still on sale, and when none is the
-- client stops. Returns the hold's booking id, 0 when refused.
CREATE FUNCTION bench.hold_tickets(
    p_run text, p_venue_id bigint, p_event_id bigint, p_pick int, p_quantity int,
    p_first_seat bigint, p_last_seat bigint)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_kinds   text[] := {_sql_array([k.name for k in ONSALE_MIX])};
    v_records text[] := {_sql_array([k.record for k in ONSALE_MIX])};
    v_upto    int[] := ARRAY{list(accumulate(k.percent for k in ONSALE_MIX))};
    v_at      int;
    v_seats   bigint[];
    v_booking bookingdb.booking;
    v_code    text;
BEGIN
    SELECT min(u.n) INTO v_at FROM unnest(v_upto) WITH ORDINALITY AS u(upto, n)
     WHERE p_pick <= u.upto;
    IF EXISTS (SELECT 1 FROM bench.stops s WHERE s.run = p_run || '/' || v_kinds[v_at]) THEN
        SELECT min(u.n) INTO v_at FROM unnest(v_kinds) WITH ORDINALITY AS u(kind, n)
         WHERE NOT EXISTS (SELECT 1 FROM bench.stops s WHERE s.run = p_run || '/' || u.kind);
        IF v_at IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '{STOP_SQLSTATE}', MESSAGE = '{STOP_MESSAGE}';
        END IF;
    END IF;
    IF v_kinds[v_at] = '{NAMED_SEATS}' THEN
        -- A seat the shop has not sold yet (by its own acknowledgements) and
        -- the seats to its right; another buyer may be taking them right now.
        SELECT array_agg(g ORDER BY g) INTO v_seats
          FROM (SELECT x.id FROM generate_series(p_first_seat, p_last_seat) AS x(id)
                 WHERE NOT EXISTS (SELECT 1 FROM bench.seats_sold s
                                    WHERE s.run = p_run AND s.resource_id = x.id)
                 ORDER BY random() LIMIT 1) AS pick,
               generate_series(pick.id, least(pick.id + p_quantity - 1, p_last_seat)) AS g;
        IF v_seats IS NULL THEN
            INSERT INTO bench.stops (run) VALUES (p_run || '/{NAMED_SEATS}') ON CONFLICT DO NOTHING;
            RETURN 0;
        END IF;
    END IF;
    BEGIN
        SELECT * INTO v_booking
          FROM bookingdb.hold_event_tickets(
                   venue_id => p_venue_id, event_id => p_event_id,
                   quantity => CASE WHEN v_seats IS NULL THEN p_quantity END, seat_ids => v_seats,
                   category => CASE WHEN v_seats IS NULL THEN v_kinds[v_at] END,
                   idempotency_key => gen_random_uuid()::text);
    EXCEPTION WHEN OTHERS THEN
        v_code := SQLSTATE;
        INSERT INTO bench.outcomes (run, code, resource_ids, starts_at, ends_at, quantity)
        VALUES (p_run || '/' || v_records[v_at], v_code, coalesce(v_seats, '{{}}'), now(), now(),
                p_quantity);
        -- Only a refused single ticket can mean that the category is gone:
        -- ask what is left (live holds count as taken, and none lapses here).
        IF v_seats IS NULL AND p_quantity = 1 AND v_code IN ('BK001', 'BK002')
           AND NOT EXISTS (SELECT 1 FROM bookingdb.event_availability(p_venue_id, p_event_id) AS a
                            WHERE a.category = v_kinds[v_at] AND a.remaining > 0) THEN
            INSERT INTO bench.stops (run) VALUES (p_run || '/' || v_kinds[v_at])
            ON CONFLICT DO NOTHING;
        END IF;
        RETURN 0;
    END;
    PERFORM bench.acknowledge(p_run || '/' || v_records[v_at], v_booking);
    IF v_kinds[v_at] <> '{ONSALE_GA}' THEN
        INSERT INTO bench.seats_sold (run, resource_id)
        SELECT p_run, unnest(v_booking.resource_ids);
    END IF;
    RETURN v_booking.id;
END
$$;

-- S9, the buyer pays: confirm_hold, recorded as run "<run>/confirm".
CREATE FUNCTION bench.confirm_tickets(p_run text, p_venue_id bigint, p_booking_id bigint)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_booking bookingdb.booking;
BEGIN
    BEGIN
        SELECT * INTO v_booking FROM bookingdb.confirm_hold(p_venue_id, p_booking_id);
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO bench.outcomes
            (run, code, booking_id, resource_ids, starts_at, ends_at, quantity)
        VALUES (p_run || '/confirm', SQLSTATE, p_booking_id, '{{}}', now(), now(), 0);
        RETURN SQLSTATE;
    END;
    RETURN bench.acknowledge(p_run || '/confirm', v_booking);
END
$$;

-- S10: one row per waitlist step, written in the step's own transaction:
-- its transaction id, its start (now(): the created_at of the bookings and
-- waitlist entries it wrote, the "at" of its audit rows) and snapshots taken
-- just before and just after the call. After the run they tell which other
-- steps a call certainly saw (committed before its "before") and which it
-- certainly did not (not committed by its "after").
CREATE UNLOGGED TABLE bench.waitlist_calls (
    run        text NOT NULL,
    kind       text NOT NULL,
    code       text NOT NULL,
    xid        xid8 NOT NULL,
    started    timestamptz NOT NULL,
    before     pg_snapshot NOT NULL,
    after      pg_snapshot NOT NULL,
    booking_id bigint,
    entry_id   bigint,
    -- For an error: its message, DETAIL and where it was raised.
    error      text,
    at         timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- S10, one step of a waitlist client:
--   cancel: cancel a random confirmed booking of the venue (freeing its table
--           offers it to the waitlist in the same transaction);
--   answer: answer a random live offer: release it when booking_id % 5 = 1,
--           else confirm it; offers with booking_id % 5 = 0 are never answered
--           and lapse (recorded as kind release or confirm);
--   join:   join the waitlist for one table at [p_starts_at, p_ends_at);
--   sweep:  expire_holds(), which offers what lapsed holds free.
-- Refusals are caught and recorded as their SQLSTATE; "none" when there was
-- nothing to cancel or answer.
CREATE FUNCTION bench.waitlist_step(
    p_run text, p_kind text, p_venue_id bigint, p_resource_id bigint DEFAULT NULL,
    p_starts_at timestamptz DEFAULT NULL, p_ends_at timestamptz DEFAULT NULL,
    p_priority int DEFAULT 0)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_kind    text := p_kind;
    v_code    text := 'ok';
    v_from    bigint;
    v_booking bigint;
    v_entry   bigint;
    v_before  pg_snapshot;
    v_error   text;
    v_detail  text;
    v_context text;
BEGIN
    IF p_kind = 'cancel' THEN
        -- From a random point of the venue's bookings, the next confirmed
        -- one that no other client is changing right now.
        SELECT min(b.booking_id)
               + floor(random() * (max(b.booking_id) - min(b.booking_id) + 1))::bigint
          INTO v_from FROM bookingdb.bookings b WHERE b.venue_id = p_venue_id;
        SELECT b.booking_id INTO v_booking FROM bookingdb.bookings b
         WHERE b.venue_id = p_venue_id AND b.status = 'confirmed' AND b.booking_id >= v_from
         ORDER BY b.booking_id LIMIT 1 FOR UPDATE SKIP LOCKED;
        IF v_booking IS NULL THEN
            SELECT b.booking_id INTO v_booking FROM bookingdb.bookings b
             WHERE b.venue_id = p_venue_id AND b.status = 'confirmed'
             ORDER BY b.booking_id LIMIT 1 FOR UPDATE SKIP LOCKED;
        END IF;
    ELSIF p_kind = 'answer' THEN
        SELECT b.booking_id INTO v_booking FROM bookingdb.bookings b
         WHERE b.status = 'held' AND b.expires_at > now() AND b.venue_id = p_venue_id
           AND b.waitlist_entry_id IS NOT NULL AND b.booking_id % 5 <> 0
         ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED;
        v_kind := CASE WHEN v_booking % 5 = 1 THEN 'release' ELSE 'confirm' END;
    END IF;
    v_before := pg_current_snapshot();
    BEGIN
        IF p_kind IN ('cancel', 'answer') AND v_booking IS NULL THEN
            v_code := 'none';
        ELSIF v_kind = 'cancel' THEN
            PERFORM bookingdb.cancel_booking(p_venue_id, v_booking);
        ELSIF v_kind = 'release' THEN
            PERFORM bookingdb.release_hold(p_venue_id, v_booking);
        ELSIF v_kind = 'confirm' THEN
            PERFORM bookingdb.confirm_hold(p_venue_id, v_booking);
        ELSIF v_kind = 'join' THEN
            v_entry := bookingdb.join_waitlist(
                venue_id => p_venue_id, resource_ids => ARRAY[p_resource_id],
                starts_at => p_starts_at, ends_at => p_ends_at, party_size => 2,
                priority => p_priority);
        ELSIF v_kind = 'sweep' THEN
            PERFORM bookingdb.expire_holds();
        ELSE
            RAISE EXCEPTION 'unknown waitlist step %', p_kind;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        v_code := SQLSTATE;
        GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL,
                                v_context = PG_EXCEPTION_CONTEXT;
        v_error := concat_ws(' | ', v_error, nullif(v_detail, ''), nullif(v_context, ''));
    END;
    INSERT INTO bench.waitlist_calls
        (run, kind, code, xid, started, before, after, booking_id, entry_id, error)
    VALUES (p_run, v_kind, v_code, pg_current_xact_id(), now(), v_before, pg_current_snapshot(),
            v_booking, v_entry, v_error);
    RETURN v_code;
END
$$;
"""

# Pre-loaded bookings (S6, S7) are the rows create_booking_atomic writes for
# a one-hour confirmed booking: the booking at version 1, its allocation, and
# one 'create' audit row, so verify_invariants() holds (no feed row: nobody
# reads the pre-loaded venue's feed). Slots come from a
# SlotPlan, so they never collide with each other.
_PRELOAD_SQL = """
WITH b AS (
    INSERT INTO bookingdb.bookings
        (venue_id, reference, status, starts_at, ends_at, party_size, quantity, resource_ids)
    SELECT %(venue)s, 'BK-' || to_char(k, 'FM0000-0000'), 'confirmed', s.starts_at,
           s.starts_at + interval '1 hour', 1, 1, ARRAY[s.resource_id]
      FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS k,
           LATERAL (SELECT %(rbase)s::bigint + (k * %(mul)s::bigint %% %(slots)s::bigint)
                               %% %(nres)s::bigint AS resource_id,
                           to_timestamp(%(t0)s::bigint
                               + ((k * %(mul)s::bigint %% %(slots)s::bigint) / %(nres)s::bigint)
                               * 3600) AS starts_at) AS s
    RETURNING venue_id, booking_id, resource_ids[1] AS resource_id, starts_at, ends_at,
              status, created_at
), a AS (
    INSERT INTO bookingdb.allocations
        (venue_id, booking_id, resource_id, blocked, quantity, exclusive)
    SELECT b.venue_id, b.booking_id, b.resource_id, tstzrange(b.starts_at, b.ends_at), 1, true
      FROM b
)
"""
_PRELOAD_AUDIT_SQL = """
INSERT INTO bookingdb.audit_log
    (venue_id, booking_id, version, action, old_status, new_status, actor, at)
SELECT b.venue_id, b.booking_id, 1, 'create', NULL, b.status, session_user, b.created_at FROM b
"""


def install(conn: Connection) -> None:
    """Create the ``bench`` schema (in the template database)."""
    conn.execute(SCHEMA_SQL)
    conn.execute(EVENTS_SQL)


def add_resources(
    conn: Connection, venue_id: int, count: int, *, capacity: int = 1, kind: str = "table"
) -> int:
    """Add ``count`` resources through the public function; return the first
    id (they are consecutive: each scenario has a database of its own)."""
    rows = conn.execute(
        "SELECT bookingdb.add_resource(venue_id => %s, name => %s || g, capacity => %s,"
        " kind => %s) FROM generate_series(1, %s) AS g",
        (venue_id, f"{kind} ", capacity, kind, count),
    ).fetchall()
    return first_of_consecutive([int(row[0]) for row in rows])


def first_of_consecutive(ids: list[int]) -> int:
    ids = sorted(ids)
    if ids != list(range(ids[0], ids[0] + len(ids))):
        raise RuntimeError("resource ids are not consecutive; is something else writing here?")
    return ids[0]


def add_linked_tables(conn: Connection, venue_id: int, *, zones: int, rows: int, cols: int) -> int:
    """Add ``zones`` dining rooms of ``rows`` x ``cols`` tables of 4 to 6 seats,
    each room a zone (set_resource_pricing) and each table linked to its
    right and lower neighbours (link_resources); return the first id (they
    are consecutive, room by room, row by row)."""
    per_zone = rows * cols
    count = zones * per_zone
    added = conn.execute(
        "SELECT bookingdb.add_resource(venue_id => %s, name => 'table ' || g,"
        " seats_max => 4 + g %% 3) FROM generate_series(1, %s) AS g",
        (venue_id, count),
    ).fetchall()
    first = first_of_consecutive([int(row[0]) for row in added])
    layout = {"venue": venue_id, "first": first, "count": count, "per": per_zone}
    conn.execute(
        "SELECT bookingdb.set_resource_pricing(venue_id => %(venue)s, resource_id => %(first)s + k,"
        " deposit_cents => 0, min_spend_cents => 0, zone => 'room ' || (k / %(per)s + 1))"
        " FROM generate_series(0, %(count)s - 1) AS k",
        layout,
    )
    conn.execute(
        "SELECT bookingdb.link_resources(%(venue)s, %(first)s + k, %(first)s + k + s.step)"
        " FROM generate_series(0, %(count)s - 1) AS k, (VALUES (1), (%(cols)s)) AS s(step)"
        " WHERE CASE WHEN s.step = 1 THEN k %% %(cols)s < %(cols)s - 1"
        " ELSE k %% %(per)s < %(per)s - %(cols)s END",
        {**layout, "cols": cols},
    )
    return first


def create_venue(conn: Connection, name: str) -> int:
    """A UTC venue open around the clock that takes bookings up to two years
    ahead (S1 spreads its slots over a year; the default limit is 6 months)."""
    row = conn.execute("SELECT bookingdb.create_venue(%s, 'UTC')", (name,)).fetchone()
    assert row is not None
    venue = int(row[0])
    conn.execute(
        "SELECT bookingdb.set_venue_rules(%s, %s::jsonb)", (venue, '{"max_advance": "2 years"}')
    )
    return venue


def hour_from_now(conn: Connection, days: int) -> int:
    """Epoch seconds of the start of the hour ``days`` days from now."""
    row = conn.execute(
        "SELECT extract(epoch FROM date_trunc('hour', now()) + make_interval(days => %s))::bigint",
        (days,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def preload(conn: Connection, plan: SlotPlan, first: int, count: int) -> None:
    """Write bookings for slots ``first .. first+count-1`` of ``plan`` directly
    into the tables (setup, not measured)."""
    if count <= 0:
        return
    params = {
        **plan.pgbench_variables(),
        "mul": MULTIPLIER,
        "first": first,
        "last": first + count - 1,
    }
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    superuser = bool(row and row[0])
    with conn.transaction():
        if superuser:
            # Foreign-key triggers off for this transaction: the rows are
            # consistent by construction.
            conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(_PRELOAD_SQL + _PRELOAD_AUDIT_SQL, params)


def settle(conn: Connection, tables: list[str], *, checkpoint: bool = True) -> None:
    """Before a measurement: fresh statistics, no dead rows to clean, and
    (``checkpoint``) a checkpoint so the run does not pay for earlier writes
    (best effort: the checkpoint needs privileges a --dsn user may not
    have). Runs compared with each other start from the same state: a
    checkpoint right before one of them makes it pay the full-page images of
    every page it touches first, which costs a booking (many indexes) far
    more than a bare INSERT (one table end)."""
    for table in tables:
        conn.execute(f"VACUUM (ANALYZE) {table}")
    if checkpoint:
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")


BOOKING_TABLES = ["bookingdb.bookings", "bookingdb.allocations", "bookingdb.audit_log"]


def violations(conn: Connection) -> list[str]:
    """``verify_invariants()``, one line per violation."""
    rows = conn.execute("SELECT invariant, detail FROM bookingdb.verify_invariants()").fetchall()
    return [f"{invariant}: {detail}" for invariant, detail in rows]


def outcome_counts(conn: Connection, run: str) -> dict[str, int]:
    rows = conn.execute(
        "SELECT code, count(*) FROM bench.outcomes WHERE run = %s GROUP BY code ORDER BY code",
        (run,),
    ).fetchall()
    return {str(code): int(n) for code, n in rows}


def outcome_acks(conn: Connection, run: str) -> list[Ack]:
    rows = conn.execute(
        "SELECT booking_id, resource_ids, extract(epoch FROM starts_at)::float8,"
        " extract(epoch FROM ends_at)::float8, quantity"
        " FROM bench.outcomes WHERE run = %s AND code = 'ok'",
        (run,),
    ).fetchall()
    return [
        Ack(
            resource_ids=tuple(int(r) for r in resource_ids),
            starts_at=float(starts),
            ends_at=float(ends),
            quantity=int(quantity),
            booking_id=int(booking_id),
        )
        for booking_id, resource_ids, starts, ends, quantity in rows
    ]


def outcome_window(conn: Connection, *runs: str) -> tuple[float | None, float | None]:
    """(first attempt, last acknowledged booking) of one or more runs, epoch seconds."""
    row = conn.execute(
        "SELECT extract(epoch FROM min(at))::float8,"
        " extract(epoch FROM max(at) FILTER (WHERE code = 'ok'))::float8"
        " FROM bench.outcomes WHERE run = ANY(%s)",
        (list(runs),),
    ).fetchone()
    if row is None:
        return None, None
    first, last = row
    return (None if first is None else float(first)), (None if last is None else float(last))


def count_bookings(conn: Connection, venue_id: int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM bookingdb.bookings WHERE venue_id = %s", (venue_id,)
    ).fetchone()
    return int(row[0]) if row else 0


# Connections kept free when a scenario sizes its load to the server: the
# benchmark's own, and pgbench's.
SPARE_CONNECTIONS = 3


def connection_room(conn: Connection, wanted: int) -> tuple[int, int]:
    """How many pgbench clients the server has room for, at most ``wanted``
    (at least 1), and its max_connections."""
    row = conn.execute(
        "SELECT current_setting('max_connections')::int"
        " - current_setting('superuser_reserved_connections')::int"
        " - coalesce(nullif(current_setting('reserved_connections', true), '')::int, 0)"
        " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),"
        " current_setting('max_connections')::int"
    ).fetchone()
    assert row is not None
    free, most = int(row[0]), int(row[1])
    return max(1, min(wanted, free - SPARE_CONNECTIONS)), most
