//! Idempotency records: the first response to a (key, Idempotency-Key) pair, kept so a
//! retry replays it instead of placing a second order.

use spin_sdk::sqlite3::Value;

use super::{Db, Row, StoreError};

const FIND_RECORD: &str = "SELECT request_hash, response_status, response_body
    FROM idempotency_keys WHERE key_id = ?1 AND idempotency_key = ?2 AND created_at >= ?3";

const INSERT_RECORD: &str = "INSERT OR REPLACE INTO idempotency_keys
        (key_id, idempotency_key, request_hash, response_status, response_body, created_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

const DELETE_EXPIRED: &str = "DELETE FROM idempotency_keys WHERE created_at < ?1";

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
pub fn find(
    db: &Db,
    key_id: i64,
    idempotency_key: &str,
    not_before: &str,
) -> Result<Option<StoredResponse>, StoreError> {
    let result = db.execute(
        FIND_RECORD,
        &[
            Value::Integer(key_id),
            Value::Text(idempotency_key.into()),
            Value::Text(not_before.into()),
        ],
    )?;
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

/// Stores the first response (replacing an expired record of the same key).
pub fn insert(
    db: &Db,
    key_id: i64,
    idempotency_key: &str,
    response: &StoredResponse,
    created_at: &str,
) -> Result<(), StoreError> {
    db.execute(
        INSERT_RECORD,
        &[
            Value::Integer(key_id),
            Value::Text(idempotency_key.into()),
            Value::Text(response.request_hash.clone()),
            Value::Integer(response.status.into()),
            Value::Text(response.body.clone()),
            Value::Text(created_at.into()),
        ],
    )?;
    Ok(())
}

/// Deletes every record created before `not_before`.
pub fn delete_expired(db: &Db, not_before: &str) -> Result<(), StoreError> {
    db.execute(DELETE_EXPIRED, &[Value::Text(not_before.into())])?;
    Ok(())
}
