-- Core tables: venues, resources, bookings, allocations, audit log.
--
-- Every table carries venue_id, and every primary key, unique key,
-- exclusion constraint and foreign key includes it, so the schema can be
-- distributed by venue_id (Citus) without change. Ids are bigint.
--
-- Functions, triggers and views live in sql/ and are re-created on every
-- migrate; this file only holds what has data in it.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE SCHEMA IF NOT EXISTS bookingdb;

CREATE TABLE bookingdb.venues (
    venue_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone      text NOT NULL,
    hold_ttl      interval NOT NULL DEFAULT '10 minutes' CHECK (hold_ttl > '0'),
    min_party     int NOT NULL DEFAULT 1 CHECK (min_party >= 1),
    max_party     int NOT NULL DEFAULT 50,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (max_party >= min_party)
);

CREATE TABLE bookingdb.resources (
    venue_id      bigint NOT NULL REFERENCES bookingdb.venues (venue_id),
    resource_id   bigint GENERATED ALWAYS AS IDENTITY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind          text NOT NULL DEFAULT 'table' CHECK (length(kind) BETWEEN 1 AND 50),
    capacity      int NOT NULL DEFAULT 1 CHECK (capacity >= 1),
    seats_min     int NOT NULL DEFAULT 1 CHECK (seats_min >= 1),
    seats_max     int CHECK (seats_max >= seats_min),
    -- Cleaning or changeover time, stored in every allocation's blocked range
    -- so the exclusion constraint guarantees it like the booking itself.
    buffer_before interval NOT NULL DEFAULT '0' CHECK (buffer_before >= '0'),
    buffer_after  interval NOT NULL DEFAULT '0' CHECK (buffer_after >= '0'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue_id, resource_id)
);

-- bookings and allocations carry no foreign key to venues/resources: every
-- insert would take FOR KEY SHARE on the one venue row (and the hot resource
-- rows) and, with many concurrent bookings, turn them into ever-growing
-- multixacts (measured: -20% throughput at 16 clients). The functions check
-- that venue and resource exist in the same statement, and the triggers in
-- sql/ refuse to delete a venue or resource that bookings refer to.
CREATE TABLE bookingdb.bookings (
    venue_id        bigint NOT NULL,
    booking_id      bigint GENERATED ALWAYS AS IDENTITY,
    reference       text NOT NULL,
    status          text NOT NULL CHECK (status IN ('held', 'pending', 'confirmed', 'released',
                        'expired', 'rejected', 'cancelled', 'completed', 'no_show')),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    party_size      int NOT NULL,
    quantity        int NOT NULL,
    resource_ids    bigint[] NOT NULL,
    customer        jsonb,
    payment_ref     text,
    idempotency_key text,
    -- Fingerprint of the request that used idempotency_key, so a replay is
    -- recognised even after the booking has changed (confirmed, moved).
    request_hash    bigint,
    expires_at      timestamptz,
    cancel_reason   text,
    version         int NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue_id, booking_id),
    UNIQUE (venue_id, reference),
    CHECK (ends_at > starts_at),
    CHECK (status <> 'held' OR expires_at IS NOT NULL)
);

-- I5: one idempotency key per venue names at most one booking. Partial, so
-- bookings without a key cost no index entry.
CREATE UNIQUE INDEX bookings_idempotency_key ON bookingdb.bookings (venue_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- The sweeper (expire_holds) walks only live holds.
CREATE INDEX bookings_held_expiry ON bookingdb.bookings (expires_at) WHERE status = 'held';

-- One row per (booking, resource): the claim on the resource's units for the
-- booked time plus the resource's buffers.
CREATE TABLE bookingdb.allocations (
    venue_id    bigint NOT NULL,
    booking_id  bigint NOT NULL,
    resource_id bigint NOT NULL,
    blocked     tstzrange NOT NULL CHECK (NOT isempty(blocked)),
    quantity    int NOT NULL CHECK (quantity >= 1),
    -- Copied from the resource (capacity = 1) so the constraint below can
    -- apply to exclusive resources only.
    exclusive   boolean NOT NULL,
    -- True while the booking occupies (held, pending, confirmed). A hold past
    -- expires_at is still active = true until someone expires it lazily or the
    -- sweeper runs; every reader treats it as free.
    active      boolean NOT NULL DEFAULT true,
    expires_at  timestamptz,
    PRIMARY KEY (venue_id, booking_id, resource_id),
    FOREIGN KEY (venue_id, booking_id) REFERENCES bookingdb.bookings (venue_id, booking_id),
    -- I1: no two active allocations on an exclusive resource overlap.
    CONSTRAINT allocations_no_overlap EXCLUDE USING gist (
        venue_id WITH =, resource_id WITH =, blocked WITH &&
    ) WHERE (active AND exclusive)
);

-- Shared resources: the max-occupancy check reads the active allocations that
-- overlap the request.
CREATE INDEX allocations_shared_active ON bookingdb.allocations
    USING gist (venue_id, resource_id, blocked) WHERE (active AND NOT exclusive);

-- Every change of a booking, written by trigger in the same transaction.
-- Kept lean: one narrow row per change, the changed fields only.
CREATE TABLE bookingdb.audit_log (
    venue_id    bigint NOT NULL,
    audit_id    bigint GENERATED ALWAYS AS IDENTITY,
    booking_id  bigint NOT NULL,
    version     int NOT NULL,
    action      text NOT NULL,
    old_status  text,
    new_status  text NOT NULL,
    changes     jsonb,
    actor       text NOT NULL DEFAULT current_user,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue_id, audit_id)
);

CREATE INDEX audit_log_booking ON bookingdb.audit_log (venue_id, booking_id, version);
