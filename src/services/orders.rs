//! Orders: atomic placement with idempotent retries, ownership, listing, the status
//! workflow and cancellation with stock restoration.
//!
//! Placement checks every line, takes every line's stock, snapshots the prices and writes
//! the order, its lines, its ledger movements and its idempotency record in ONE
//! `BEGIN IMMEDIATE` transaction on the request's own connection. SQLite admits one
//! writer at a time, so two orders can never both take the last unit, and a failure at
//! any step rolls everything back. Its events (`order.created`, and `stock.low` for every
//! product it took below its threshold) are written in that transaction too.

use sha2::{Digest, Sha256};

use crate::error::{ApiError, Shortfall};
use crate::models::encoding::hex;
use crate::models::event::EventType;
use crate::models::money::Money;
use crate::models::order::{
    IdempotencyKey, Order, OrderItem, OrderLine, OrderStatus, Trigger, new_order_json,
};
use crate::models::page::{Page, PageLimit};
use crate::models::principal::{Principal, Role};
use crate::models::product::MAX_STOCK;
use crate::models::reservation::{Reservation, ReservationId, ReservationStatus};
use crate::models::stock::MovementKind;
use crate::models::time::Timestamp;
use crate::services::events;
use crate::services::reservations as reservations_service;
use crate::store::events::NewEvent;
use crate::store::idempotency::{self, StoredResponse};
use crate::store::movements::{self, ProductMovement};
use crate::store::orders::{self, NewOrder, OrderListFilter, OrderableProduct, TakenStock};
use crate::store::{Db, StoreError, products, reservations};

/// Idempotency records live at least this long (24 hours).
const IDEMPOTENCY_RETENTION_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// A validated order request.
pub struct OrderRequest {
    /// The customer's name.
    pub customer_name: String,
    /// The customer's e-mail address.
    pub customer_email: String,
    /// What the order is made of.
    pub source: OrderSource,
}

/// Where an order's lines come from.
pub enum OrderSource {
    /// Lines given with the order (duplicates merged, in product id order), taken from
    /// available stock.
    Lines(Vec<OrderLine>),
    /// An active hold, whose units were set aside: converted with no stock check.
    Reservation(ReservationId),
}

/// The `Idempotency-Key` of a request and the hash of the request it came with.
pub struct Idempotency {
    /// The client's key.
    pub key: IdempotencyKey,
    /// SHA-256 of the parsed request in canonical form.
    pub request_hash: String,
}

impl Idempotency {
    /// Hashes the parsed request, not the body's spelling: `2` and `2.0`, other spacing,
    /// key order or escapes, and lines split or merged all describe the same order, so a
    /// retry written differently still counts as the same request.
    pub fn new(key: IdempotencyKey, request: &OrderRequest) -> Self {
        let canonical = match &request.source {
            OrderSource::Lines(lines) => {
                let lines: Vec<[i64; 2]> = lines
                    .iter()
                    .map(|line| [line.product_id, line.quantity])
                    .collect();
                serde_json::json!({
                    "customer_name": request.customer_name,
                    "customer_email": request.customer_email,
                    "lines": lines,
                })
            }
            OrderSource::Reservation(id) => serde_json::json!({
                "customer_name": request.customer_name,
                "customer_email": request.customer_email,
                "reservation_id": id.as_str(),
            }),
        };
        Self {
            key,
            request_hash: hex(&Sha256::digest(canonical.to_string().as_bytes())),
        }
    }
}

/// The response to a placement: a new order, or the replay of the first response.
pub struct Placement {
    /// Status code to answer with.
    pub status: u16,
    /// The JSON body (the order).
    pub body: String,
    /// The order's public id (for `Location`).
    pub order_id: String,
    /// True when this is a replay of an earlier response.
    pub replayed: bool,
}

/// Places an order atomically, or replays the first response to the same
/// `Idempotency-Key`.
///
/// The first request with a key is the common case, so placement does not look for a
/// record first: it places the order and stores the response in the same transaction,
/// and only when a live record already holds the key (a retry, or a concurrent duplicate
/// that won the write lock first) does it roll everything back and replay that record.
/// A refused placement (stock, unknown product) also replays a live record if there is
/// one, so a retry after the stock ran out still gets its first answer.
pub async fn place(
    db: &Db,
    principal: &Principal,
    request: &OrderRequest,
    idempotency: Option<&Idempotency>,
    now: Timestamp,
) -> Result<Placement, ApiError> {
    let now_text = now.to_string();
    let not_before =
        Timestamp::from_unix_millis(now.unix_millis() - IDEMPOTENCY_RETENTION_MILLIS).to_string();
    let live_record = async |db: &Db, idempotency: &Idempotency| {
        idempotency::find(db, principal.key_id, idempotency.key.as_str(), &not_before).await
    };
    let refuse = async |db: &Db, error: ApiError| -> Abandoned {
        if let Some(idempotency) = idempotency {
            match live_record(db, idempotency).await {
                Ok(Some(stored)) => return Abandoned::ForReplay(stored),
                Ok(None) => {}
                Err(error) => return error.into(),
            }
        }
        Abandoned::Refused(error)
    };
    if let OrderSource::Lines(lines) = &request.source
        && let Some(error) = refused_by_a_read(db, lines, now).await?
    {
        return answer(Err(refuse(db, error).await), idempotency);
    }
    let outcome = db
        .transaction(async |db| {
            let order_id = new_order_id();
            let (lines, taken, converted) = match &request.source {
                OrderSource::Lines(lines) => {
                    let taken = orders::take_stock(db, lines, now).await?;
                    if taken.len() != lines.len() {
                        let ids: Vec<i64> = taken.iter().map(|taken| taken.product_id).collect();
                        return Err(refuse(db, refusal(db, lines, &ids, now).await?).await);
                    }
                    let taken = taken_in_line_order(lines, taken);
                    (lines.clone(), taken, None)
                }
                OrderSource::Reservation(id) => {
                    match convert(db, principal, id.as_str(), &order_id, now).await {
                        Ok((lines, taken, reservation)) => (lines, taken, Some(reservation)),
                        Err(error) => return Err(refuse(db, error).await),
                    }
                }
            };
            let items = snapshot_items(&lines, &taken);
            let total = Money::from_cents(items.iter().map(|item| item.line_total.cents()).sum());
            // Everything in the order is known here: its answer (exactly what `find` would
            // return) is built in memory instead of re-read while holding the write lock,
            // and it is the data of its `order.created` event, written with it.
            let body = new_order_json(
                &order_id,
                &request.customer_name,
                &request.customer_email,
                &items,
                total,
                &now_text,
            )
            .map_err(anyhow::Error::from)?;
            // A converted hold's units were already set aside, so converting leaves the
            // available stock as it was; an order from lines takes them from it.
            if converted.is_none() {
                for (line, taken) in lines.iter().zip(&taken) {
                    let available_after = taken.stock_after - taken.reserved;
                    if events::crossed_below(
                        available_after + line.quantity,
                        available_after,
                        taken.low_stock_threshold,
                    ) {
                        let product = products::find(db, taken.product_id, now)
                            .await?
                            .ok_or_else(|| anyhow::anyhow!("a product taken from vanished"))?;
                        events::record(db, EventType::StockLow, &product, &now_text).await?;
                    }
                }
            }
            if let Some(reservation) = &converted {
                events::record(db, EventType::ReservationConverted, reservation, &now_text).await?;
            }
            let stock_after: Vec<i64> = taken.iter().map(|taken| taken.stock_after).collect();
            let event_id = events::new_event_id();
            let units = items.iter().map(|item| item.quantity).sum();
            orders::insert(
                db,
                &NewOrder {
                    id: &order_id,
                    key_id: principal.key_id,
                    customer_name: &request.customer_name,
                    customer_email: &request.customer_email,
                    total,
                    units,
                    created_at: &now_text,
                },
                &items,
                &stock_after,
                &NewEvent {
                    id: &event_id,
                    event_type: EventType::OrderCreated.as_str(),
                    data: &body,
                    created_at: &now_text,
                },
            )
            .await?;
            if let Some(idempotency) = idempotency {
                let record = StoredResponse {
                    request_hash: idempotency.request_hash.clone(),
                    status: 201,
                    body: body.clone(),
                };
                let stored = idempotency::insert_unless_live(
                    db,
                    principal.key_id,
                    idempotency.key.as_str(),
                    &record,
                    &now_text,
                    &not_before,
                )
                .await?;
                if !stored {
                    let live = live_record(db, idempotency).await?.ok_or_else(|| {
                        anyhow::anyhow!("an idempotency record is live but cannot be read")
                    })?;
                    return Err(Abandoned::ForReplay(live));
                }
                if expired_records_due() {
                    idempotency::delete_expired(db, &not_before).await?;
                }
            }
            Ok(Placement {
                status: 201,
                body,
                order_id,
                replayed: false,
            })
        })
        .await;
    answer(outcome, idempotency)
}

/// What a placement answers: its order, a replay of the record its `Idempotency-Key`
/// holds, or why it was refused.
fn answer(
    outcome: Result<Placement, Abandoned>,
    idempotency: Option<&Idempotency>,
) -> Result<Placement, ApiError> {
    match (outcome, idempotency) {
        (Ok(placement), _) => Ok(placement),
        (Err(Abandoned::ForReplay(stored)), Some(idempotency)) => replay(stored, idempotency),
        (Err(Abandoned::ForReplay(_)), None) => {
            Err(anyhow::anyhow!("a replay without an Idempotency-Key").into())
        }
        (Err(Abandoned::Refused(error)), _) => Err(error),
    }
}

/// On SQLite an order from lines (and a hold: `reservations::hold`) first reads its
/// products, outside any transaction: one that this read already refuses (sold out,
/// unknown or deleted products) is answered from it and never takes the write lock,
/// which every writer waits for. After a sell-out that is most orders, and they no
/// longer queue in front of the orders that can be served. The read shows one moment at
/// which the order would have been refused, so answering from it is answering as if the
/// order had come then; the transaction still guards every line, as stock may run out
/// after the read. (PostgreSQL's writers lock only their products' rows: there the read
/// would only add a round trip.)
pub async fn refused_by_a_read(
    db: &Db,
    lines: &[OrderLine],
    now: Timestamp,
) -> Result<Option<ApiError>, ApiError> {
    if !db.writers_share_one_lock() {
        return Ok(None);
    }
    refusal_of_untaken(db, lines, &[], now).await
}

/// Why a placement's transaction was rolled back.
enum Abandoned {
    /// A live idempotency record answers this request instead.
    ForReplay(StoredResponse),
    /// The placement failed with this error.
    Refused(ApiError),
}

impl From<ApiError> for Abandoned {
    fn from(error: ApiError) -> Self {
        Self::Refused(error)
    }
}

impl From<StoreError> for Abandoned {
    fn from(error: StoreError) -> Self {
        Self::Refused(error.into())
    }
}

impl From<anyhow::Error> for Abandoned {
    fn from(error: anyhow::Error) -> Self {
        Self::Refused(error.into())
    }
}

/// Whether this placement also deletes expired idempotency records: about one in 32, so
/// the table stays bounded (records live at least 24 hours, as promised) without a
/// delete in every order's transaction.
fn expired_records_due() -> bool {
    wasi::random::insecure::get_insecure_random_u64().is_multiple_of(32)
}

/// One order the caller may see: admins see every order, others only their own. An
/// order the caller may not see is 404, exactly like a missing one.
pub async fn get(db: &Db, principal: &Principal, id: &str) -> Result<Order, ApiError> {
    orders::find(db, id)
        .await?
        .filter(|order| may_see(principal, order))
        .ok_or_else(not_found)
}

/// One page of the orders the caller may see, newest first.
pub async fn list(
    db: &Db,
    principal: &Principal,
    status: Option<OrderStatus>,
    before_seq: Option<i64>,
    limit: PageLimit,
) -> Result<Page<Order>, ApiError> {
    let filter = OrderListFilter {
        key_id: (principal.role != Role::Admin).then_some(principal.key_id),
        status,
        before_seq,
        limit: limit.fetch_count(),
    };
    let rows = orders::list(db, &filter).await?;
    Ok(Page::from_rows(rows, limit, |order| vec![order.seq.into()]))
}

/// Moves an order along the workflow (`PATCH /orders/{id}/status`, admins only).
pub async fn change_status(
    db: &Db,
    principal: &Principal,
    id: &str,
    next: OrderStatus,
    now: Timestamp,
) -> Result<Order, ApiError> {
    transition(db, principal, id, next, Trigger::StatusUpdate, now).await
}

/// Cancels a pending or confirmed order and gives every line's units back to stock, in
/// the same transaction. Of many concurrent cancels, exactly one succeeds.
pub async fn cancel(
    db: &Db,
    principal: &Principal,
    id: &str,
    now: Timestamp,
) -> Result<Order, ApiError> {
    transition(
        db,
        principal,
        id,
        OrderStatus::Cancelled,
        Trigger::Cancel,
        now,
    )
    .await
}

async fn transition(
    db: &Db,
    principal: &Principal,
    id: &str,
    next: OrderStatus,
    trigger: Trigger,
    now: Timestamp,
) -> Result<Order, ApiError> {
    let now = now.to_string();
    db.transaction(async |db| {
        let order = get(db, principal, id).await?;
        let refused = || ApiError::InvalidStatusTransition {
            from: order.status.as_str().into(),
            to: next.as_str().into(),
        };
        if !order.status.allows(next, trigger) {
            return Err(refused());
        }
        // A cancel gives the stock back before it changes the status: every write
        // transaction then locks its products before the order and the sales rollup,
        // in one order, so on PostgreSQL a cancel and a placement never deadlock. If
        // another request changed the status first, the rollback takes the stock back.
        let levels = if trigger == Trigger::Cancel {
            orders::return_stock(db, order.seq, &now).await?
        } else {
            Vec::new()
        };
        if !orders::set_status(db, order.seq, order.status, next, &now).await? {
            return Err(refused());
        }
        if trigger == Trigger::Cancel {
            // The ceiling every stock level keeps (clients may hold stock in 32 bits)
            // holds for cancellations too: like an adjustment, a cancel that would lift
            // a product above it is refused, and the rollback restores everything.
            if let Some((product_id, stock_after)) = levels
                .iter()
                .find(|(_, stock_after)| *stock_after > MAX_STOCK)
            {
                return Err(ApiError::Conflict(format!(
                    "Cancelling would raise the stock of product {product_id} to \
                     {stock_after}, above the maximum of {MAX_STOCK}; lower its stock first"
                )));
            }
            let returned: Vec<ProductMovement> = order
                .items
                .iter()
                .filter_map(|item| {
                    let (_, stock_after) = levels.iter().find(|(id, _)| *id == item.product_id)?;
                    Some(ProductMovement {
                        product_id: item.product_id,
                        delta: item.quantity,
                        stock_after: *stock_after,
                    })
                })
                .collect();
            movements::record_for_order(
                db,
                MovementKind::Cancellation,
                &order.id,
                principal.key_id,
                &now,
                &returned,
            )
            .await?;
        }
        let changed = orders::find(db, id).await?.ok_or_else(not_found)?;
        let event_type = match trigger {
            Trigger::Cancel => EventType::OrderCancelled,
            Trigger::StatusUpdate => EventType::OrderStatusChanged,
        };
        events::record(db, event_type, &changed, &now).await?;
        Ok(changed)
    })
    .await
}

/// Converts the active hold `id` into the order `order_id`: marks it converted (of
/// concurrent conversions exactly one finds it active) and takes its units from on-hand
/// stock with no availability check. Returns the order's lines and taken stock in line
/// order, and the hold as converted. Not the caller's hold: 404; not active: 409
/// `RESERVATION_NOT_ACTIVE`; a product deleted since it was held: 409
/// `PRODUCT_UNAVAILABLE` (the rollback leaves the hold active).
async fn convert(
    db: &Db,
    principal: &Principal,
    id: &str,
    order_id: &str,
    now: Timestamp,
) -> Result<(Vec<OrderLine>, Vec<TakenStock>, Reservation), ApiError> {
    let mut reservation = reservations_service::get(db, principal, id, now).await?;
    let converted = reservation.status == ReservationStatus::Active
        && reservations::end(
            db,
            reservation.seq,
            ReservationStatus::Converted,
            Some(order_id),
            now,
        )
        .await?;
    if !converted {
        return Err(reservations_service::not_active(db, principal, id, now).await);
    }
    let lines: Vec<OrderLine> = reservation
        .items
        .iter()
        .map(|item| OrderLine {
            product_id: item.product_id,
            quantity: item.quantity,
        })
        .collect();
    let taken = reservations::take_held_units(db, reservation.seq, now).await?;
    if taken.len() != lines.len() {
        let unavailable = lines
            .iter()
            .filter(|line| !taken.iter().any(|t| t.product_id == line.product_id))
            .map(|line| line.product_id)
            .collect();
        return Err(ApiError::ProductUnavailable(unavailable));
    }
    reservation.status = ReservationStatus::Converted;
    reservation.order_id = Some(order_id.to_string());
    reservation.updated_at = now.to_string();
    let taken = taken_in_line_order(&lines, taken);
    Ok((lines, taken, reservation))
}

/// The taken stock of each line, in line order (every line was taken).
fn taken_in_line_order(lines: &[OrderLine], mut taken: Vec<TakenStock>) -> Vec<TakenStock> {
    let position = |product_id: i64| lines.iter().position(|line| line.product_id == product_id);
    taken.sort_by_key(|taken| position(taken.product_id));
    taken
}

/// The order's lines, priced with the snapshot taken with the stock (`taken` is in line
/// order).
fn snapshot_items(lines: &[OrderLine], taken: &[TakenStock]) -> Vec<OrderItem> {
    lines
        .iter()
        .zip(taken)
        .map(|(line, product)| OrderItem {
            product_id: line.product_id,
            sku: product.sku.clone(),
            name: product.name.clone(),
            quantity: line.quantity,
            unit_price: product.price,
            line_total: Money::from_cents(product.price.cents() * line.quantity),
        })
        .collect()
}

/// Why some lines could not be taken (or held): unknown products are 404, deleted ones
/// 409 `PRODUCT_UNAVAILABLE`, and short lines 409 `INSUFFICIENT_STOCK` naming each
/// product short of available stock at `now`. Only the lines of products not in `taken`
/// are examined: the stock of the others already moved in this transaction, which the
/// caller rolls back.
pub async fn refusal(
    db: &Db,
    lines: &[OrderLine],
    taken: &[i64],
    now: Timestamp,
) -> Result<ApiError, ApiError> {
    match refusal_of_untaken(db, lines, taken, now).await? {
        Some(error) => Ok(error),
        // Enough now: on PostgreSQL the stock of a product this transaction did not lock
        // (a line refused as short) may have risen since the refusing statement read it.
        None => Err(db.rerun_for_newer_data().into()),
    }
}

/// `refusal`, or `None` when every line not in `taken` could be served now.
async fn refusal_of_untaken(
    db: &Db,
    lines: &[OrderLine],
    taken: &[i64],
    now: Timestamp,
) -> Result<Option<ApiError>, ApiError> {
    let untaken: Vec<&OrderLine> = lines
        .iter()
        .filter(|line| !taken.contains(&line.product_id))
        .collect();
    let product_ids: Vec<i64> = untaken.iter().map(|line| line.product_id).collect();
    let products = orders::find_products(db, &product_ids, now).await?;
    let product = |id: i64| products.iter().find(|product| product.id == id);

    if let Some(missing) = product_ids.iter().find(|id| product(**id).is_none()) {
        return Ok(Some(ApiError::NotFound(format!("Product {missing}"))));
    }
    let unavailable: Vec<i64> = products
        .iter()
        .filter(|p| p.deleted)
        .map(|p| p.id)
        .collect();
    if !unavailable.is_empty() {
        return Ok(Some(ApiError::ProductUnavailable(unavailable)));
    }
    let shortfalls: Vec<Shortfall> = untaken
        .iter()
        .filter_map(|line| {
            let OrderableProduct {
                available_quantity, ..
            } = product(line.product_id)?;
            (*available_quantity < line.quantity).then_some(Shortfall {
                product_id: line.product_id,
                requested: line.quantity,
                available: *available_quantity,
            })
        })
        .collect();
    Ok((!shortfalls.is_empty()).then_some(ApiError::InsufficientStock(shortfalls)))
}

fn replay(stored: StoredResponse, idempotency: &Idempotency) -> Result<Placement, ApiError> {
    if stored.request_hash != idempotency.request_hash {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let order_id = serde_json::from_str::<serde_json::Value>(&stored.body)
        .ok()
        .and_then(|order| order["id"].as_str().map(str::to_string))
        .unwrap_or_default();
    Ok(Placement {
        status: stored.status,
        body: stored.body,
        order_id,
        replayed: true,
    })
}

fn may_see(principal: &Principal, order: &Order) -> bool {
    principal.role == Role::Admin || order.key_id == principal.key_id
}

/// An opaque, unguessable order id: `ord_` and 128 random bits in hex.
fn new_order_id() -> String {
    format!("ord_{}", hex(&wasi::random::random::get_random_bytes(16)))
}

fn not_found() -> ApiError {
    ApiError::NotFound("Order".into())
}
