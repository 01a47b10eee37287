//! Inventory & Orders API: a Spin HTTP component (WASIp3).
//!
//! This file is the Spin entry point and chains the pipeline every request passes:
//! request id → body (size-capped) → route → authentication → rate limit → handler,
//! then the access-log line. Each step lives in its own module; see ARCHITECTURE.md.
//!
//! Spin 4 reuses a WASIp3 instance for up to 128 requests, 16 of them at once, so this
//! code is re-entrant: everything a request computes lives in this function's frame and
//! what it calls; the only per-instance state is the pool of idle database connections
//! and the counter store's handle (`store/`), which hold no request's data.

mod config;
mod error;
mod http;
mod middleware;
mod models;
mod router;
mod routes;
mod services;
mod store;

use std::time::Instant;

use spin_sdk::http::{FullBody, Request};
use spin_sdk::http_service;

use crate::config::Config;
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::middleware::{access_log, auth, rate_limit, request_id};
use crate::models::time::Timestamp;
use crate::router::{Endpoint, RouteMatch};
use crate::routes::Context;
use crate::store::Db;
use crate::store::counters::Counters;

/// The component's HTTP handler.
#[http_service]
async fn handle(incoming: Request) -> ::http::Response<FullBody<bytes::Bytes>> {
    let started = Instant::now();
    let now = Timestamp::now();
    let (head, body) = incoming.into_parts();
    let mut request = http::read_head(&head);
    let request_id = request_id::for_request(&request);

    let mut key_id = None;
    let mut deliveries_due = false;
    let response = match http::read_body(body, &mut request).await {
        Ok(()) => serve(&request, now, &request_id, &mut key_id, &mut deliveries_due).await,
        Err(error) => error.into_response(&request_id),
    }
    .with_header("X-Request-Id", request_id.clone());

    access_log::write(&access_log::AccessRecord {
        at: now,
        request_id: &request_id,
        method: &request.method,
        path: &request.path,
        status: response.status,
        duration_micros: started.elapsed().as_micros(),
        key_id,
    });
    if deliveries_due {
        // The request recorded events with subscribers: send them once it has answered.
        services::webhooks::start_after_response();
    }
    into_spin_response(response)
}

/// Routes the request; public endpoints run at once, the rest after authentication and
/// rate limiting. Every authenticated response carries the rate-limit headers.
/// `deliveries_due` says whether the request committed webhook deliveries.
async fn serve(
    request: &ApiRequest,
    now: Timestamp,
    request_id: &str,
    key_id: &mut Option<i64>,
    deliveries_due: &mut bool,
) -> ApiResponse {
    let route = match router::resolve(&request.method, &request.path) {
        Ok(RouteMatch {
            endpoint: Endpoint::Public(handler),
            ..
        }) => {
            return handler(request, request_id)
                .await
                .unwrap_or_else(|error| error.into_response(request_id));
        }
        // A wrong method on a public path (e.g. `HEAD /health`) is a plain 405.
        Err(error) if router::is_public_path(&request.path) => {
            return error.into_response(request_id);
        }
        other => other,
    };
    let mut quota = None;
    let outcome = async {
        let config = Config;
        let db = Db::open().await?;
        let counters = Counters::open().await?;
        let principal = auth::authenticate(request, &db, &counters, config, now).await?;
        *key_id = Some(principal.key_id);
        let granted = rate_limit::enforce(&counters, &principal, config, now).await?;
        auth::refuse_if_barred(request, &counters, config, now, &granted).await?;
        quota = Some(granted);
        if !granted.allowed {
            return Err(rate_limit::rejection(&granted));
        }
        let RouteMatch { endpoint, params } = route?;
        // Any body sent to any endpoint must be JSON, even where the body is ignored
        // (cancel, restore, delete).
        http::ensure_json_media_type(request)?;
        let Endpoint::Authenticated(handler) = endpoint else {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "public route after auth"
            )));
        };
        let answer = handler(&Context {
            request,
            params: &params,
            principal: &principal,
            db: &db,
            counters: &counters,
            now,
        })
        .await;
        *deliveries_due = db.made_deliveries_due();
        answer
    }
    .await;
    let response = outcome.unwrap_or_else(|error| error.into_response(request_id));
    match quota {
        Some(quota) => response.with_headers(rate_limit::headers(&quota)),
        None => response,
    }
}

fn into_spin_response(response: ApiResponse) -> ::http::Response<FullBody<bytes::Bytes>> {
    let mut builder = ::http::Response::builder().status(response.status);
    for (name, value) in response.headers {
        builder = builder.header(name, value);
    }
    let body = FullBody::new(bytes::Bytes::from(response.body));
    builder.body(body).unwrap_or_else(|error| {
        // Only a status or header the app built wrongly can fail here: a bug, logged,
        // answered with a bare 500 rather than a trap that would end the instance and
        // every request it is serving.
        eprintln!("building the response failed: {error}");
        let mut fallback = ::http::Response::new(FullBody::new(bytes::Bytes::new()));
        *fallback.status_mut() = ::http::StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}
