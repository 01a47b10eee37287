-- 0007: the event outbox and webhook deliveries.
--
-- An event is written in the transaction of the change it reports, together with one
-- delivery per enabled endpoint subscribed to its type (the outbox): a rolled-back change
-- leaves neither, a committed one cannot be lost. Workers claim due deliveries with a
-- lease (`lease_until`, `lease_token`), so two instances never send the same attempt.

-- `seq` orders events (paging, newest first); `id` is the public id, also the
-- `webhook-id` header of every delivery of it. `data` is the resource as the API returns
-- it, as JSON text.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY,
    id         TEXT    NOT NULL UNIQUE,
    type       TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);

CREATE INDEX events_by_type ON events (type, seq);
-- Retention deletes by age.
CREATE INDEX events_by_created_at ON events (created_at);

-- `event_types` is NULL for every type (also types added later), else the subscribed
-- types as ",a,b," so that one LIKE finds the endpoints of a type in both databases.
-- `secret` is the signing key (`whsec_…`): it must be readable to sign, so it is stored
-- as issued, like any credential for an outbound call.
CREATE TABLE webhook_endpoints (
    id          INTEGER PRIMARY KEY,
    url         TEXT    NOT NULL,
    event_types TEXT,
    enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    description TEXT,
    secret      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

-- One row per (event, endpoint). `status` is pending until an attempt succeeds or the
-- retries are spent. A pending delivery is due at `next_attempt_at` unless a worker
-- holds its lease.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    endpoint_id      INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_seq        INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    lease_until      TEXT,
    lease_token      TEXT,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_seq);

-- Every attempt, for operators: what the receiver answered, how long it took, and when
-- the next attempt is due.
CREATE TABLE webhook_attempts (
    id              INTEGER PRIMARY KEY,
    delivery_id     INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    started_at      TEXT    NOT NULL,
    duration_ms     INTEGER NOT NULL,
    status_code     INTEGER,
    error           TEXT,
    next_attempt_at TEXT
);

CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
