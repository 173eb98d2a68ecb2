-- Venue rules, opening hours, resource pricing and links (combinable tables).
--
-- depends: 0001_core_tables

-- Booking rules of a venue. Defaults: no past bookings, at most six months
-- ahead, parties of 1 to 50 (already there), no minimum age, no buffers, a
-- 15-minute slot grid.
ALTER TABLE bookingdb.venues
    ADD COLUMN min_notice    interval NOT NULL DEFAULT '0' CHECK (min_notice >= '0'),
    ADD COLUMN max_advance   interval NOT NULL DEFAULT '6 months' CHECK (max_advance > '0'),
    ADD COLUMN min_age       int CHECK (min_age BETWEEN 0 AND 150),
    ADD COLUMN buffer_before interval NOT NULL DEFAULT '0' CHECK (buffer_before >= '0'),
    ADD COLUMN buffer_after  interval NOT NULL DEFAULT '0' CHECK (buffer_after >= '0'),
    ADD COLUMN slot_step     interval NOT NULL DEFAULT '15 minutes' CHECK (slot_step > '0'),
    -- True once any opening hours or date override exist: a venue without
    -- any is open around the clock and its bookings skip the hours check.
    ADD COLUMN has_hours     boolean NOT NULL DEFAULT false;

-- A resource's buffers are the ones stored in its allocations. own_buffers
-- says they were set for this resource; otherwise they follow the venue's
-- defaults (set_venue_rules copies them), so the booking path reads one row.
ALTER TABLE bookingdb.resources
    ADD COLUMN own_buffers     boolean NOT NULL DEFAULT false,
    ADD COLUMN deposit_cents   int NOT NULL DEFAULT 0 CHECK (deposit_cents >= 0),
    ADD COLUMN min_spend_cents int NOT NULL DEFAULT 0 CHECK (min_spend_cents >= 0),
    ADD COLUMN zone            text CHECK (length(zone) BETWEEN 1 AND 100);

ALTER TABLE bookingdb.bookings
    ADD COLUMN total_deposit_cents bigint NOT NULL DEFAULT 0;

-- Weekly opening hours in the venue's local time. closes <= opens means the
-- interval ends the next day (a bar open 21:00-03:00 belongs to the day it
-- opens).
CREATE TABLE bookingdb.opening_hours (
    venue_id  bigint NOT NULL REFERENCES bookingdb.venues (venue_id),
    hours_id  bigint GENERATED ALWAYS AS IDENTITY,
    weekday   int NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    opens     time NOT NULL,
    closes    time NOT NULL,
    PRIMARY KEY (venue_id, hours_id),
    UNIQUE (venue_id, weekday, opens, closes)
);

-- Date overrides replace the weekly hours of one local day. A row with NULL
-- opens/closes closes the day; several rows give several intervals.
CREATE TABLE bookingdb.date_overrides (
    venue_id    bigint NOT NULL REFERENCES bookingdb.venues (venue_id),
    override_id bigint GENERATED ALWAYS AS IDENTITY,
    day         date NOT NULL,
    opens       time,
    closes      time,
    PRIMARY KEY (venue_id, override_id),
    CHECK ((opens IS NULL) = (closes IS NULL))
);

CREATE INDEX date_overrides_day ON bookingdb.date_overrides (venue_id, day);

-- Tables that can be pushed together. Stored once per pair, a < b.
CREATE TABLE bookingdb.resource_links (
    venue_id bigint NOT NULL,
    a        bigint NOT NULL,
    b        bigint NOT NULL,
    PRIMARY KEY (venue_id, a, b),
    FOREIGN KEY (venue_id, a) REFERENCES bookingdb.resources (venue_id, resource_id),
    FOREIGN KEY (venue_id, b) REFERENCES bookingdb.resources (venue_id, resource_id),
    CHECK (a < b)
);

CREATE INDEX resource_links_b ON bookingdb.resource_links (venue_id, b);
