//! Recording events: every service that changes something a subscriber may care about
//! calls `record` inside the transaction of that change (the outbox), and the events
//! list.

use serde::Serialize;

use crate::error::ApiError;
use crate::models::encoding::hex;
use crate::models::event::{Event, EventType};
use crate::models::page::{Page, PageLimit};
use crate::models::product::Product;
use crate::store::events::{self, NewEvent};
use crate::store::{Db, StoreError};

/// How long events are kept (and listed): 30 days.
pub const RETENTION_MILLIS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Records an event about `resource` (serialized exactly as the API returns it) with a
/// pending delivery for every subscribed endpoint. Call it inside the transaction of the
/// change: a rollback takes the event with it.
pub async fn record(
    db: &Db,
    event_type: EventType,
    resource: &impl Serialize,
    now: &str,
) -> Result<(), StoreError> {
    let data = serde_json::to_string(resource).map_err(|error| StoreError::Other(error.into()))?;
    record_json(db, event_type, &data, now).await
}

/// `record` for a resource already serialized (an order's response body).
pub async fn record_json(
    db: &Db,
    event_type: EventType,
    data: &str,
    now: &str,
) -> Result<(), StoreError> {
    let id = new_event_id();
    events::record(
        db,
        &NewEvent {
            id: &id,
            event_type: event_type.as_str(),
            data,
            created_at: now,
        },
    )
    .await
}

/// A new event's public id (`evt_` and 128 random bits).
pub fn new_event_id() -> String {
    format!("evt_{}", hex(&wasi::random::random::get_random_bytes(16)))
}

/// Records `stock.low` when a product's available stock (on hand minus held) went from
/// at or above its threshold to below it: once per crossing, however it moved (an
/// order, an adjustment, a hold).
pub async fn record_if_stock_crossed_low(
    db: &Db,
    product: &Product,
    available_before: i64,
    now: &str,
) -> Result<(), StoreError> {
    if crossed_below(
        available_before,
        product.available_quantity(),
        product.fields.low_stock_threshold,
    ) {
        record(db, EventType::StockLow, product, now).await?;
    }
    Ok(())
}

/// Whether a stock move from `before` to `after` crossed below `threshold`.
pub fn crossed_below(before: i64, after: i64, threshold: i64) -> bool {
    before >= threshold && after < threshold
}

/// One page of events, newest first, optionally of one type.
pub async fn list(
    db: &Db,
    event_type: Option<EventType>,
    before_seq: Option<i64>,
    limit: PageLimit,
) -> Result<Page<Event>, ApiError> {
    let rows = events::list(
        db,
        event_type.map(EventType::as_str),
        before_seq,
        limit.fetch_count(),
    )
    .await?;
    Ok(Page::from_rows(rows, limit, |event| vec![event.seq.into()]))
}

#[cfg(test)]
mod tests {
    use super::crossed_below;

    #[test]
    fn a_crossing_is_from_at_or_above_to_below() {
        assert!(crossed_below(10, 9, 10));
        assert!(crossed_below(50, 0, 5));
        assert!(!crossed_below(9, 8, 10), "already below: no new crossing");
        assert!(
            !crossed_below(12, 10, 10),
            "at the threshold is not below it"
        );
        assert!(!crossed_below(5, 5, 0));
    }
}
