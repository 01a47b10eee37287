//! Events: what the service tells subscribers about (`EventType`), and the shape of one
//! event as the API lists it and webhooks deliver it.

use serde::Serialize;
use serde_json::value::RawValue;

/// The kinds of change the service records as events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// An order was placed.
    OrderCreated,
    /// An order moved along the workflow (confirmed, shipped).
    OrderStatusChanged,
    /// An order was cancelled and its stock returned.
    OrderCancelled,
    /// A product's stock crossed below its low-stock threshold.
    StockLow,
    /// A product was created.
    ProductCreated,
    /// A product's fields changed, or it was restored.
    ProductUpdated,
    /// A product was soft-deleted.
    ProductDeleted,
    /// Stock was held for a checkout.
    ReservationCreated,
    /// A hold was released by its client.
    ReservationReleased,
    /// A hold became an order.
    ReservationConverted,
    /// A hold ran out (recorded by the scheduler's sweep; it stopped counting at once).
    ReservationExpired,
}

impl EventType {
    /// Every type, in the order the API documents them.
    pub const ALL: [Self; 11] = [
        Self::OrderCreated,
        Self::OrderStatusChanged,
        Self::OrderCancelled,
        Self::StockLow,
        Self::ProductCreated,
        Self::ProductUpdated,
        Self::ProductDeleted,
        Self::ReservationCreated,
        Self::ReservationReleased,
        Self::ReservationConverted,
        Self::ReservationExpired,
    ];

    /// The type's name in the API (`order.created`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "order.created",
            Self::OrderStatusChanged => "order.status_changed",
            Self::OrderCancelled => "order.cancelled",
            Self::StockLow => "stock.low",
            Self::ProductCreated => "product.created",
            Self::ProductUpdated => "product.updated",
            Self::ProductDeleted => "product.deleted",
            Self::ReservationCreated => "reservation.created",
            Self::ReservationReleased => "reservation.released",
            Self::ReservationConverted => "reservation.converted",
            Self::ReservationExpired => "reservation.expired",
        }
    }

    /// Parses a type's name.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|kind| kind.as_str()).collect();
                format!("must be one of {}", names.join(", "))
            })
    }
}

/// An event as the API returns it and webhooks deliver it. `data` is the resource's JSON
/// exactly as it was recorded.
#[derive(Debug, Serialize)]
pub struct Event {
    /// Internal order of events (paging).
    #[serde(skip)]
    pub seq: i64,
    /// Public id (`evt_…`): the `webhook-id` of every delivery of this event.
    pub id: String,
    /// The event type's name.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the change was committed (RFC 3339).
    pub created_at: String,
    /// The resource after the change.
    pub data: Box<RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses_from_its_name() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Ok(kind));
        }
        assert!(EventType::parse("order.deleted").is_err());
        assert!(EventType::parse("ORDER.CREATED").is_err());
    }
}
