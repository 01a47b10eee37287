//! Thin HTTP handlers, one file per resource: decode the request, call a service,
//! encode the answer. `Context` is everything an authenticated handler may use.

pub mod keys;
pub mod orders;
pub mod products;
pub mod reports;
pub mod reservations;
pub mod service;
pub mod tokens;
pub mod webhooks;

use serde::Serialize;

use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse, Query};
use crate::models::cursor::Cursor;
use crate::models::page::{Page, PageLimit};
use crate::models::principal::{Action, Principal};
use crate::models::time::Timestamp;
use crate::store::Db;
use crate::store::counters::Counters;

/// What an authenticated handler gets: the request, its path parameters, the caller,
/// the request's database connection, the key-value store and the request's clock reading.
pub struct Context<'a> {
    /// The request, body included.
    pub request: &'a ApiRequest,
    /// Path parameters captured by the route.
    pub params: &'a [(String, String)],
    /// The authenticated caller.
    pub principal: &'a Principal,
    /// This request's database connection.
    pub db: &'a Db,
    /// The instance's handle on the key-value store (rate-limit counters; revocation
    /// bars them).
    pub counters: &'a Counters,
    /// The time the request arrived; services take time as a parameter.
    pub now: Timestamp,
}

impl Context<'_> {
    /// The caller, if its role allows `action`; otherwise 403.
    pub fn authorize(&self, action: Action) -> Result<&Principal, ApiError> {
        if self.principal.may(action) {
            Ok(self.principal)
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// An integer id from the path. A path that cannot name a resource is 404.
    pub fn path_id(&self, name: &str, resource: &str) -> Result<i64, ApiError> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.parse::<i64>().ok())
            .filter(|id| *id > 0)
            .ok_or_else(|| ApiError::NotFound(resource.into()))
    }

    /// A text parameter from the path (e.g. an order's opaque id).
    pub fn path_text(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// The decoded query string.
    pub fn query(&self) -> Query {
        Query::parse(&self.request.query)
    }
}

/// `?limit=` and `?cursor=` of a list request.
pub fn page_request(query: &Query) -> Result<(PageLimit, Option<Cursor>), ApiError> {
    let limit = query
        .parsed("limit", PageLimit::parse)?
        .unwrap_or(PageLimit::DEFAULT);
    let cursor = query.parsed("cursor", Cursor::decode)?;
    Ok((limit, cursor))
}

/// The id position of an id-ordered list (0 = start).
pub fn cursor_id(cursor: Option<Cursor>) -> Result<i64, ApiError> {
    cursor.map_or(Ok(0), |cursor| {
        cursor
            .id()
            .map_err(|message| ApiError::validation("cursor", message))
    })
}

/// A JSON array response for one page, with `Link: <…>; rel="next"` (RFC 8288) when more
/// rows exist. The link repeats the request's own filters with the new cursor.
pub fn page_response<T: Serialize>(request: &ApiRequest, page: Page<T>) -> ApiResponse {
    let response = ApiResponse::json(200, &page.items);
    let Some(next) = page.next else {
        return response;
    };
    let mut parameters = Query::parse(&request.query).encoded_without("cursor");
    parameters.push(format!("cursor={}", next.encode()));
    let link = format!("<{}?{}>; rel=\"next\"", request.path, parameters.join("&"));
    response.with_header("Link", link)
}
