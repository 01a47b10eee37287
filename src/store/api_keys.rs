//! API key rows: insert, look up by hash, list, revoke.

use super::{Pace, Sql, Value};

use super::{Db, Row, StoreError};
use crate::models::api_key::{ApiKey, key_ref};
use crate::models::principal::{Principal, Role};

const INSERT_KEY: Sql = Sql::portable(
    "INSERT INTO api_keys
        (owner, role, prefix, key_hash, rate_limit_per_minute, created_at)
    VALUES (?, ?, ?, ?, ?, ?)
    RETURNING id, owner, role, prefix, rate_limit_per_minute, created_at, revoked_at",
);

// Every authenticated request starts with this lookup, so it also reads the schema
// version (column 0; see `Db::execute_checking_schema`): one row always, key columns
// NULL when no active key has this hash.
// A lookup by a unique key, on every request with a key: in place (`Pace`).
const FIND_ACTIVE_BY_HASH: Sql = Sql::per_dialect(
    "SELECT schema.user_version,
           api_keys.id, api_keys.owner, api_keys.role, api_keys.rate_limit_per_minute
    FROM pragma_user_version AS schema
    LEFT JOIN api_keys ON api_keys.key_hash = ?1 AND api_keys.revoked_at IS NULL",
    "SELECT schema.user_version,
           api_keys.id, api_keys.owner, api_keys.role, api_keys.rate_limit_per_minute
    FROM (SELECT coalesce(max(version), 0) AS user_version FROM schema_migrations) AS schema
    LEFT JOIN api_keys ON api_keys.key_hash = ?1 AND api_keys.revoked_at IS NULL",
)
.paced(Pace::InPlace);

const LIST_KEYS_AFTER: Sql = Sql::portable(
    "SELECT
        id, owner, role, prefix, rate_limit_per_minute, created_at, revoked_at
    FROM api_keys WHERE id > ? ORDER BY id LIMIT ?",
);

// RETURNING rather than `changes()`: libSQL's remote client never reports changes.
const REVOKE_KEY: Sql = Sql::portable(
    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING key_hash",
);

/// The fields of a key to insert; the secret itself is never passed here.
pub struct NewKeyRow<'a> {
    /// Who the key is issued to.
    pub owner: &'a str,
    /// The key's role.
    pub role: Role,
    /// The first characters of the secret.
    pub prefix: &'a str,
    /// The SHA-256 of the secret, lower-case hex.
    pub key_hash: &'a str,
    /// The key's own per-minute limit, if any.
    pub rate_limit_per_minute: Option<u32>,
    /// The creation time (RFC 3339).
    pub created_at: &'a str,
}

/// Inserts a key and returns it as stored (columns in `decode_key` order).
pub async fn insert(db: &Db, key: &NewKeyRow<'_>) -> Result<ApiKey, StoreError> {
    let result = db
        .execute(
            &INSERT_KEY,
            &[
                Value::Text(key.owner.into()),
                Value::Text(key.role.as_str().into()),
                Value::Text(key.prefix.into()),
                Value::Text(key.key_hash.into()),
                key.rate_limit_per_minute
                    .map_or(Value::Null, |limit| Value::Integer(limit.into())),
                Value::Text(key.created_at.into()),
            ],
        )
        .await?;
    let row = Row::first(&result)
        .ok_or_else(|| StoreError::Other(anyhow::anyhow!("INSERT … RETURNING gave no row")))?;
    decode_key(&row)
}

/// The principal of the active (not revoked) key with this hash.
pub async fn find_active_by_hash(db: &Db, key_hash: &str) -> Result<Option<Principal>, StoreError> {
    let result = db
        .execute_checking_schema(&FIND_ACTIVE_BY_HASH, &[Value::Text(key_hash.into())])
        .await?;
    let Some(row) = Row::first(&result) else {
        return Ok(None);
    };
    let Some(key_id) = row.optional_integer(1)? else {
        return Ok(None);
    };
    Ok(Some(Principal {
        key_id,
        owner: row.text(2)?,
        role: decode_role(&row, 3)?,
        rate_limit_per_minute: decode_rate_limit(&row, 4)?,
        key_ref: key_ref(key_hash),
    }))
}

/// Up to `limit` keys with an id greater than `after_id`, in id order.
pub async fn list(db: &Db, after_id: i64, limit: u32) -> Result<Vec<ApiKey>, StoreError> {
    let result = db
        .execute(
            &LIST_KEYS_AFTER,
            &[Value::Integer(after_id), Value::Integer(limit.into())],
        )
        .await?;
    Row::all(&result).map(|row| decode_key(&row)).collect()
}

/// Marks a key revoked (keeping the first revocation time) and returns its hash; `None`
/// when no such key.
pub async fn revoke(db: &Db, id: i64, revoked_at: &str) -> Result<Option<String>, StoreError> {
    let result = db
        .execute(
            &REVOKE_KEY,
            &[Value::Text(revoked_at.into()), Value::Integer(id)],
        )
        .await?;
    Row::first(&result).map(|row| row.text(0)).transpose()
}

fn decode_key(row: &Row) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: row.integer(0)?,
        owner: row.text(1)?,
        role: decode_role(row, 2)?,
        prefix: row.text(3)?,
        rate_limit_per_minute: decode_rate_limit(row, 4)?,
        created_at: row.text(5)?,
        revoked_at: row.optional_text(6)?,
    })
}

fn decode_role(row: &Row, index: usize) -> Result<Role, StoreError> {
    Role::parse(&row.text(index)?)
        .map_err(|message| StoreError::Other(anyhow::anyhow!("api_keys.role: {message}")))
}

fn decode_rate_limit(row: &Row, index: usize) -> Result<Option<u32>, StoreError> {
    row.optional_integer(index)?
        .map(|limit| {
            u32::try_from(limit).map_err(|_| {
                StoreError::Other(anyhow::anyhow!("api_keys.rate_limit_per_minute: {limit}"))
            })
        })
        .transpose()
}
