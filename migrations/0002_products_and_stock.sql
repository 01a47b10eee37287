-- 0002: the catalog, its full-text index, and the stock ledger.

-- Products. Money is integer cents; `version` increases on every change and is the
-- basis of the ETag; `deleted_at` marks a soft delete (the row and its history stay).
CREATE TABLE products (
    id                  INTEGER PRIMARY KEY,
    sku                 TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    description         TEXT    NOT NULL DEFAULT '',
    category            TEXT,
    price_cents         INTEGER NOT NULL CHECK (price_cents >= 0),
    stock_quantity      INTEGER NOT NULL CHECK (stock_quantity >= 0),
    low_stock_threshold INTEGER NOT NULL CHECK (low_stock_threshold >= 0),
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL,
    deleted_at          TEXT
);

-- SKUs are unique across all products, deleted ones included (so a restore can never
-- collide), ignoring letter case.
CREATE UNIQUE INDEX products_sku_unique ON products (sku COLLATE NOCASE);

-- Filters and the low-stock report read active products only.
CREATE INDEX products_active_category ON products (category COLLATE NOCASE, id)
    WHERE deleted_at IS NULL;
CREATE INDEX products_active_stock ON products (stock_quantity, id)
    WHERE deleted_at IS NULL;

-- Full-text index over the searchable columns, kept exact by the triggers below.
-- `sku_compact` is the SKU without separators, so "AB-12", "ab12" and "AB 12" all
-- find SKU AB-12. The index covers deleted products too; queries join `products`
-- and filter on `deleted_at`, so deletes and restores need no index change.
CREATE VIRTUAL TABLE products_fts USING fts5(
    sku, sku_compact, name, description, category,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER products_fts_after_insert AFTER INSERT ON products BEGIN
    INSERT INTO products_fts (rowid, sku, sku_compact, name, description, category)
    VALUES (
        new.id, new.sku,
        replace(replace(replace(new.sku, '-', ''), '_', ''), '.', ''),
        new.name, new.description, coalesce(new.category, '')
    );
END;

-- Only edits of searchable columns touch the index: stock changes from orders do not.
CREATE TRIGGER products_fts_after_update
AFTER UPDATE OF sku, name, description, category ON products BEGIN
    DELETE FROM products_fts WHERE rowid = old.id;
    INSERT INTO products_fts (rowid, sku, sku_compact, name, description, category)
    VALUES (
        new.id, new.sku,
        replace(replace(replace(new.sku, '-', ''), '_', ''), '.', ''),
        new.name, new.description, coalesce(new.category, '')
    );
END;

CREATE TRIGGER products_fts_after_delete AFTER DELETE ON products BEGIN
    DELETE FROM products_fts WHERE rowid = old.id;
END;

-- The stock ledger: one row per change of a product's stock, written in the same
-- transaction as the change. Invariant: a product's stock_quantity equals the sum of
-- its movements' deltas. Rows are never updated or deleted.
CREATE TABLE stock_movements (
    id          INTEGER PRIMARY KEY,
    product_id  INTEGER NOT NULL REFERENCES products (id),
    kind        TEXT    NOT NULL
                CHECK (kind IN ('initial', 'adjustment', 'order', 'cancellation')),
    delta       INTEGER NOT NULL,
    reason      TEXT,
    order_id    TEXT,
    stock_after INTEGER NOT NULL CHECK (stock_after >= 0),
    key_id      INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    CHECK (delta <> 0 OR kind = 'initial')
);

CREATE INDEX stock_movements_by_product ON stock_movements (product_id, id);
