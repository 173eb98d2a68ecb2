-- Result types of the public functions. They are the contract callers see,
-- deliberately separate from the tables, which may change between versions.

CREATE TYPE bookingdb.booking AS (
    id            bigint,
    venue_id      bigint,
    reference     text,
    status        text,
    starts_at     timestamptz,
    ends_at       timestamptz,
    party_size    int,
    quantity      int,
    resource_ids  bigint[],
    customer      jsonb,
    payment_ref   text,
    expires_at    timestamptz,
    version       int,
    created_at    timestamptz,
    updated_at    timestamptz,
    cancel_reason text,
    total_deposit_cents bigint,
    series_id     bigint,
    event_id      bigint,
    total_cents   bigint,
    waitlist_entry_id bigint,
    cancel_token  text
);

COMMENT ON TYPE bookingdb.booking IS
    'A booking as every public function returns it. status is the effective status: '
    'a hold past expires_at reads as expired whether or not a sweeper has run.';

-- One row of list_bookings: a booking's claim on one resource. A type rather
-- than RETURNS TABLE because its columns share names with the arguments.
CREATE TYPE bookingdb.booking_slot AS (
    booking_id  bigint,
    reference   text,
    status      text,
    resource_id bigint,
    starts_at   timestamptz,
    ends_at     timestamptz,
    quantity    int,
    expires_at  timestamptz,
    version     int
);

-- One row of suggest_alternatives (a type: its columns share names with the
-- function's arguments).
CREATE TYPE bookingdb.alternative AS (
    resource_id bigint,
    starts_at   timestamptz,
    ends_at     timestamptz,
    score       float8
);

-- One row of the change feed (changes_since).
CREATE TYPE bookingdb.change AS (
    seq         bigint,
    at          timestamptz,
    booking_id  bigint,
    resource_id bigint,
    starts_at   timestamptz,
    ends_at     timestamptz,
    old_status  text,
    new_status  text,
    action      text,
    reference   text
);

-- One row of waitlist(): an entry and, once offered, the hold it was offered.
CREATE TYPE bookingdb.waitlist_entry AS (
    entry_id     bigint,
    status       text,
    resource_ids bigint[],
    starts_at    timestamptz,
    ends_at      timestamptz,
    party_size   int,
    customer     jsonb,
    priority     int,
    event_id     bigint,
    booking_id   bigint,
    created_at   timestamptz
);
