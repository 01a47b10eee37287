-- 0003: orders, their lines and status history, and idempotency records.

-- Orders. `seq` is the internal row order (keyset pagination); `id` is the opaque,
-- random public id. `key_id` is the API key that placed the order: viewers see only
-- their own. Totals are integer cents.
CREATE TABLE orders (
    seq            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    key_id         INTEGER NOT NULL,
    status         TEXT    NOT NULL
                   CHECK (status IN ('pending', 'confirmed', 'shipped', 'cancelled')),
    customer_name  TEXT    NOT NULL,
    customer_email TEXT    NOT NULL,
    total_cents    INTEGER NOT NULL CHECK (total_cents >= 0),
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);

CREATE INDEX orders_by_key ON orders (key_id, seq);
CREATE INDEX orders_by_status ON orders (status, seq);
-- Reports aggregate orders by creation time.
CREATE INDEX orders_by_created_at ON orders (created_at);

-- One row per product in an order (duplicate request lines are merged first). The
-- SKU, name and unit price are snapshots taken when the order was placed.
CREATE TABLE order_items (
    order_seq        INTEGER NOT NULL REFERENCES orders (seq),
    product_id       INTEGER NOT NULL REFERENCES products (id),
    sku              TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    line_total_cents INTEGER NOT NULL CHECK (line_total_cents >= 0),
    PRIMARY KEY (order_seq, product_id)
) WITHOUT ROWID;

CREATE INDEX order_items_by_product ON order_items (product_id);

-- Every status an order has had, with when it got it.
CREATE TABLE order_status_history (
    id        INTEGER PRIMARY KEY,
    order_seq INTEGER NOT NULL REFERENCES orders (seq),
    status    TEXT    NOT NULL,
    at        TEXT    NOT NULL
);

CREATE INDEX order_status_history_by_order ON order_status_history (order_seq, id);

-- Idempotency-Key records (Stripe semantics), scoped per API key. Written in the same
-- transaction as the order they replay, so a retry can never create a second order.
-- `request_hash` is the SHA-256 of the canonical request body.
CREATE TABLE idempotency_keys (
    key_id          INTEGER NOT NULL,
    idempotency_key TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    response_status INTEGER NOT NULL,
    response_body   TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    PRIMARY KEY (key_id, idempotency_key)
) WITHOUT ROWID;

-- Expired records are deleted by creation time.
CREATE INDEX idempotency_keys_by_created_at ON idempotency_keys (created_at);
