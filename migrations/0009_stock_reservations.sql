-- 0009: stock reservations (holds at checkout).
--
-- A hold sets units of one or more products aside for a while. A product's available
-- stock is its on-hand `stock_quantity` minus the units of the holds that are live NOW;
-- a hold stops counting the instant its expiry passes, whether or not anything has
-- swept it since, so no sweeper is needed for correctness. Holds never move stock: the
-- ledger (stock_movements) records only real movements, and a hold converted into an
-- order moves its units with the order's own movements.

-- The latest expiry (Unix milliseconds) of any hold ever placed on the product; 0 for
-- none. It only grows. When it lies in the past no hold on the product is live, so the
-- hot paths (a GET, an order on a product nobody holds) skip the live-hold sum, and on
-- PostgreSQL an order whose guard reads only its product's row stays exact when it
-- waits for that row's lock (src/store/orders.rs says why that matters).
ALTER TABLE products ADD COLUMN held_until_ms INTEGER NOT NULL DEFAULT 0;

-- One row per hold. `status` is what last happened to it; an 'active' hold whose
-- `expires_at_ms` has passed is expired even before the scheduler's sweep marks it so
-- (and records its `reservation.expired` event). `order_id` is the order it became.
CREATE TABLE reservations (
    seq           INTEGER PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    key_id        INTEGER NOT NULL,
    status        TEXT    NOT NULL
                  CHECK (status IN ('active', 'released', 'converted', 'expired')),
    expires_at    TEXT    NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    order_id      TEXT,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

-- A viewer's own holds, newest first.
CREATE INDEX reservations_by_key ON reservations (key_id, seq);
-- The sweep finds the holds that are still marked active but have expired.
CREATE INDEX reservations_to_sweep ON reservations (expires_at_ms) WHERE status = 'active';

-- The lines of a hold, one per product, with the SKU and name as they were held.
-- `held_until_ms` is the hold's expiry while it is active and 0 once it was released or
-- converted, so the units a product has held now are the sum over
-- `held_until_ms > now`: a range of the covering index below that skips every expired,
-- released and converted line however many lie around.
CREATE TABLE reservation_items (
    reservation_seq INTEGER NOT NULL REFERENCES reservations (seq),
    product_id      INTEGER NOT NULL REFERENCES products (id),
    sku             TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    held_until_ms   INTEGER NOT NULL,
    PRIMARY KEY (reservation_seq, product_id)
);

CREATE INDEX reservation_items_live ON reservation_items (product_id, held_until_ms, quantity);
