-- Events and tickets, the waitlist, the change feed and refusal counters.
--
-- depends: 0003_series

-- Whether the venue's changes send NOTIFY bookingdb_changes. NOTIFY takes a
-- database-wide lock at commit, so a venue that needs every booking per
-- second and has no live listeners can turn it off; the feed rows are
-- written either way.
ALTER TABLE bookingdb.venues ADD COLUMN notify boolean NOT NULL DEFAULT true;

-- Numbered seats are resources (capacity 1, kind 'seat'); these say where
-- one sits, so the best adjacent seats can be found in one row.
ALTER TABLE bookingdb.resources
    ADD COLUMN section     text,
    ADD COLUMN row_label   text,
    ADD COLUMN seat_number int;

CREATE UNIQUE INDEX resources_seat_rows ON bookingdb.resources (venue_id, section, row_label, seat_number)
    WHERE seat_number IS NOT NULL;

CREATE TABLE bookingdb.events (
    venue_id   bigint NOT NULL REFERENCES bookingdb.venues (venue_id),
    event_id   bigint GENERATED ALWAYS AS IDENTITY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue_id, event_id),
    CHECK (ends_at > starts_at)
);

-- What an event sells: seats and general-admission areas, each in a price
-- category. A category is all seats or all general admission.
CREATE TABLE bookingdb.event_inventory (
    venue_id    bigint NOT NULL,
    event_id    bigint NOT NULL,
    resource_id bigint NOT NULL,
    category    text NOT NULL CHECK (length(category) BETWEEN 1 AND 100),
    price_cents int NOT NULL CHECK (price_cents >= 0),
    PRIMARY KEY (venue_id, event_id, resource_id),
    FOREIGN KEY (venue_id, event_id) REFERENCES bookingdb.events (venue_id, event_id),
    FOREIGN KEY (venue_id, resource_id) REFERENCES bookingdb.resources (venue_id, resource_id)
);

CREATE INDEX event_inventory_category ON bookingdb.event_inventory (venue_id, event_id, category);

-- A ticket hold is a booking that names its event and carries its price.
ALTER TABLE bookingdb.bookings
    ADD COLUMN event_id          bigint,
    ADD COLUMN total_cents       bigint,
    ADD COLUMN waitlist_entry_id bigint;

CREATE TABLE bookingdb.waitlist (
    venue_id     bigint NOT NULL REFERENCES bookingdb.venues (venue_id),
    entry_id     bigint GENERATED ALWAYS AS IDENTITY,
    resource_ids bigint[] NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    party_size   int NOT NULL CHECK (party_size >= 1),
    customer     jsonb,
    priority     int NOT NULL DEFAULT 0,
    event_id     bigint,
    -- waiting -> offered (a hold exists) -> booked | waiting is over:
    -- lapsed (the offer expired or was released) or left.
    status       text NOT NULL DEFAULT 'waiting'
                 CHECK (status IN ('waiting', 'offered', 'booked', 'lapsed', 'left')),
    booking_id   bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue_id, entry_id),
    CHECK (ends_at > starts_at)
);

-- Offers look only at waiting entries, in the order they are served.
CREATE INDEX waitlist_waiting ON bookingdb.waitlist (venue_id, priority DESC, created_at, entry_id)
    WHERE status = 'waiting';

-- The change feed: one row per booking change and resource, written in the
-- same transaction as the change. seq is NOT assigned here: a number taken
-- at insert time is not in commit order (a consumer that has read 102 could
-- then miss 101 committing late). Rows are numbered when first read
-- (changes_since), under a per-venue lock, so numbers follow visibility.
CREATE TABLE bookingdb.changes (
    venue_id      bigint NOT NULL,
    change_id     bigint GENERATED ALWAYS AS IDENTITY,
    seq           bigint,
    at            timestamptz NOT NULL DEFAULT now(),
    -- Insert time, not transaction start: orders the rows numbered together.
    logged_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    booking_id    bigint NOT NULL,
    resource_id   bigint NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    old_status    text,
    new_status    text NOT NULL,
    action        text NOT NULL,
    reference     text NOT NULL,
    PRIMARY KEY (venue_id, change_id)
);

CREATE UNIQUE INDEX changes_seq ON bookingdb.changes (venue_id, seq) WHERE seq IS NOT NULL;
CREATE INDEX changes_unnumbered ON bookingdb.changes (venue_id, logged_at, change_id) WHERE seq IS NULL;

-- The last number given out per venue; its row lock orders the numbering.
CREATE TABLE bookingdb.feed_heads (
    venue_id bigint PRIMARY KEY REFERENCES bookingdb.venues (venue_id),
    last_seq bigint NOT NULL DEFAULT 0
);

-- Refusals per venue, code and hour. A refusal writes nothing in its own
-- transaction, so clients report them afterwards (record_refusal).
CREATE TABLE bookingdb.refusal_counts (
    venue_id bigint NOT NULL,
    code     text NOT NULL,
    hour     timestamptz NOT NULL,
    refusals bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (venue_id, code, hour)
);
