-- Recurring series: a booking may belong to a series (weekly classes,
-- standing reservations), so the rest of a series can be cancelled at once.
--
-- depends: 0002_venue_rules

CREATE TABLE bookingdb.series (
    venue_id        bigint NOT NULL REFERENCES bookingdb.venues (venue_id),
    series_id       bigint GENERATED ALWAYS AS IDENTITY,
    first_starts_at timestamptz NOT NULL,
    duration        interval NOT NULL,
    every           interval NOT NULL,
    occurrences     int NOT NULL CHECK (occurrences >= 1),
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue_id, series_id)
);

CREATE UNIQUE INDEX series_idempotency_key ON bookingdb.series (venue_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

ALTER TABLE bookingdb.bookings ADD COLUMN series_id bigint;

CREATE INDEX bookings_series ON bookingdb.bookings (venue_id, series_id, starts_at)
    WHERE series_id IS NOT NULL;
