-- 0004: the store layer writes the full-text index itself, in the same transaction as
-- the product row (store/products.rs), instead of the triggers of 0002.
--
-- Why: Spin opens a new SQLite connection for every request, and every new connection
-- parses the whole schema before its first statement. Trigger bodies are the costliest
-- part of that parse, and it was paid on every request, reads included. The searchable
-- columns are written in store/products.rs only: insert, field update, soft delete and
-- restore.
--
-- From now on the index holds active products only (a soft delete takes the row out, a
-- restore puts it back), so a search without filters can take its page from the index
-- alone and join just that page to `products`.

DROP TRIGGER products_fts_after_insert;
DROP TRIGGER products_fts_after_update;
DROP TRIGGER products_fts_after_delete;

DELETE FROM products_fts WHERE rowid IN (SELECT id FROM products WHERE deleted_at IS NOT NULL);
