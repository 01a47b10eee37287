//! Idempotency records: the first response to a (key, Idempotency-Key) pair, kept so a
//! retry replays it instead of placing a second order.

use super::{Sql, Value};

use super::{Db, Row, StoreError};

const FIND_RECORD: Sql = Sql::portable(
    "SELECT request_hash, response_status, response_body
    FROM idempotency_keys WHERE key_id = ?1 AND idempotency_key = ?2 AND created_at >= ?3",
);

// Stores a first response unless a live one holds the key: an expired record is
// replaced, a live one is left alone and no row comes back (RETURNING rather than
// `changes()`: libSQL's remote client never reports changes).
const INSERT_UNLESS_LIVE: Sql = Sql::portable(
    "INSERT INTO idempotency_keys
        (key_id, idempotency_key, request_hash, response_status, response_body, created_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)
    ON CONFLICT (key_id, idempotency_key) DO UPDATE
    SET request_hash = excluded.request_hash, response_status = excluded.response_status,
        response_body = excluded.response_body, created_at = excluded.created_at
    WHERE idempotency_keys.created_at < ?7
    RETURNING key_id",
);

const DELETE_EXPIRED: Sql = Sql::portable("DELETE FROM idempotency_keys WHERE created_at < ?1");

/// A stored first response.
pub struct StoredResponse {
    /// SHA-256 of the canonical request body it answered.
    pub request_hash: String,
    /// Its status code.
    pub status: u16,
    /// Its body.
    pub body: String,
}

/// The live record of `idempotency_key` for `key_id`, ignoring records created before
/// `not_before` (expired).
pub async fn find(
    db: &Db,
    key_id: i64,
    idempotency_key: &str,
    not_before: &str,
) -> Result<Option<StoredResponse>, StoreError> {
    let result = db
        .execute(
            &FIND_RECORD,
            &[
                Value::Integer(key_id),
                Value::Text(idempotency_key.into()),
                Value::Text(not_before.into()),
            ],
        )
        .await?;
    Row::first(&result)
        .map(|row| {
            Ok(StoredResponse {
                request_hash: row.text(0)?,
                status: u16::try_from(row.integer(1)?)
                    .map_err(|error| StoreError::Other(error.into()))?,
                body: row.text(2)?,
            })
        })
        .transpose()
}

/// Stores the first response, replacing an expired record of the same key; false (and
/// nothing written) when a record created at or after `not_before` already holds it.
pub async fn insert_unless_live(
    db: &Db,
    key_id: i64,
    idempotency_key: &str,
    response: &StoredResponse,
    created_at: &str,
    not_before: &str,
) -> Result<bool, StoreError> {
    let result = db
        .execute(
            &INSERT_UNLESS_LIVE,
            &[
                Value::Integer(key_id),
                Value::Text(idempotency_key.into()),
                Value::Text(response.request_hash.clone()),
                Value::Integer(response.status.into()),
                Value::Text(response.body.clone()),
                Value::Text(created_at.into()),
                Value::Text(not_before.into()),
            ],
        )
        .await?;
    Ok(!result.rows.is_empty())
}

/// Deletes every record created before `not_before`.
pub async fn delete_expired(db: &Db, not_before: &str) -> Result<(), StoreError> {
    db.execute(&DELETE_EXPIRED, &[Value::Text(not_before.into())])
        .await?;
    Ok(())
}
