//! Webhook endpoints, their deliveries, and the lease by which a worker claims a due
//! delivery so that no other worker sends the same attempt.

use super::{Db, Row, Sql, StoreError, Value, optional_integer, optional_text};
use crate::models::webhook::{DeliveryStatus, SigningSecret, Subscription};

const INSERT_ENDPOINT: Sql = Sql::portable(
    "INSERT INTO webhook_endpoints
        (url, event_types, enabled, description, secret, created_at, updated_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
    RETURNING id",
);

const LIST_ENDPOINTS: Sql = Sql::portable(
    "SELECT id, url, event_types, enabled, description, created_at, updated_at
    FROM webhook_endpoints WHERE id > ?1 ORDER BY id LIMIT ?2",
);

const FIND_ENDPOINT: Sql = Sql::portable(
    "SELECT id, url, event_types, enabled, description, created_at, updated_at
    FROM webhook_endpoints WHERE id = ?1",
);

const UPDATE_ENDPOINT: Sql = Sql::portable(
    "UPDATE webhook_endpoints
    SET url = ?2, event_types = ?3, enabled = ?4, description = ?5, updated_at = ?6
    WHERE id = ?1",
);

const SET_SECRET: Sql = Sql::portable(
    "UPDATE webhook_endpoints SET secret = ?2, updated_at = ?3 WHERE id = ?1 RETURNING id",
);

const DELETE_ENDPOINT: Sql =
    Sql::portable("DELETE FROM webhook_endpoints WHERE id = ?1 RETURNING id");

const LIST_DELIVERIES: Sql = Sql::portable(
    "SELECT d.id, e.id, e.type, d.status, d.attempts, d.last_status_code,
        d.last_error, d.next_attempt_at, d.created_at, d.updated_at
    FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq
    WHERE d.endpoint_id = ?1
      AND (CAST(?2 AS text) IS NULL OR d.status = ?2)
      AND (CAST(?3 AS bigint) IS NULL OR d.id < ?3)
    ORDER BY d.id DESC
    LIMIT ?4",
);

const FIND_DELIVERY: Sql = Sql::portable(
    "SELECT d.id, e.id, e.type, d.status, d.attempts, d.last_status_code,
        d.last_error, d.next_attempt_at, d.created_at, d.updated_at
    FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq
    WHERE d.endpoint_id = ?1 AND d.id = ?2",
);

// A manual redelivery makes the delivery due now, unless a worker is sending it.
const MAKE_DUE: Sql = Sql::portable(
    "UPDATE webhook_deliveries
    SET status = 'pending', next_attempt_at = ?3, updated_at = ?3
    WHERE endpoint_id = ?1 AND id = ?2 AND (lease_until IS NULL OR lease_until < ?3)
    RETURNING id",
);

// Claims up to ?4 due deliveries of enabled endpoints for the lease ?2 until ?1. SQLite has one writer,
// so the statement is atomic; on PostgreSQL, `FOR UPDATE SKIP LOCKED` hands each row to
// one claimer and the outer conditions are checked again on the locked row.
const CLAIM_DUE: Sql = Sql::per_dialect(
    "UPDATE webhook_deliveries
    SET lease_until = ?1, lease_token = ?2
    WHERE id IN (
        SELECT d.id FROM webhook_deliveries d
        JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.enabled = 1
        WHERE d.status = 'pending' AND d.next_attempt_at <= ?3
          AND (d.lease_until IS NULL OR d.lease_until < ?3)
        ORDER BY d.next_attempt_at, d.id
        LIMIT ?4)
    RETURNING id",
    "WITH due AS (
        SELECT d.id FROM webhook_deliveries d
        JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.enabled = 1
        WHERE d.status = 'pending' AND d.next_attempt_at <= ?3
          AND (d.lease_until IS NULL OR d.lease_until < ?3)
        ORDER BY d.next_attempt_at, d.id
        LIMIT ?4
        FOR UPDATE OF d SKIP LOCKED)
    UPDATE webhook_deliveries
    SET lease_until = ?1, lease_token = ?2
    WHERE id IN (SELECT id FROM due) AND status = 'pending'
      AND (lease_until IS NULL OR lease_until < ?3)
    RETURNING id",
);

const CLAIMED: Sql = Sql::portable(
    "SELECT d.id, d.attempts, e.id, e.type, e.created_at, e.data, w.url, w.secret
    FROM webhook_deliveries d
    JOIN events e ON e.seq = d.event_seq
    JOIN webhook_endpoints w ON w.id = d.endpoint_id
    WHERE d.lease_token = ?1
    ORDER BY d.id",
);

// A batch's attempts, logged (only those whose lease is still this worker's: ?2)...
const LOG_ATTEMPTS: Sql = Sql::per_dialect(
    "INSERT INTO webhook_attempts
        (delivery_id, attempt, started_at, duration_ms, status_code, error, next_attempt_at)
    SELECT d.id, json_extract(a.value, '$.attempt'), json_extract(a.value, '$.started_at'),
           json_extract(a.value, '$.duration_ms'), json_extract(a.value, '$.status_code'),
           json_extract(a.value, '$.error'), json_extract(a.value, '$.next_attempt_at')
    FROM json_each(?1) AS a
    JOIN webhook_deliveries d ON d.id = json_extract(a.value, '$.delivery_id')
    WHERE d.lease_token = ?2",
    "INSERT INTO webhook_attempts
        (delivery_id, attempt, started_at, duration_ms, status_code, error, next_attempt_at)
    SELECT d.id, (a.value->>'attempt')::bigint, a.value->>'started_at',
           (a.value->>'duration_ms')::bigint, (a.value->>'status_code')::bigint,
           a.value->>'error', a.value->>'next_attempt_at'
    FROM jsonb_array_elements(CAST(?1 AS jsonb)) AS a
    JOIN webhook_deliveries d ON d.id = (a.value->>'delivery_id')::bigint
    WHERE d.lease_token = ?2",
);

// ...then settled, releasing the lease: one statement for the whole batch.
const SETTLE_ATTEMPTS: Sql = Sql::per_dialect(
    "UPDATE webhook_deliveries
    SET status = json_extract(a.value, '$.status'), attempts = attempts + 1,
        next_attempt_at = json_extract(a.value, '$.next_attempt_at'),
        last_status_code = json_extract(a.value, '$.status_code'),
        last_error = json_extract(a.value, '$.error'),
        lease_until = NULL, lease_token = NULL, updated_at = ?3
    FROM json_each(?1) AS a
    WHERE webhook_deliveries.id = json_extract(a.value, '$.delivery_id')
      AND webhook_deliveries.lease_token = ?2",
    "UPDATE webhook_deliveries
    SET status = a.value->>'status', attempts = attempts + 1,
        next_attempt_at = a.value->>'next_attempt_at',
        last_status_code = (a.value->>'status_code')::bigint,
        last_error = a.value->>'error',
        lease_until = NULL, lease_token = NULL, updated_at = ?3
    FROM jsonb_array_elements(CAST(?1 AS jsonb)) AS a
    WHERE webhook_deliveries.id = (a.value->>'delivery_id')::bigint
      AND webhook_deliveries.lease_token = ?2",
);

/// An endpoint as the API shows it (never its secret).
#[derive(Debug, serde::Serialize)]
pub struct Endpoint {
    /// Its id.
    pub id: i64,
    /// Where deliveries go.
    pub url: String,
    /// What it receives.
    #[serde(serialize_with = "subscription_names")]
    pub events: Subscription,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// The operator's note.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed (the secret's rotation included).
    pub updated_at: String,
}

fn subscription_names<S: serde::Serializer>(
    subscription: &Subscription,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(subscription.names())
}

/// The writable fields of an endpoint.
pub struct EndpointFields<'a> {
    /// Where deliveries go.
    pub url: &'a str,
    /// What it receives.
    pub events: &'a Subscription,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// The operator's note.
    pub description: Option<&'a str>,
}

/// A delivery as the API lists it.
#[derive(Debug, serde::Serialize)]
pub struct Delivery {
    /// Its id.
    pub id: i64,
    /// The event's public id.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// pending, succeeded or failed.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// The HTTP status of the last attempt, if it got one.
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// A claimed delivery: everything needed to send it.
pub struct ClaimedDelivery {
    /// Its id.
    pub id: i64,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The event's public id (`webhook-id`).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// When the event was recorded.
    pub event_created_at: String,
    /// The event's data, as stored.
    pub data: String,
    /// Where to send it.
    pub url: String,
    /// The endpoint's signing secret.
    pub secret: SigningSecret,
}

/// How one attempt ended.
#[derive(serde::Serialize)]
pub struct AttemptOutcome<'a> {
    /// The delivery.
    pub delivery_id: i64,
    /// Which attempt this was (1 for the first).
    pub attempt: i64,
    /// The delivery's status after it.
    pub status: &'static str,
    /// When the next attempt is due, if there is one.
    pub next_attempt_at: Option<&'a str>,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i64>,
    /// Why it failed, if it did.
    pub error: Option<&'a str>,
    /// When the attempt started.
    pub started_at: &'a str,
    /// How long it took.
    pub duration_ms: i64,
}

fn endpoint_from(row: &Row) -> Result<Endpoint, StoreError> {
    Ok(Endpoint {
        id: row.integer(0)?,
        url: row.text(1)?,
        events: Subscription::from_stored(row.optional_text(2)?.as_deref()),
        enabled: row.integer(3)? != 0,
        description: row.optional_text(4)?,
        created_at: row.text(5)?,
        updated_at: row.text(6)?,
    })
}

fn delivery_from(row: &Row) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: row.integer(0)?,
        event_id: row.text(1)?,
        event_type: row.text(2)?,
        status: row.text(3)?,
        attempts: row.integer(4)?,
        last_status_code: row.optional_integer(5)?,
        last_error: row.optional_text(6)?,
        next_attempt_at: row.optional_text(7)?,
        created_at: row.text(8)?,
        updated_at: row.text(9)?,
    })
}

/// Stores a new endpoint; returns its id.
pub async fn insert_endpoint(
    db: &Db,
    fields: &EndpointFields<'_>,
    secret: &SigningSecret,
    now: &str,
) -> Result<i64, StoreError> {
    let result = db
        .execute(
            &INSERT_ENDPOINT,
            &[
                Value::Text(fields.url.into()),
                optional_text(fields.events.to_stored().as_deref()),
                Value::Integer(fields.enabled.into()),
                optional_text(fields.description),
                Value::Text(secret.as_str().into()),
                Value::Text(now.into()),
            ],
        )
        .await?;
    Row::first(&result)
        .ok_or_else(|| StoreError::Other(anyhow::anyhow!("INSERT returned no id")))?
        .integer(0)
}

/// Up to `limit` endpoints after id `after_id`, in id order.
pub async fn list_endpoints(
    db: &Db,
    after_id: i64,
    limit: u32,
) -> Result<Vec<Endpoint>, StoreError> {
    let result = db
        .execute(
            &LIST_ENDPOINTS,
            &[Value::Integer(after_id), Value::Integer(limit.into())],
        )
        .await?;
    Row::all(&result).map(|row| endpoint_from(&row)).collect()
}

/// One endpoint.
pub async fn find_endpoint(db: &Db, id: i64) -> Result<Option<Endpoint>, StoreError> {
    let result = db.execute(&FIND_ENDPOINT, &[Value::Integer(id)]).await?;
    Row::first(&result)
        .map(|row| endpoint_from(&row))
        .transpose()
}

/// Replaces an endpoint's writable fields.
pub async fn update_endpoint(
    db: &Db,
    id: i64,
    fields: &EndpointFields<'_>,
    now: &str,
) -> Result<(), StoreError> {
    db.execute(
        &UPDATE_ENDPOINT,
        &[
            Value::Integer(id),
            Value::Text(fields.url.into()),
            optional_text(fields.events.to_stored().as_deref()),
            Value::Integer(fields.enabled.into()),
            optional_text(fields.description),
            Value::Text(now.into()),
        ],
    )
    .await?;
    Ok(())
}

/// Replaces an endpoint's secret; false when there is no such endpoint.
pub async fn set_secret(
    db: &Db,
    id: i64,
    secret: &SigningSecret,
    now: &str,
) -> Result<bool, StoreError> {
    let result = db
        .execute(
            &SET_SECRET,
            &[
                Value::Integer(id),
                Value::Text(secret.as_str().into()),
                Value::Text(now.into()),
            ],
        )
        .await?;
    Ok(Row::first(&result).is_some())
}

/// Deletes an endpoint with its deliveries; false when there is no such endpoint.
pub async fn delete_endpoint(db: &Db, id: i64) -> Result<bool, StoreError> {
    let result = db.execute(&DELETE_ENDPOINT, &[Value::Integer(id)]).await?;
    Ok(Row::first(&result).is_some())
}

/// Up to `limit` deliveries of an endpoint, newest first, older than `before_id`.
pub async fn list_deliveries(
    db: &Db,
    endpoint_id: i64,
    status: Option<DeliveryStatus>,
    before_id: Option<i64>,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let result = db
        .execute(
            &LIST_DELIVERIES,
            &[
                Value::Integer(endpoint_id),
                optional_text(status.map(DeliveryStatus::as_str)),
                optional_integer(before_id),
                Value::Integer(limit.into()),
            ],
        )
        .await?;
    Row::all(&result).map(|row| delivery_from(&row)).collect()
}

/// One delivery of an endpoint.
pub async fn find_delivery(
    db: &Db,
    endpoint_id: i64,
    id: i64,
) -> Result<Option<Delivery>, StoreError> {
    let result = db
        .execute(
            &FIND_DELIVERY,
            &[Value::Integer(endpoint_id), Value::Integer(id)],
        )
        .await?;
    Row::first(&result)
        .map(|row| delivery_from(&row))
        .transpose()
}

/// Makes a delivery pending and due at `now`, unless a worker is sending it right now;
/// false when it did not (no such delivery of that endpoint, or one being sent).
pub async fn make_due(db: &Db, endpoint_id: i64, id: i64, now: &str) -> Result<bool, StoreError> {
    let result = db
        .execute(
            &MAKE_DUE,
            &[
                Value::Integer(endpoint_id),
                Value::Integer(id),
                Value::Text(now.into()),
            ],
        )
        .await?;
    let made_due = Row::first(&result).is_some();
    if made_due {
        db.note_deliveries_created();
    }
    Ok(made_due)
}

/// Claims up to `limit` due deliveries for `lease_token` until `lease_until`, and
/// returns them ready to send.
pub async fn claim_due(
    db: &Db,
    limit: u32,
    lease_token: &str,
    lease_until: &str,
    now: &str,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let claimed = db
        .execute(
            &CLAIM_DUE,
            &[
                Value::Text(lease_until.into()),
                Value::Text(lease_token.into()),
                Value::Text(now.into()),
                Value::Integer(limit.into()),
            ],
        )
        .await?;
    if Row::first(&claimed).is_none() {
        return Ok(Vec::new());
    }
    let result = db
        .execute(&CLAIMED, &[Value::Text(lease_token.into())])
        .await?;
    Row::all(&result)
        .map(|row| {
            Ok(ClaimedDelivery {
                id: row.integer(0)?,
                attempts: row.integer(1)?,
                event_id: row.text(2)?,
                event_type: row.text(3)?,
                event_created_at: row.text(4)?,
                data: row.text(5)?,
                url: row.text(6)?,
                secret: SigningSecret::from_stored(row.text(7)?),
            })
        })
        .collect()
}

/// Logs and settles a batch's attempts, releasing their leases; a delivery whose lease
/// ran out meanwhile (another worker may hold it now) is left alone. Call it inside a
/// transaction, so that deliveries and their attempt log change together.
pub async fn settle_attempts(
    db: &Db,
    outcomes: &[AttemptOutcome<'_>],
    lease_token: &str,
    now: &str,
) -> Result<(), StoreError> {
    let outcomes = super::json_parameter(&outcomes)?;
    let token = Value::Text(lease_token.into());
    db.execute(&LOG_ATTEMPTS, &[outcomes.clone(), token.clone()])
        .await?;
    db.execute(
        &SETTLE_ATTEMPTS,
        &[outcomes, token, Value::Text(now.into())],
    )
    .await?;
    Ok(())
}
