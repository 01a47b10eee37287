-- 0001: API keys.
--
-- A key's secret is never stored: only its SHA-256 (lower-case hex) is, and the
-- UNIQUE constraint on it doubles as the index that authentication looks keys up by.
-- `prefix` holds the first characters of the secret so operators can tell keys apart.
-- Keys are revoked, never deleted, so `revoked_at` keeps an audit trail.
CREATE TABLE api_keys (
    id                    INTEGER PRIMARY KEY,
    owner                 TEXT    NOT NULL,
    role                  TEXT    NOT NULL CHECK (role IN ('admin', 'viewer')),
    prefix                TEXT    NOT NULL,
    key_hash              TEXT    NOT NULL UNIQUE,
    -- NULL means "the service default" (the rate_limit_per_minute variable).
    rate_limit_per_minute INTEGER CHECK (rate_limit_per_minute > 0),
    created_at            TEXT    NOT NULL,
    revoked_at            TEXT
);
