//! The event outbox: events written in the transaction of their change, each with one
//! pending delivery per enabled endpoint subscribed to its type.

use super::{Db, Row, Rows, Sql, StoreError, Value};
use crate::models::event::Event;

// An event and its deliveries, in ONE statement: one pending delivery per enabled endpoint
// that takes this type (`event_types` is NULL for all types, else `,a,b,`), due at once.
// SQLite's trigger `events_fan_out` (migration 0008) writes the deliveries; PostgreSQL's
// data-modifying CTE does (its deliveries take the event's seq from its RETURNING:
// sub-statements share one snapshot, so a lookup by id would not see the new row; their
// foreign key is checked at the end of the statement, when the event exists). Either way
// the one row returned counts the deliveries (SQLite's RETURNING runs before the trigger,
// so it counts the endpoints the trigger writes one for).
// ?1 id, ?2 type, ?3 data, ?4 creation time, ?5 the type as a LIKE pattern.
const RECORD_EVENT: Sql = Sql::per_dialect(
    "INSERT INTO events (id, type, data, created_at) VALUES (?1, ?2, ?3, ?4)
    RETURNING (SELECT count(*) FROM webhook_endpoints
               WHERE enabled = 1 AND (event_types IS NULL OR event_types LIKE ?5))",
    concat!(
        "WITH ",
        event_and_deliveries_ctes!("?1", "?2", "?3", "?4", "?5"),
        " SELECT count(*) FROM deliveries"
    ),
);

/// PostgreSQL's CTEs `event` and `deliveries`, which write an event and its pending
/// deliveries, given the placeholders of the event's id, type, data, creation time and
/// type pattern: `RECORD_EVENT` and the order placement (`orders::PLACE_WHOLE_ORDER`)
/// share them.
macro_rules! event_and_deliveries_ctes {
    ($id:literal, $type:literal, $data:literal, $at:literal, $pattern:literal) => {
        concat!(
            "event AS (
        INSERT INTO events (id, type, data, created_at)
        VALUES (",
            $id,
            ", ",
            $type,
            ", ",
            $data,
            ", ",
            $at,
            ")
        RETURNING seq),
    deliveries AS (
        INSERT INTO webhook_deliveries
            (endpoint_id, event_seq, status, attempts, next_attempt_at, created_at,
             updated_at)
        SELECT webhook_endpoints.id, event.seq, 'pending', 0, ",
            $at,
            ", ",
            $at,
            ", ",
            $at,
            "
        FROM webhook_endpoints, event
        WHERE enabled = 1 AND (event_types IS NULL OR event_types LIKE ",
            $pattern,
            ")
        RETURNING id)"
        )
    };
}
pub(super) use event_and_deliveries_ctes;

const LIST_EVENTS: Sql = Sql::portable(
    "SELECT seq, id, type, created_at, data
    FROM events
    WHERE (CAST(?1 AS text) IS NULL OR type = ?1)
      AND (CAST(?2 AS bigint) IS NULL OR seq < ?2)
    ORDER BY seq DESC
    LIMIT ?3",
);

// Retention: old events whose deliveries are all settled go, with their deliveries and
// attempts (ON DELETE CASCADE), a bounded batch at a time.
const DELETE_OLD_EVENTS: Sql = Sql::portable(
    "DELETE FROM events
    WHERE seq IN (
        SELECT seq FROM events
        WHERE created_at < ?1
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries
                          WHERE event_seq = events.seq AND status = 'pending')
        ORDER BY seq
        LIMIT 500)",
);

/// An event to record.
pub struct NewEvent<'a> {
    /// Public id (`evt_…`).
    pub id: &'a str,
    /// The type's name.
    pub event_type: &'a str,
    /// The resource as JSON text.
    pub data: &'a str,
    /// When (RFC 3339): also when its deliveries are first due.
    pub created_at: &'a str,
}

/// Records an event and its pending deliveries. Call it inside the transaction of the
/// change it reports: both commit or roll back with it.
pub async fn record(db: &Db, event: &NewEvent<'_>) -> Result<(), StoreError> {
    let parameters = [
        Value::Text(event.id.into()),
        Value::Text(event.event_type.into()),
        Value::Text(event.data.into()),
        Value::Text(event.created_at.into()),
        type_pattern(event.event_type),
    ];
    let result = db.execute(&RECORD_EVENT, &parameters).await?;
    note_deliveries(db, &result)
}

/// Reads the count of deliveries a statement that recorded an event returned (its one
/// row's first column), and tells `db` when there are any.
pub(super) fn note_deliveries(db: &Db, result: &Rows) -> Result<(), StoreError> {
    let deliveries = Row::first(result)
        .ok_or_else(|| StoreError::Other(anyhow::anyhow!("recording an event returned no row")))?
        .integer(0)?;
    if deliveries > 0 {
        db.note_deliveries_created();
    }
    Ok(())
}

/// The LIKE pattern that finds the endpoints subscribed to `event_type` by their
/// `event_types` (",a,b,").
pub(super) fn type_pattern(event_type: &str) -> Value {
    Value::Text(format!("%,{event_type},%"))
}

/// Up to `limit` events, newest first, of one type or all, older than `before_seq`.
pub async fn list(
    db: &Db,
    event_type: Option<&str>,
    before_seq: Option<i64>,
    limit: u32,
) -> Result<Vec<Event>, StoreError> {
    let result = db
        .execute(
            &LIST_EVENTS,
            &[
                super::optional_text(event_type),
                super::optional_integer(before_seq),
                Value::Integer(limit.into()),
            ],
        )
        .await?;
    Row::all(&result)
        .map(|row| {
            Ok(Event {
                seq: row.integer(0)?,
                id: row.text(1)?,
                event_type: row.text(2)?,
                created_at: row.text(3)?,
                data: raw_json(row.text(4)?)?,
            })
        })
        .collect()
}

/// Deletes a batch of events older than `before` whose deliveries are all settled.
pub async fn delete_older_than(db: &Db, before: &str) -> Result<(), StoreError> {
    db.execute(&DELETE_OLD_EVENTS, &[Value::Text(before.into())])
        .await?;
    Ok(())
}

/// Stored JSON text as a raw JSON value (it was written by `serde_json`).
fn raw_json(text: String) -> Result<Box<serde_json::value::RawValue>, StoreError> {
    serde_json::value::RawValue::from_string(text)
        .map_err(|error| StoreError::Other(anyhow::anyhow!("stored event data: {error}")))
}
