-- Customer self-service and operator controls: cancellation tokens, lookup
-- by e-mail, hold limits per customer, sellable capacity.
--
-- depends: 0004_events_waitlist_feed

-- Only the token's hash is kept: the token itself is handed out once, with
-- the booking that confirms it.
ALTER TABLE bookingdb.bookings
    ADD COLUMN cancel_token_hash bytea,
    -- Who is holding: the opaque holder key passed with a hold, else the
    -- customer's e-mail in lower case. Counted against
    -- venues.max_active_holds_per_customer.
    ADD COLUMN holder text;

CREATE INDEX bookings_customer_email ON bookingdb.bookings (venue_id, lower(customer ->> 'email'), starts_at)
    WHERE customer ? 'email';

CREATE INDEX bookings_live_holds_by_holder ON bookingdb.bookings (venue_id, holder)
    WHERE status = 'held' AND holder IS NOT NULL;

ALTER TABLE bookingdb.venues
    ADD COLUMN max_active_holds_per_customer int CHECK (max_active_holds_per_customer >= 1);

-- Places sold may differ from places there are: fewer (kept back for
-- walk-ins) or more (deliberate overbooking). sell_limit is what every
-- capacity check, availability and verify_invariants use.
ALTER TABLE bookingdb.resources
    ADD COLUMN sellable_capacity int CHECK (sellable_capacity >= 1),
    ADD COLUMN sell_limit int GENERATED ALWAYS AS (coalesce(sellable_capacity, capacity)) STORED;
