//! Stock reservations: holding stock for a checkout, reading and listing holds,
//! releasing them, and the scheduler's sweep of expired ones. Converting a hold into an
//! order is part of order placement (`services::orders`).
//!
//! A hold is made in ONE transaction that takes every line or none against available
//! stock (on hand minus live holds), exactly like an order takes stock: on SQLite under
//! the one write lock, on PostgreSQL under its products' row locks. Nothing needs to run
//! for a hold to expire; the sweep only records the fact (`reservation.expired`).

use crate::error::ApiError;
use crate::models::event::EventType;
use crate::models::order::OrderLine;
use crate::models::page::{Page, PageLimit};
use crate::models::principal::{Principal, Role};
use crate::models::reservation::{Reservation, ReservationId, ReservationStatus, TimeToLive};
use crate::models::time::Timestamp;
use crate::services::{events, orders};
use crate::store::reservations::{self, HoldOutcome, NewReservation, ReservationListFilter};
use crate::store::{Db, products};

/// How many expired holds one scheduler run marks (each records an event).
const SWEEP_LIMIT: u32 = 100;

/// A validated hold request.
pub struct HoldRequest {
    /// The lines, duplicates merged, in product id order.
    pub lines: Vec<OrderLine>,
    /// How long the hold lives.
    pub ttl: TimeToLive,
}

/// Holds every line of `request` for `principal`, or none: 404 for an unknown product,
/// 409 `PRODUCT_UNAVAILABLE` for a deleted one, 409 `INSUFFICIENT_STOCK` naming each
/// line that exceeds the available stock. Records `reservation.created`, and
/// `stock.low` for every product whose available stock the hold took below its
/// threshold, in the same transaction.
pub async fn hold(
    db: &Db,
    principal: &Principal,
    request: &HoldRequest,
    now: Timestamp,
) -> Result<Reservation, ApiError> {
    let id = ReservationId::from_random(&random_bytes());
    let expires_at = Timestamp::from_unix_millis(now.unix_millis() + request.ttl.millis());
    let now_text = now.to_string();
    if let Some(error) = orders::refused_by_a_read(db, &request.lines, now).await? {
        return Err(error);
    }
    db.transaction(async |db| {
        let new = NewReservation {
            id: id.as_str(),
            key_id: principal.key_id,
            lines: &request.lines,
            now,
            expires_at,
        };
        let (seq, items, held) = match reservations::hold(db, &new).await? {
            HoldOutcome::Held {
                seq,
                items,
                products,
            } => (seq, items, products),
            HoldOutcome::Refused { held_product_ids } => {
                return Err(orders::refusal(db, &request.lines, &held_product_ids, now).await?);
            }
        };
        for product in &held {
            let Some(line) = request
                .lines
                .iter()
                .find(|line| line.product_id == product.product_id)
            else {
                continue;
            };
            if events::crossed_below(
                product.available_after + line.quantity,
                product.available_after,
                product.low_stock_threshold,
            ) {
                let product = products::find(db, product.product_id, now)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("a held product vanished"))?;
                events::record(db, EventType::StockLow, &product, &now_text).await?;
            }
        }
        let reservation = Reservation {
            seq,
            id: id.as_str().to_string(),
            key_id: principal.key_id,
            status: ReservationStatus::Active,
            items,
            expires_at: expires_at.to_string(),
            order_id: None,
            created_at: now_text.clone(),
            updated_at: now_text.clone(),
        };
        events::record(db, EventType::ReservationCreated, &reservation, &now_text).await?;
        Ok(reservation)
    })
    .await
}

/// One hold the caller may see (their own, or any for admins), its status as of `now`;
/// a hold the caller may not see is 404, exactly like a missing one.
pub async fn get(
    db: &Db,
    principal: &Principal,
    id: &str,
    now: Timestamp,
) -> Result<Reservation, ApiError> {
    reservations::find(db, id, now)
        .await?
        .filter(|reservation| may_see(principal, reservation))
        .ok_or_else(not_found)
}

/// One page of the holds the caller may see, newest first.
pub async fn list(
    db: &Db,
    principal: &Principal,
    status: Option<ReservationStatus>,
    product_id: Option<i64>,
    before_seq: Option<i64>,
    limit: PageLimit,
    now: Timestamp,
) -> Result<Page<Reservation>, ApiError> {
    let filter = ReservationListFilter {
        key_id: (principal.role != Role::Admin).then_some(principal.key_id),
        status,
        product_id,
        before_seq,
        limit: limit.fetch_count(),
    };
    let rows = reservations::list(db, &filter, now).await?;
    Ok(Page::from_rows(rows, limit, |reservation| {
        vec![reservation.seq.into()]
    }))
}

/// Releases a live hold: its units are available again at once. A hold that is no
/// longer active is 409 `RESERVATION_NOT_ACTIVE`; of concurrent releases one succeeds.
pub async fn release(
    db: &Db,
    principal: &Principal,
    id: &str,
    now: Timestamp,
) -> Result<(), ApiError> {
    db.transaction(async |db| {
        let mut reservation = get(db, principal, id, now).await?;
        if !reservations::end(db, reservation.seq, ReservationStatus::Released, None, now).await? {
            return Err(not_active(db, principal, id, now).await);
        }
        reservation.status = ReservationStatus::Released;
        reservation.updated_at = now.to_string();
        events::record(
            db,
            EventType::ReservationReleased,
            &reservation,
            &reservation.updated_at,
        )
        .await?;
        Ok(())
    })
    .await
}

/// The scheduler's sweep: marks up to `SWEEP_LIMIT` holds that expired by `now` as
/// expired and records `reservation.expired` for each, in one transaction. Their units
/// stopped counting when they expired; this only records it. Returns how many.
pub async fn sweep_expired(db: &Db, now: Timestamp) -> Result<usize, ApiError> {
    let now_text = now.to_string();
    db.transaction(async |db| {
        let expired = reservations::sweep_expired(db, now, SWEEP_LIMIT).await?;
        for reservation in &expired {
            events::record(db, EventType::ReservationExpired, reservation, &now_text).await?;
        }
        Ok(expired.len())
    })
    .await
}

/// The 409 for a hold that is not (or no longer) active, with its status now.
pub async fn not_active(db: &Db, principal: &Principal, id: &str, now: Timestamp) -> ApiError {
    match get(db, principal, id, now).await {
        Ok(reservation) => ApiError::ReservationNotActive {
            id: reservation.id,
            status: reservation.status.as_str(),
        },
        Err(error) => error,
    }
}

/// Whether `principal` may see, release or convert `reservation`.
pub fn may_see(principal: &Principal, reservation: &Reservation) -> bool {
    principal.role == Role::Admin || reservation.key_id == principal.key_id
}

/// The 404 of a hold that does not exist (or is another key's).
pub fn not_found() -> ApiError {
    ApiError::NotFound("Reservation".into())
}

fn random_bytes() -> [u8; 16] {
    let bytes = wasi::random::random::get_random_bytes(16);
    let mut array = [0; 16];
    array.copy_from_slice(&bytes[..16]);
    array
}
