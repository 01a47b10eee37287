-- 0004: the store layer writes the full-text index itself, in the same transaction as
-- the product row (store/products.rs), instead of the triggers of 0002.
--
-- Why: Spin opens a new SQLite connection for every request, and every new connection
-- parses the whole schema before its first statement. Trigger bodies are the costliest
-- part of that parse, and it was paid on every request, reads included. Products are
-- written in exactly two places (insert and field update; soft deletes keep the index
-- row, as searches join `products` and filter on `deleted_at`), both in store/products.rs.

DROP TRIGGER products_fts_after_insert;
DROP TRIGGER products_fts_after_update;
DROP TRIGGER products_fts_after_delete;
