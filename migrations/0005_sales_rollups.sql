-- 0005: hourly sales rollups, so reports read a few thousand pre-summed rows instead of
-- every order line ever placed.
--
-- An hour is the first 13 characters of a creation time ('2026-11-26T09'): every stored
-- time is UTC in one fixed format, so the prefix is the hour and sorts like time.
-- Reports sum whole hours from these tables and read raw orders only for the partial
-- hours at the edges of a window. The store layer (store/orders.rs) updates both in the
-- same transaction as every order insert and status change; not triggers, for the
-- reason given in 0004.

-- Orders per creation hour and current status, with their units and revenue (cents).
CREATE TABLE sales_by_hour (
    hour          TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    order_count   INTEGER NOT NULL,
    units         INTEGER NOT NULL,
    revenue_cents INTEGER NOT NULL,
    PRIMARY KEY (hour, status)
) WITHOUT ROWID;

-- Units and revenue (cents) per product and creation hour of non-cancelled orders.
CREATE TABLE product_sales_by_hour (
    hour          TEXT    NOT NULL,
    product_id    INTEGER NOT NULL,
    units         INTEGER NOT NULL,
    revenue_cents INTEGER NOT NULL,
    PRIMARY KEY (hour, product_id)
) WITHOUT ROWID;

-- Existing orders, for databases created before this migration.
INSERT INTO sales_by_hour (hour, status, order_count, units, revenue_cents)
SELECT substr(orders.created_at, 1, 13), orders.status, count(*),
       sum((SELECT coalesce(sum(quantity), 0) FROM order_items WHERE order_seq = orders.seq)),
       sum(orders.total_cents)
FROM orders
GROUP BY 1, 2;

INSERT INTO product_sales_by_hour (hour, product_id, units, revenue_cents)
SELECT substr(orders.created_at, 1, 13), order_items.product_id,
       sum(order_items.quantity), sum(order_items.line_total_cents)
FROM orders JOIN order_items ON order_items.order_seq = orders.seq
WHERE orders.status <> 'cancelled'
GROUP BY 1, 2;
