//! The one route table. It reads like the API contract: method, path, handler.
//!
//! Unknown paths are 404 `NOT_FOUND`; a known path with another method is 405 with an
//! `Allow` header. Public routes (health, the spec, the token endpoint, which
//! authenticates its client itself) need no API key.
//!
//! Matching walks the table segment by segment, allocating nothing but the captured
//! parameters: the table is a constant, so nothing is built per request or per instance.
//! No two patterns can match the same path (a unit test below checks it), so the first
//! match is the only one.

use std::future::Future;
use std::pin::Pin;

use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::routes::{
    Context, keys, orders, products, reports, reservations, service, tokens, webhooks,
};

/// What a handler returns: its answer, once the future completes.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<ApiResponse, ApiError>> + 'a>>;
/// A handler for a route anyone may call: the request and its id (for the error
/// responses a handler builds itself).
pub type PublicHandler = for<'a> fn(&'a ApiRequest, &'a str) -> HandlerFuture<'a>;
/// A handler for a route that needs an authenticated principal.
pub type Handler = for<'a> fn(&'a Context<'a>) -> HandlerFuture<'a>;

/// `Public(handler)` for an `async fn(&ApiRequest, &str)`: a table of async functions needs
/// one function-pointer type, so each is wrapped in a closure that boxes its future.
macro_rules! public {
    ($handler:path) => {
        Endpoint::Public(|request, request_id| Box::pin($handler(request, request_id)))
    };
}

/// `Authenticated(handler)` for an `async fn(&Context)`; see `public!`.
macro_rules! authenticated {
    ($handler:path) => {
        Endpoint::Authenticated(|context| Box::pin($handler(context)))
    };
}

/// What a route runs.
#[derive(Clone, Copy)]
pub enum Endpoint {
    /// No API key needed.
    Public(PublicHandler),
    /// Runs after authentication and rate limiting.
    Authenticated(Handler),
}

/// Every route of the service: (method, path pattern, endpoint).
#[rustfmt::skip]
pub const ROUTES: &[(&str, &str, Endpoint)] = &[
    ("GET",    "/",                                    public!(service::root)),
    ("GET",    "/health",                              public!(service::health)),
    ("GET",    "/api/v1/openapi.yaml",                 public!(service::openapi)),
    ("POST",   "/api/v1/auth/token",                   public!(tokens::issue)),
    ("POST",   "/api/v1/auth/keys",                    authenticated!(keys::create)),
    ("GET",    "/api/v1/auth/keys",                    authenticated!(keys::list)),
    ("DELETE", "/api/v1/auth/keys/:id",                authenticated!(keys::revoke)),
    ("GET",    "/api/v1/auth/me",                      authenticated!(keys::me)),
    ("POST",   "/api/v1/products",                     authenticated!(products::create)),
    ("GET",    "/api/v1/products",                     authenticated!(products::list)),
    ("GET",    "/api/v1/products/:id",                 authenticated!(products::get)),
    ("PUT",    "/api/v1/products/:id",                 authenticated!(products::replace)),
    ("PATCH",  "/api/v1/products/:id",                 authenticated!(products::patch)),
    ("DELETE", "/api/v1/products/:id",                 authenticated!(products::delete)),
    ("POST",   "/api/v1/products/:id/restore",         authenticated!(products::restore)),
    ("PATCH",  "/api/v1/products/:id/stock",           authenticated!(products::adjust_stock)),
    ("GET",    "/api/v1/products/:id/stock-movements", authenticated!(products::stock_movements)),
    ("POST",   "/api/v1/orders",                       authenticated!(orders::create)),
    ("GET",    "/api/v1/orders",                       authenticated!(orders::list)),
    ("GET",    "/api/v1/orders/:id",                   authenticated!(orders::get)),
    ("PATCH",  "/api/v1/orders/:id/status",            authenticated!(orders::change_status)),
    ("POST",   "/api/v1/orders/:id/cancel",            authenticated!(orders::cancel)),
    ("POST",   "/api/v1/reservations",                 authenticated!(reservations::create)),
    ("GET",    "/api/v1/reservations",                 authenticated!(reservations::list)),
    ("GET",    "/api/v1/reservations/:id",             authenticated!(reservations::get)),
    ("DELETE", "/api/v1/reservations/:id",             authenticated!(reservations::release)),
    ("GET",    "/api/v1/reports/low-stock",            authenticated!(reports::low_stock)),
    ("GET",    "/api/v1/reports/sales-summary",        authenticated!(reports::sales_summary)),
    ("GET",    "/api/v1/reports/top-products",         authenticated!(reports::top_products)),
    ("GET",    "/api/v1/reports/sales-series",         authenticated!(reports::sales_series)),
    ("GET",    "/api/v1/events",                       authenticated!(webhooks::list_events)),
    ("POST",   "/api/v1/webhooks",                     authenticated!(webhooks::create)),
    ("GET",    "/api/v1/webhooks",                     authenticated!(webhooks::list)),
    ("POST",   "/api/v1/webhooks/deliveries/run",      authenticated!(webhooks::run_deliveries)),
    ("GET",    "/api/v1/webhooks/:id",                 authenticated!(webhooks::get)),
    ("PATCH",  "/api/v1/webhooks/:id",                 authenticated!(webhooks::update)),
    ("DELETE", "/api/v1/webhooks/:id",                 authenticated!(webhooks::delete)),
    ("POST",   "/api/v1/webhooks/:id/rotate-secret",   authenticated!(webhooks::rotate_secret)),
    ("GET",    "/api/v1/webhooks/:id/deliveries",      authenticated!(webhooks::list_deliveries)),
    ("POST",   "/api/v1/webhooks/:id/deliveries/:delivery_id/retry", authenticated!(webhooks::retry_delivery)),
];

/// A request matched to its endpoint, with the path parameters it captured.
pub struct RouteMatch {
    /// The endpoint to run.
    pub endpoint: Endpoint,
    /// Path parameters by name (`:id` → `("id", "42")`).
    pub params: Vec<(String, String)>,
}

/// Finds the endpoint for a method and path.
pub fn resolve(method: &str, path: &str) -> Result<RouteMatch, ApiError> {
    let pattern = matching_pattern(path).ok_or_else(|| ApiError::NotFound("Route".into()))?;
    let Some((_, _, endpoint)) = routes_of(pattern).find(|(allowed, _, _)| *allowed == method)
    else {
        return Err(ApiError::MethodNotAllowed {
            allow: routes_of(pattern).map(|(allowed, _, _)| *allowed).collect(),
        });
    };
    let params = pattern
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(segment, value)| {
            let name = segment.strip_prefix(':')?;
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    Ok(RouteMatch {
        endpoint: *endpoint,
        params,
    })
}

/// True when every route at `path` is public, so its routing errors need no API key.
pub fn is_public_path(path: &str) -> bool {
    matching_pattern(path).is_some_and(|pattern| {
        routes_of(pattern).all(|(_, _, endpoint)| matches!(endpoint, Endpoint::Public(_)))
    })
}

/// The pattern of the table that `path` matches, if any.
fn matching_pattern(path: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .map(|(_, pattern, _)| *pattern)
        .find(|pattern| pattern_matches(pattern, path))
}

/// The routes (one per method) of one pattern, in table order.
fn routes_of(
    pattern: &'static str,
) -> impl Iterator<Item = &'static (&'static str, &'static str, Endpoint)> {
    ROUTES.iter().filter(move |(_, known, _)| *known == pattern)
}

/// Whether `path` has the pattern's segments: literal ones equal, `:name` ones any
/// non-empty text.
fn pattern_matches(pattern: &str, path: &str) -> bool {
    let mut segments = pattern.split('/');
    let mut values = path.split('/');
    loop {
        match (segments.next(), values.next()) {
            (None, None) => return true,
            (Some(segment), Some(value)) if segment.starts_with(':') && !value.is_empty() => {}
            (Some(segment), Some(value)) if segment == value => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_resolves_to_itself_with_its_parameters() {
        for (method, pattern, _) in ROUTES {
            let names: Vec<&str> = pattern
                .split('/')
                .filter_map(|segment| segment.strip_prefix(':'))
                .collect();
            let path = names.iter().fold(pattern.to_string(), |path, name| {
                path.replace(&format!(":{name}"), "42")
            });
            let found = resolve(method, &path).unwrap_or_else(|_| panic!("{method} {path}"));
            let expected: Vec<(String, String)> = names
                .iter()
                .map(|name| (name.to_string(), "42".to_string()))
                .collect();
            assert_eq!(found.params, expected, "{method} {pattern}");
        }
    }

    #[test]
    fn no_two_patterns_match_the_same_path() {
        // Two patterns clash when they have as many segments and every segment pair
        // could be equal (a parameter matches anything).
        let patterns: std::collections::BTreeSet<&str> =
            ROUTES.iter().map(|(_, pattern, _)| *pattern).collect();
        for first in &patterns {
            for second in patterns.iter().filter(|second| *second > first) {
                let (a, b): (Vec<_>, Vec<_>) =
                    (first.split('/').collect(), second.split('/').collect());
                let clash = a.len() == b.len()
                    && a.iter()
                        .zip(&b)
                        .all(|(x, y)| x == y || x.starts_with(':') || y.starts_with(':'));
                assert!(!clash, "{first} and {second} can match the same path");
            }
        }
    }

    #[test]
    fn paths_match_segment_by_segment() {
        assert!(resolve("GET", "/api/v1/products/").is_err());
        assert!(resolve("GET", "/api/v1/products/42/").is_err());
        assert!(resolve("GET", "/api/v1/products//stock").is_err());
        assert!(resolve("GET", "/api/v1/products/42/stock-movements/x").is_err());
        assert!(resolve("GET", "/api/v1/product").is_err());
        assert!(resolve("GET", "//").is_err());
        assert!(resolve("GET", "").is_err());
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_are_405_with_the_allowed_list() {
        assert!(matches!(
            resolve("GET", "/nope"),
            Err(ApiError::NotFound(_))
        ));
        match resolve("PUT", "/api/v1/auth/keys") {
            Err(ApiError::MethodNotAllowed { allow }) => assert_eq!(allow, vec!["POST", "GET"]),
            _ => panic!("expected 405"),
        }
    }

    #[test]
    fn the_openapi_document_lists_exactly_the_routes_of_the_route_table() {
        use std::collections::BTreeSet;

        // A line scan of `paths:`, no YAML parser: path keys are indented 2 spaces and
        // start with `/`; operations are indented 4 spaces under them.
        let document = include_str!("../swagger.yaml");
        let mut documented = BTreeSet::new();
        let mut in_paths = false;
        let mut current_path: Option<&str> = None;
        for line in document.lines() {
            let text = line.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            if indent == 0 {
                in_paths = text == "paths:";
                current_path = None;
                continue;
            }
            if !in_paths {
                continue;
            }
            if indent == 2 {
                current_path = text.strip_suffix(':').filter(|path| path.starts_with('/'));
                continue;
            }
            let operation = ["get", "post", "put", "patch", "delete"]
                .into_iter()
                .find(|method| text.strip_suffix(':') == Some(*method));
            if let (4, Some(path), Some(method)) = (indent, current_path, operation) {
                documented.insert((method.to_uppercase(), path.to_string()));
            }
        }

        let routed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(method, pattern, _)| {
                let path = pattern
                    .split('/')
                    .map(|segment| match segment.strip_prefix(':') {
                        Some(name) => format!("{{{name}}}"),
                        None => segment.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                (method.to_string(), path)
            })
            .collect();

        let missing: Vec<_> = routed.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "swagger.yaml and ROUTES disagree.\n\
             In ROUTES but not in swagger.yaml: {missing:?}\n\
             In swagger.yaml but not in ROUTES: {extra:?}"
        );
    }
}
