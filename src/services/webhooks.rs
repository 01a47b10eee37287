//! Webhook endpoints and deliveries: managing endpoints, and sending due deliveries,
//! signed as Standard Webhooks prescribes, at least once.
//!
//! Deliveries are rows written with their event (`services::events`). A worker claims a
//! batch of due ones with a lease (`store::webhooks::claim_due`), sends them, and settles
//! every attempt in one transaction: success, the next attempt on the retry schedule, or
//! failed. A worker that dies mid-batch loses nothing: its lease runs out and the
//! deliveries are due again (the receiver may then see an event twice, with the same
//! `webhook-id`, which is what "at least once" means).
//!
//! Workers run (a) right after the response of a request that made deliveries due, in a
//! task the handler spawns (`start_after_response`), which Spin keeps running while the
//! instance lives; (b) on `POST /api/v1/webhooks/deliveries/run`, for a scheduler.

use std::cell::Cell;
use std::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::error::ApiError;
use crate::http::outbound::{self, Outcome};
use crate::models::encoding::hex;
use crate::models::page::{Page, PageLimit};
use crate::models::time::Timestamp;
use crate::models::webhook::{
    DeliveryStatus, RetrySchedule, SigningSecret, Subscription, WebhookUrl,
};
use crate::services::events::RETENTION_MILLIS;
use crate::store::events;
use crate::store::webhooks::{
    self, AttemptOutcome, ClaimedDelivery, Delivery, Endpoint, EndpointFields,
};
use crate::store::{Db, StoreError};

/// How long a receiver may take to answer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a claim keeps other workers off a delivery: longer than a batch can take
/// (its sends run concurrently, each at most `ATTEMPT_TIMEOUT`).
const LEASE_MILLIS: i64 = 30_000;
/// Deliveries claimed at once.
const BATCH: u32 = 50;
/// How long the after-response worker lets due deliveries gather before each claim:
/// under a stream of orders it then claims and settles them in batches, taking the
/// database's write lock twice per batch rather than twice per delivery.
const GATHER: Duration = Duration::from_millis(100);
/// Deliveries one run of the scheduler's endpoint attempts at most.
const RUN_LIMIT: usize = 200;

/// A new endpoint's fields, parsed.
pub struct NewEndpoint {
    /// Where deliveries go.
    pub url: WebhookUrl,
    /// What it receives.
    pub events: Subscription,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// The operator's note.
    pub description: Option<String>,
}

/// A partial update of an endpoint (`PATCH`): only the fields given.
#[derive(Default)]
pub struct EndpointPatch {
    /// A new URL.
    pub url: Option<WebhookUrl>,
    /// New event types.
    pub events: Option<Subscription>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// A new note (`Some(None)` clears it).
    pub description: Option<Option<String>>,
}

/// An endpoint with its secret: the answer to creation and rotation, the only times the
/// secret is shown.
#[derive(Serialize)]
pub struct EndpointWithSecret {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// Its signing secret (`whsec_…`).
    pub secret: String,
}

/// What a run of due deliveries did.
#[derive(Debug, Default, Serialize)]
pub struct RunSummary {
    /// Attempts made.
    pub attempted: usize,
    /// Attempts answered 2xx.
    pub succeeded: usize,
    /// Attempts that failed (retried later, or given up).
    pub failed: usize,
}

fn new_secret() -> SigningSecret {
    SigningSecret::from_random(&wasi::random::random::get_random_bytes(32))
}

fn not_found() -> ApiError {
    ApiError::NotFound("Webhook endpoint".into())
}

/// Creates an endpoint with a new secret.
pub async fn create(
    db: &Db,
    new: NewEndpoint,
    now: Timestamp,
) -> Result<EndpointWithSecret, ApiError> {
    let now = now.to_string();
    let secret = new_secret();
    let fields = EndpointFields {
        url: new.url.as_str(),
        events: &new.events,
        enabled: new.enabled,
        description: new.description.as_deref(),
    };
    let endpoint = db
        .transaction(async |db| {
            let id = webhooks::insert_endpoint(db, &fields, &secret, &now).await?;
            get(db, id).await
        })
        .await?;
    Ok(EndpointWithSecret {
        endpoint,
        secret: secret.as_str().into(),
    })
}

/// One endpoint.
pub async fn get(db: &Db, id: i64) -> Result<Endpoint, ApiError> {
    webhooks::find_endpoint(db, id).await?.ok_or_else(not_found)
}

/// One page of endpoints, oldest first.
pub async fn list(db: &Db, after_id: i64, limit: PageLimit) -> Result<Page<Endpoint>, ApiError> {
    let rows = webhooks::list_endpoints(db, after_id, limit.fetch_count()).await?;
    Ok(Page::from_rows(rows, limit, |endpoint| {
        vec![endpoint.id.into()]
    }))
}

/// Changes the fields a patch names.
pub async fn update(
    db: &Db,
    id: i64,
    patch: EndpointPatch,
    now: Timestamp,
) -> Result<Endpoint, ApiError> {
    let now = now.to_string();
    db.transaction(async |db| {
        let current = get(db, id).await?;
        let url = patch
            .url
            .as_ref()
            .map_or(current.url.as_str(), WebhookUrl::as_str);
        let events = patch.events.as_ref().unwrap_or(&current.events);
        let description = match &patch.description {
            Some(description) => description.as_deref(),
            None => current.description.as_deref(),
        };
        let fields = EndpointFields {
            url,
            events,
            enabled: patch.enabled.unwrap_or(current.enabled),
            description,
        };
        webhooks::update_endpoint(db, id, &fields, &now).await?;
        get(db, id).await
    })
    .await
}

/// Deletes an endpoint; its pending deliveries are never sent.
pub async fn delete(db: &Db, id: i64) -> Result<(), ApiError> {
    if db
        .transaction(async |db| webhooks::delete_endpoint(db, id).await)
        .await?
    {
        Ok(())
    } else {
        Err(not_found())
    }
}

/// Replaces an endpoint's secret: deliveries are signed with the new one from now on.
pub async fn rotate_secret(
    db: &Db,
    id: i64,
    now: Timestamp,
) -> Result<EndpointWithSecret, ApiError> {
    let secret = new_secret();
    let now = now.to_string();
    let endpoint = db
        .transaction(async |db| {
            if !webhooks::set_secret(db, id, &secret, &now).await? {
                return Err(not_found());
            }
            get(db, id).await
        })
        .await?;
    Ok(EndpointWithSecret {
        endpoint,
        secret: secret.as_str().into(),
    })
}

/// One page of an endpoint's deliveries, newest first.
pub async fn deliveries(
    db: &Db,
    endpoint_id: i64,
    status: Option<DeliveryStatus>,
    before_id: Option<i64>,
    limit: PageLimit,
) -> Result<Page<Delivery>, ApiError> {
    get(db, endpoint_id).await?;
    let rows =
        webhooks::list_deliveries(db, endpoint_id, status, before_id, limit.fetch_count()).await?;
    Ok(Page::from_rows(rows, limit, |delivery| {
        vec![delivery.id.into()]
    }))
}

/// Makes a delivery due again now (a manual redelivery), whatever its status.
pub async fn redeliver(
    db: &Db,
    endpoint_id: i64,
    delivery_id: i64,
    now: Timestamp,
) -> Result<Delivery, ApiError> {
    // A delivery being sent right now stays as it is (its attempt is under way).
    let now = now.to_string();
    db.transaction(async |db| {
        webhooks::make_due(db, endpoint_id, delivery_id, &now).await?;
        webhooks::find_delivery(db, endpoint_id, delivery_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("Delivery".into()))
    })
    .await
}

/// Sends due deliveries until none is due or `RUN_LIMIT` were attempted (the
/// scheduler's endpoint), then deletes a batch of expired events.
pub async fn run_due(db: &Db) -> Result<RunSummary, ApiError> {
    let summary = run_batches(db, None).await?;
    delete_expired_events(db).await?;
    Ok(summary)
}

/// Runs batches until one finds nothing due or `RUN_LIMIT` deliveries were attempted,
/// waiting `gather` before each claim.
async fn run_batches(db: &Db, gather: Option<Duration>) -> Result<RunSummary, ApiError> {
    let mut summary = RunSummary::default();
    while summary.attempted < RUN_LIMIT {
        if let Some(gather) = gather {
            let nanos = u64::try_from(gather.as_nanos()).unwrap_or(u64::MAX);
            spin_sdk::wasip3::clocks::monotonic_clock::wait_for(nanos).await;
        }
        let batch = run_batch(db).await?;
        if batch.attempted == 0 {
            break;
        }
        summary.attempted += batch.attempted;
        summary.succeeded += batch.succeeded;
        summary.failed += batch.failed;
    }
    Ok(summary)
}

/// Whether this instance runs its after-response delivery task. One is enough, as it
/// loops until nothing is due; but a request that commits deliveries after the task's
/// last claim found nothing must make it look once more, or those deliveries would wait
/// for the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Worker {
    /// No task runs.
    Idle,
    /// A task runs.
    Running,
    /// A task runs, and deliveries were committed since it started its current round.
    RunAgain,
}

impl Worker {
    /// A request committed deliveries: the next state, and whether to start a task.
    fn on_deliveries(self) -> (Self, bool) {
        match self {
            Self::Idle => (Self::Running, true),
            Self::Running | Self::RunAgain => (Self::RunAgain, false),
        }
    }

    /// The task finished a round: the next state, and whether to run another round.
    fn on_round_done(self) -> (Self, bool) {
        match self {
            Self::RunAgain => (Self::Running, true),
            Self::Idle | Self::Running => (Self::Idle, false),
        }
    }
}

thread_local! {
    // Per instance, and no request's data (ARCHITECTURE.md, "What survives a request").
    static WORKER: Cell<Worker> = const { Cell::new(Worker::Idle) };
}

/// Starts sending due deliveries in a task that outlives the request, unless this
/// instance already runs one (which then looks again). Spin keeps the task running while
/// the instance lives (it drops an instance 1 s after its last request by default):
/// whatever the task cannot finish is due again when its lease runs out.
pub fn start_after_response() {
    let (next, start) = WORKER.get().on_deliveries();
    WORKER.set(next);
    if !start {
        return;
    }
    spin_sdk::wasip3::spawn(async {
        loop {
            if let Err(error) = run_after_response().await {
                eprintln!("webhook delivery run failed: {error:?}");
            }
            // No await between reading and setting the state: no request of this
            // instance can run in between.
            let (next, again) = WORKER.get().on_round_done();
            WORKER.set(next);
            if !again {
                return;
            }
        }
    });
}

async fn run_after_response() -> Result<(), ApiError> {
    let db = Db::open().await?;
    run_batches(&db, Some(GATHER)).await?;
    // Retention, also without a scheduler: about one run in 64 deletes a batch of expired
    // events.
    if wasi::random::insecure::get_insecure_random_u64().is_multiple_of(64) {
        delete_expired_events(&db).await?;
    }
    Ok(())
}

/// Claims a batch of due deliveries, sends them concurrently, and settles them.
async fn run_batch(db: &Db) -> Result<RunSummary, ApiError> {
    let now = Timestamp::now();
    let lease_token = hex(&wasi::random::random::get_random_bytes(16));
    let lease_until = Timestamp::from_unix_millis(now.unix_millis() + LEASE_MILLIS).to_string();
    let now_text = now.to_string();
    let claimed = db
        .transaction(async |db| {
            webhooks::claim_due(db, BATCH, &lease_token, &lease_until, &now_text).await
        })
        .await?;
    if claimed.is_empty() {
        return Ok(RunSummary::default());
    }
    let attempts = futures::future::join_all(claimed.iter().map(send)).await;
    let schedule = Config.webhook_retry_schedule().await?;
    let settled_at = Timestamp::now();
    let settlements: Vec<Settlement> = claimed
        .iter()
        .zip(attempts)
        .map(|(delivery, attempt)| Settlement::of(delivery, attempt, &schedule, settled_at))
        .collect();
    let outcomes: Vec<AttemptOutcome> = settlements.iter().map(Settlement::outcome).collect();
    let settled_text = settled_at.to_string();
    db.transaction(async |db| {
        webhooks::settle_attempts(db, &outcomes, &lease_token, &settled_text).await
    })
    .await?;
    settlements.iter().for_each(Settlement::log);
    let succeeded = settlements
        .iter()
        .filter(|settlement| settlement.status == DeliveryStatus::Succeeded)
        .count();
    Ok(RunSummary {
        attempted: settlements.len(),
        succeeded,
        failed: settlements.len() - succeeded,
    })
}

/// Retention: events older than `RETENTION_MILLIS` whose deliveries are settled.
async fn delete_expired_events(db: &Db) -> Result<(), StoreError> {
    let cutoff = Timestamp::from_unix_millis(Timestamp::now().unix_millis() - RETENTION_MILLIS);
    let cutoff = cutoff.to_string();
    db.transaction(async |db| events::delete_older_than(db, &cutoff).await)
        .await
}

/// One attempt as sent: when it started, how long it took, what came back.
struct Attempt {
    started_at: Timestamp,
    duration_ms: i64,
    outcome: Outcome,
}

/// Sends one delivery: the event as the body, signed with the endpoint's secret.
async fn send(delivery: &ClaimedDelivery) -> Attempt {
    let started_at = Timestamp::now();
    let started = std::time::Instant::now();
    let body = event_body(delivery);
    let timestamp = started_at.unix_seconds();
    let headers = [
        ("content-type", "application/json".to_string()),
        ("user-agent", "inventory-api-webhooks/1".to_string()),
        ("webhook-id", delivery.event_id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            delivery.secret.sign(&delivery.event_id, timestamp, &body),
        ),
    ];
    let outcome = outbound::post(&delivery.url, &headers, body, ATTEMPT_TIMEOUT).await;
    Attempt {
        started_at,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        outcome,
    }
}

/// The event as JSON: `{id, type, created_at, data}` (`data` as stored, byte for byte).
fn event_body(delivery: &ClaimedDelivery) -> String {
    // The id, type and time are our own ASCII; `data` is JSON we wrote.
    format!(
        r#"{{"id":{},"type":{},"created_at":{},"data":{}}}"#,
        serde_json::Value::from(delivery.event_id.as_str()),
        serde_json::Value::from(delivery.event_type.as_str()),
        serde_json::Value::from(delivery.event_created_at.as_str()),
        delivery.data
    )
}

/// How an attempt settles its delivery.
struct Settlement {
    delivery_id: i64,
    status: DeliveryStatus,
    next_attempt_at: Option<String>,
    status_code: Option<i64>,
    error: Option<String>,
    started_at: String,
    duration_ms: i64,
    attempt: i64,
    url_host: String,
}

impl Settlement {
    fn of(
        delivery: &ClaimedDelivery,
        attempt: Attempt,
        schedule: &RetrySchedule,
        settled_at: Timestamp,
    ) -> Self {
        let number = delivery.attempts + 1;
        let (succeeded, status_code, error) = match attempt.outcome {
            Outcome::Answered(code) if (200..300).contains(&code) => (true, Some(code), None),
            Outcome::Answered(code) => (
                false,
                Some(code),
                Some(format!("the receiver answered {code}")),
            ),
            Outcome::Failed(reason) => (false, None, Some(reason)),
        };
        let next_attempt_at = (!succeeded)
            .then(|| schedule.delay_after(number))
            .flatten()
            .map(|delay| {
                let random = wasi::random::insecure::get_insecure_random_u64();
                let jittered = RetrySchedule::jittered(delay, random);
                Timestamp::from_unix_millis(
                    settled_at.unix_millis() + i64::try_from(jittered).unwrap_or(i64::MAX / 2),
                )
                .to_string()
            });
        let status = match (succeeded, &next_attempt_at) {
            (true, _) => DeliveryStatus::Succeeded,
            (false, Some(_)) => DeliveryStatus::Pending,
            (false, None) => DeliveryStatus::Failed,
        };
        Self {
            delivery_id: delivery.id,
            status,
            next_attempt_at,
            status_code: status_code.map(i64::from),
            error,
            started_at: attempt.started_at.to_string(),
            duration_ms: attempt.duration_ms,
            attempt: number,
            url_host: host_for_log(&delivery.url),
        }
    }

    /// The attempt as the store settles and logs it.
    fn outcome(&self) -> AttemptOutcome<'_> {
        AttemptOutcome {
            delivery_id: self.delivery_id,
            attempt: self.attempt,
            status: self.status.as_str(),
            next_attempt_at: self.next_attempt_at.as_deref(),
            status_code: self.status_code,
            error: self.error.as_deref(),
            started_at: &self.started_at,
            duration_ms: self.duration_ms,
        }
    }

    /// One JSON line per attempt on stdout, next to the access log. It names the
    /// receiver's host, not its URL (which may carry a token in its path or query).
    fn log(&self) {
        let line = serde_json::json!({
            "ts": Timestamp::now().to_string(),
            "level": if self.status == DeliveryStatus::Succeeded { "info" } else { "warn" },
            "webhook_delivery": self.delivery_id,
            "attempt": self.attempt,
            "host": self.url_host,
            "status": self.status.as_str(),
            "status_code": self.status_code,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "next_attempt_at": self.next_attempt_at,
        });
        println!("{line}");
    }
}

fn host_for_log(url: &str) -> String {
    url.split_once("://")
        .map_or("", |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::Worker;

    #[test]
    fn deliveries_committed_during_a_round_make_the_worker_look_again() {
        let (running, start) = Worker::Idle.on_deliveries();
        assert_eq!((running, start), (Worker::Running, true));
        // Finished with nothing new: idle.
        assert_eq!(running.on_round_done(), (Worker::Idle, false));
        // Deliveries committed while it ran: no second task, one more round.
        let (again, start) = running.on_deliveries();
        assert_eq!((again, start), (Worker::RunAgain, false));
        assert_eq!(again.on_deliveries(), (Worker::RunAgain, false));
        assert_eq!(again.on_round_done(), (Worker::Running, true));
    }
}
