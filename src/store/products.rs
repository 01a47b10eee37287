//! Product rows, the catalog list and full-text search.

use super::{Dialect, Pace, Sql, Value};

use super::{Db, Row, Rows, StoreError, optional_integer};
use crate::models::money::Money;
use crate::models::product::{Product, ProductFields, ProductName, Sku};
use crate::models::search::{ProductFilter, SearchQuery};
use crate::models::time::Timestamp;

/// The units of the product in the row `products` that holds live at `$now` (a
/// parameter: Unix milliseconds) set aside. Only a product whose `held_until_ms` lies
/// ahead can have any (migration 0009), so the sum over the covering index
/// `reservation_items_live`, which reads only live lines, runs only for those.
macro_rules! held_units {
    ($now:literal) => {
        concat!(
            "(CASE WHEN products.held_until_ms > ",
            $now,
            " THEN (SELECT CAST(coalesce(sum(reservation_items.quantity), 0) AS bigint)
                    FROM reservation_items
                    WHERE reservation_items.product_id = products.id
                      AND reservation_items.held_until_ms > ",
            $now,
            ") ELSE 0 END)"
        )
    };
}
pub(crate) use held_units;

/// The columns `decode_product` reads, in order; the last is the units held now (an
/// SQL expression, usually `held_units!`).
macro_rules! product_columns {
    ($($held:tt)*) => {
        concat!(
            "id, sku, name, description, category, price_cents, stock_quantity, \
             low_stock_threshold, version, created_at, updated_at, deleted_at, ",
            $($held)*,
            " AS reserved"
        )
    };
}

const INSERT_PRODUCT: Sql = Sql::portable(concat!(
    "INSERT INTO products (sku, name, description, category, price_cents, stock_quantity,
         low_stock_threshold, created_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
     RETURNING ",
    product_columns!("0")
));

// The full-text index is written here, in the same transaction as the product row, and
// holds active products only: insert and field updates write it, soft delete takes the
// row out and restore puts it back (migration 0004 says why not triggers). Parameters
// are `search_parameters`.

/// `sku_compact`: the SKU (?2) without separators, so "AB-12", "ab12" and "AB 12" all
/// find SKU AB-12.
// PostgreSQL's document for a product: the searchable columns as words (letters and
// digits, lower case: the split `SearchQuery` makes of what users type), weighted A for
// the SKU as written and without separators, B the name, C the category, D the
// description. Parameters as above.
macro_rules! postgres_search_document {
    () => {
        "setweight(to_tsvector('simple', regexp_replace(lower(?2), '[^[:alnum:]]+', ' ', 'g')), 'A')
         || setweight(to_tsvector('simple',
                replace(replace(replace(lower(?2), '-', ''), '_', ''), '.', '')), 'A')
         || setweight(to_tsvector('simple', regexp_replace(lower(?3), '[^[:alnum:]]+', ' ', 'g')), 'B')
         || setweight(to_tsvector('simple',
                regexp_replace(lower(coalesce(?5, '')), '[^[:alnum:]]+', ' ', 'g')), 'C')
         || setweight(to_tsvector('simple', regexp_replace(lower(?4), '[^[:alnum:]]+', ' ', 'g')), 'D')"
    };
}

// ts_rank's weights for D, C, B, A: as FTS5's bm25 weights above, a hit in the SKU or
// name counts far more than one in the description. Higher is better.
macro_rules! postgres_rank {
    () => {
        "ts_rank('{0.1, 0.2, 0.5, 1.0}', document, query)"
    };
}

macro_rules! compact_sku {
    () => {
        "replace(replace(replace(?2, '-', ''), '_', ''), '.', '')"
    };
}

const INDEX_FOR_SEARCH: Sql = Sql::per_dialect(
    concat!(
        "INSERT INTO products_fts (rowid, sku, sku_compact, name, description, category)
     VALUES (?1, ?2, ",
        compact_sku!(),
        ", ?3, ?4, coalesce(?5, ''))"
    ),
    concat!(
        "INSERT INTO products_fts (product_id, document) VALUES (?1, ",
        postgres_search_document!(),
        ")"
    ),
);

const REINDEX_FOR_SEARCH: Sql = Sql::per_dialect(
    concat!(
        "UPDATE products_fts SET sku = ?2, sku_compact = ",
        compact_sku!(),
        ", name = ?3, description = ?4, category = coalesce(?5, '') WHERE rowid = ?1"
    ),
    concat!(
        "UPDATE products_fts SET document = ",
        postgres_search_document!(),
        " WHERE product_id = ?1"
    ),
);

const UNINDEX_FOR_SEARCH: Sql = Sql::per_dialect(
    "DELETE FROM products_fts WHERE rowid = ?1",
    "DELETE FROM products_fts WHERE product_id = ?1",
);

// A lookup by primary key (GET product): in place (`Pace`).
const FIND_PRODUCT: Sql = Sql::portable(concat!(
    "SELECT ",
    product_columns!(held_units!("?2")),
    " FROM products WHERE id = ?1"
))
.paced(Pace::InPlace);

// The filters use the `(?N IS NULL OR …)` form so that one constant statement serves
// every combination of filters. PostgreSQL types a parameter where it first meets it,
// and `? IS NULL` says nothing: its texts CAST such parameters.
const LIST_PRODUCTS: Sql = Sql::per_dialect(
    concat!(
        "SELECT ",
        product_columns!(held_units!("?7")),
        " FROM products
     WHERE deleted_at IS NULL
       AND (?1 IS NULL OR category = ?1 COLLATE NOCASE)
       AND (?2 IS NULL OR price_cents >= ?2)
       AND (?3 IS NULL OR price_cents <= ?3)
       AND (?4 IS NULL OR (stock_quantity > ",
        held_units!("?7"),
        ") = ?4)
       AND id > ?5
     ORDER BY id
     LIMIT ?6"
    ),
    concat!(
        "SELECT ",
        product_columns!(held_units!("?7")),
        " FROM products
         WHERE deleted_at IS NULL
           AND (CAST(?1 AS text) IS NULL OR lower(category) = lower(?1))
           AND (CAST(?2 AS bigint) IS NULL OR price_cents >= ?2)
           AND (CAST(?3 AS bigint) IS NULL OR price_cents <= ?3)
           AND (CAST(?4 AS bigint) IS NULL OR (stock_quantity > ",
        held_units!("?7"),
        ") = (?4 <> 0))
           AND id > ?5
         ORDER BY id
         LIMIT ?6"
    ),
);

// bm25 weights per column (sku, sku_compact, name, description, category): a hit in
// the SKU or name counts far more than one in the description. Lower rank is better;
// equal ranks go by id. Pages are taken by position (OFFSET), because bm25 values
// depend on the whole catalog and shift whenever any product is written (see
// `Cursor::ranked_position`). The index holds active products only, so without filters
// the page comes from the index alone and only its rows are joined to `products`
// (bm25 still ranks every match).
const SEARCH_ACTIVE_PRODUCTS: Sql = Sql::per_dialect(
    concat!(
        "SELECT ",
        product_columns!(held_units!("?4")),
        " FROM (SELECT match_id, match_rank
           FROM (SELECT rowid AS match_id,
                        bm25(products_fts, 10.0, 10.0, 5.0, 1.0, 2.0) AS match_rank
                 FROM products_fts WHERE products_fts MATCH ?1)
           ORDER BY match_rank, match_id
           LIMIT ?3 OFFSET ?2) AS matched
     JOIN products ON products.id = matched.match_id
     WHERE products.deleted_at IS NULL
     ORDER BY matched.match_rank, products.id"
    ),
    concat!(
        "SELECT ",
        product_columns!(held_units!("?4")),
        " FROM (SELECT product_id AS match_id, ",
        postgres_rank!(),
        " AS match_rank
               FROM products_fts, to_tsquery('simple', ?1) AS query
               WHERE document @@ query
               ORDER BY match_rank DESC, match_id
               LIMIT ?3 OFFSET ?2) AS matched
         JOIN products ON products.id = matched.match_id
         WHERE products.deleted_at IS NULL
         ORDER BY matched.match_rank DESC, products.id"
    ),
);

// With filters, every match is joined and filtered before the page is taken.
const SEARCH_PRODUCTS: Sql = Sql::per_dialect(
    concat!(
        "SELECT ",
        product_columns!(held_units!("?8")),
        " FROM products
     JOIN (SELECT rowid AS match_id, bm25(products_fts, 10.0, 10.0, 5.0, 1.0, 2.0) AS match_rank
           FROM products_fts WHERE products_fts MATCH ?1) ON id = match_id
     WHERE deleted_at IS NULL
       AND (?2 IS NULL OR category = ?2 COLLATE NOCASE)
       AND (?3 IS NULL OR price_cents >= ?3)
       AND (?4 IS NULL OR price_cents <= ?4)
       AND (?5 IS NULL OR (stock_quantity > ",
        held_units!("?8"),
        ") = ?5)
     ORDER BY match_rank, id
     LIMIT ?7 OFFSET ?6"
    ),
    concat!(
        "SELECT ",
        product_columns!(held_units!("?8")),
        " FROM products
         JOIN (SELECT product_id AS match_id, ",
        postgres_rank!(),
        " AS match_rank
               FROM products_fts, to_tsquery('simple', ?1) AS query
               WHERE document @@ query) AS matched ON id = match_id
         WHERE deleted_at IS NULL
           AND (CAST(?2 AS text) IS NULL OR lower(category) = lower(?2))
           AND (CAST(?3 AS bigint) IS NULL OR price_cents >= ?3)
           AND (CAST(?4 AS bigint) IS NULL OR price_cents <= ?4)
           AND (CAST(?5 AS bigint) IS NULL OR (stock_quantity > ",
        held_units!("?8"),
        ") = (?5 <> 0))
         ORDER BY match_rank DESC, id
         LIMIT ?7 OFFSET ?6"
    ),
);

// Lowest available stock first (on hand minus live holds), keyset (available, id). The
// available figure is computed per active product, so this reads them all: a report,
// not a hot path.
const LOW_STOCK: Sql = Sql::portable(concat!(
    "SELECT * FROM (
        SELECT ",
    product_columns!(held_units!("?5")),
    " FROM products WHERE deleted_at IS NULL) AS product
     WHERE stock_quantity - reserved < coalesce(?1, low_stock_threshold)
       AND (CAST(?2 AS bigint) IS NULL OR stock_quantity - reserved > ?2
            OR (stock_quantity - reserved = ?2 AND id > ?3))
     ORDER BY stock_quantity - reserved, id
     LIMIT ?4"
));

const UPDATE_FIELDS: Sql = Sql::portable(concat!(
    "UPDATE products
     SET sku = ?1, name = ?2, description = ?3, category = ?4, price_cents = ?5,
         low_stock_threshold = ?6, version = version + 1, updated_at = ?7
     WHERE id = ?8 AND deleted_at IS NULL AND (CAST(?9 AS bigint) IS NULL OR version = ?9)
     RETURNING ",
    product_columns!(held_units!("?10"))
));

const SET_DELETED: Sql = Sql::portable(concat!(
    "UPDATE products
     SET deleted_at = ?1, version = version + 1, updated_at = ?2
     WHERE id = ?3 AND (deleted_at IS NULL) = (CAST(?1 AS text) IS NOT NULL)
       AND (CAST(?4 AS bigint) IS NULL OR version = ?4)
     RETURNING ",
    product_columns!(held_units!("?5"))
));

// On-hand stock may not drop below what live holds set aside. On PostgreSQL the holds
// the guard sums must be current: an adjustment first takes the product's row lock
// (`LOCK_FOR_ADJUSTMENT`), which every hold, conversion and release on it also takes,
// and this statement then reads a snapshot from after that lock (without it, an
// increase that waited for a conversion's lock would see the converted stock but the
// hold still counted, and be refused).
const ADJUST_STOCK: Sql = Sql::portable(concat!(
    "UPDATE products
     SET stock_quantity = stock_quantity + ?1, version = version + 1, updated_at = ?2
     WHERE id = ?3 AND deleted_at IS NULL
       AND stock_quantity + ?1 >= ",
    held_units!("?5"),
    " AND stock_quantity + ?1 <= ?4
     RETURNING ",
    product_columns!(held_units!("?5"))
));

const LOCK_FOR_ADJUSTMENT: Sql =
    Sql::postgres_only("SELECT id FROM products WHERE id = ?1 FOR UPDATE");

/// Inserts a product with its initial stock; a duplicate SKU is `UniqueViolation`.
pub async fn insert(
    db: &Db,
    fields: &ProductFields,
    initial_stock: i64,
    now: &str,
) -> Result<Product, StoreError> {
    let mut parameters = field_parameters(fields);
    parameters.insert(5, Value::Integer(initial_stock));
    parameters.push(Value::Text(now.into()));
    let product = single_product(db.execute(&INSERT_PRODUCT, &parameters).await?)?
        .ok_or_else(|| StoreError::Other(anyhow::anyhow!("INSERT … RETURNING gave no row")))?;
    db.execute(&INDEX_FOR_SEARCH, &search_parameters(&product))
        .await?;
    Ok(product)
}

/// The product with this id, deleted or not, with the units held at `now`.
pub async fn find(db: &Db, id: i64, now: Timestamp) -> Result<Option<Product>, StoreError> {
    single_product(
        db.execute(&FIND_PRODUCT, &[Value::Integer(id), millis(now)])
            .await?,
    )
}

/// Up to `limit` active products matching `filter`, in id order after `after_id`.
pub async fn list(
    db: &Db,
    filter: &ProductFilter,
    after_id: i64,
    limit: u32,
    now: Timestamp,
) -> Result<Vec<Product>, StoreError> {
    let mut parameters = filter_parameters(filter);
    parameters.push(Value::Integer(after_id));
    parameters.push(Value::Integer(limit.into()));
    parameters.push(millis(now));
    let result = db.execute(&LIST_PRODUCTS, &parameters).await?;
    Row::all(&result).map(|row| decode_product(&row)).collect()
}

/// Up to `limit` active products matching `query` and `filter`, best match first,
/// skipping the first `skip` of them.
pub async fn search(
    db: &Db,
    query: &SearchQuery,
    filter: &ProductFilter,
    skip: u32,
    limit: u32,
    now: Timestamp,
) -> Result<Vec<Product>, StoreError> {
    let query_text = match db.dialect() {
        Dialect::Sqlite => query.as_fts(),
        Dialect::Postgres => query.as_tsquery(),
    };
    let mut parameters = vec![Value::Text(query_text)];
    let statement = if filter.is_empty() {
        &SEARCH_ACTIVE_PRODUCTS
    } else {
        parameters.extend(filter_parameters(filter));
        &SEARCH_PRODUCTS
    };
    parameters.extend([
        Value::Integer(skip.into()),
        Value::Integer(limit.into()),
        millis(now),
    ]);
    let result = db.execute(statement, &parameters).await?;
    Row::all(&result).map(|row| decode_product(&row)).collect()
}

/// Up to `limit` active products whose available stock at `now` is below `threshold`
/// (or, without one, below their own low-stock threshold), lowest first, after the
/// (available, id) position `after`.
pub async fn low_stock(
    db: &Db,
    threshold: Option<i64>,
    after: Option<(i64, i64)>,
    limit: u32,
    now: Timestamp,
) -> Result<Vec<Product>, StoreError> {
    let (after_available, after_id) = after.unzip();
    let parameters = [
        optional_integer(threshold),
        optional_integer(after_available),
        optional_integer(after_id),
        Value::Integer(limit.into()),
        millis(now),
    ];
    let result = db.execute(&LOW_STOCK, &parameters).await?;
    Row::all(&result).map(|row| decode_product(&row)).collect()
}

/// Replaces the writable fields of an active product, if `expected_version` (when
/// given) is current. `None` when no row matched (missing, deleted or stale).
pub async fn update_fields(
    db: &Db,
    id: i64,
    fields: &ProductFields,
    expected_version: Option<i64>,
    now: Timestamp,
) -> Result<Option<Product>, StoreError> {
    let mut parameters = field_parameters(fields);
    parameters.extend([
        Value::Text(now.to_string()),
        Value::Integer(id),
        optional_integer(expected_version),
        millis(now),
    ]);
    let product = single_product(db.execute(&UPDATE_FIELDS, &parameters).await?)?;
    if let Some(product) = &product {
        db.execute(&REINDEX_FOR_SEARCH, &search_parameters(product))
            .await?;
    }
    Ok(product)
}

/// The searchable columns of a product (?1–?5), for `&INDEX_FOR_SEARCH`/`&REINDEX_FOR_SEARCH`.
fn search_parameters(product: &Product) -> [Value; 5] {
    let fields = &product.fields;
    [
        Value::Integer(product.id),
        Value::Text(fields.sku.as_str().into()),
        Value::Text(fields.name.as_str().into()),
        Value::Text(fields.description.clone()),
        fields.category.clone().map_or(Value::Null, Value::Text),
    ]
}

/// Soft-deletes (`deleted_at` given) or restores (`None`) a product that is in the
/// opposite state, if `expected_version` (when given) is current; the search index
/// follows.
pub async fn set_deleted(
    db: &Db,
    id: i64,
    deleted_at: Option<&str>,
    expected_version: Option<i64>,
    now: Timestamp,
) -> Result<Option<Product>, StoreError> {
    let parameters = [
        deleted_at.map_or(Value::Null, |at| Value::Text(at.into())),
        Value::Text(now.to_string()),
        Value::Integer(id),
        optional_integer(expected_version),
        millis(now),
    ];
    let product = single_product(db.execute(&SET_DELETED, &parameters).await?)?;
    if let Some(product) = &product {
        match product.deleted_at {
            Some(_) => {
                db.execute(&UNINDEX_FOR_SEARCH, &[Value::Integer(product.id)])
                    .await?
            }
            None => {
                db.execute(&INDEX_FOR_SEARCH, &search_parameters(product))
                    .await?
            }
        };
    }
    Ok(product)
}

/// Adds `delta` to an active product's stock when the result stays within
/// held..=`max_stock` (held: the units live holds set aside at `now`); returns the
/// product as changed, or `None` when no row qualified.
pub async fn adjust_stock(
    db: &Db,
    id: i64,
    delta: i64,
    max_stock: i64,
    now: Timestamp,
) -> Result<Option<Product>, StoreError> {
    if db.dialect() == Dialect::Postgres {
        db.execute(&LOCK_FOR_ADJUSTMENT, &[Value::Integer(id)])
            .await?;
    }
    let parameters = [
        Value::Integer(delta),
        Value::Text(now.to_string()),
        Value::Integer(id),
        Value::Integer(max_stock),
        millis(now),
    ];
    single_product(db.execute(&ADJUST_STOCK, &parameters).await?)
}

/// `now` as the Unix milliseconds that hold expiries are compared with.
pub(crate) fn millis(now: Timestamp) -> Value {
    Value::Integer(now.unix_millis())
}

fn field_parameters(fields: &ProductFields) -> Vec<Value> {
    vec![
        Value::Text(fields.sku.as_str().into()),
        Value::Text(fields.name.as_str().into()),
        Value::Text(fields.description.clone()),
        fields
            .category
            .as_ref()
            .map_or(Value::Null, |category| Value::Text(category.clone())),
        Value::Integer(fields.price.cents()),
        Value::Integer(fields.low_stock_threshold),
    ]
}

fn filter_parameters(filter: &ProductFilter) -> Vec<Value> {
    vec![
        filter
            .category
            .as_ref()
            .map_or(Value::Null, |category| Value::Text(category.clone())),
        optional_integer(filter.min_price.map(Money::cents)),
        optional_integer(filter.max_price.map(Money::cents)),
        optional_integer(filter.in_stock.map(i64::from)),
    ]
}

fn single_product(result: Rows) -> Result<Option<Product>, StoreError> {
    Row::first(&result)
        .map(|row| decode_product(&row))
        .transpose()
}

/// Decodes the columns of `product_columns!`. Stored values were checked on the way
/// in, so a value that no longer parses is reported as corrupt, never defaulted.
fn decode_product(row: &Row) -> Result<Product, StoreError> {
    let corrupt = |column: &str, message: String| {
        StoreError::Other(anyhow::anyhow!("products.{column}: {message}"))
    };
    Ok(Product {
        id: row.integer(0)?,
        fields: ProductFields {
            sku: Sku::parse(&row.text(1)?.into()).map_err(|m| corrupt("sku", m))?,
            name: ProductName::parse(&row.text(2)?.into()).map_err(|m| corrupt("name", m))?,
            description: row.text(3)?,
            category: row.optional_text(4)?,
            price: Money::from_cents(row.integer(5)?),
            low_stock_threshold: row.integer(7)?,
        },
        stock_quantity: row.integer(6)?,
        version: row.integer(8)?,
        created_at: row.text(9)?,
        updated_at: row.text(10)?,
        deleted_at: row.optional_text(11)?,
        reserved_quantity: row.integer(12)?,
    })
}
