//! The one route table. It reads like the API contract: method, path, handler.
//!
//! Unknown paths are 404 `NOT_FOUND`; a known path with another method is 405 with an
//! `Allow` header. Public routes (health, the spec) need no API key.

use routefinder::Router;

use self::Endpoint::{Authenticated, Public};
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::routes::{Context, keys, orders, products, reports, service};

/// A handler for a route anyone may call.
pub type PublicHandler = fn(&ApiRequest) -> Result<ApiResponse, ApiError>;
/// A handler for a route that needs an authenticated principal.
pub type Handler = fn(&Context) -> Result<ApiResponse, ApiError>;

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
    ("GET",    "/health",                              Public(service::health)),
    ("GET",    "/api/v1/openapi.yaml",                 Public(service::openapi)),
    ("POST",   "/api/v1/auth/keys",                    Authenticated(keys::create)),
    ("GET",    "/api/v1/auth/keys",                    Authenticated(keys::list)),
    ("DELETE", "/api/v1/auth/keys/:id",                Authenticated(keys::revoke)),
    ("GET",    "/api/v1/auth/me",                      Authenticated(keys::me)),
    ("POST",   "/api/v1/products",                     Authenticated(products::create)),
    ("GET",    "/api/v1/products",                     Authenticated(products::list)),
    ("GET",    "/api/v1/products/:id",                 Authenticated(products::get)),
    ("PUT",    "/api/v1/products/:id",                 Authenticated(products::replace)),
    ("PATCH",  "/api/v1/products/:id",                 Authenticated(products::patch)),
    ("DELETE", "/api/v1/products/:id",                 Authenticated(products::delete)),
    ("POST",   "/api/v1/products/:id/restore",         Authenticated(products::restore)),
    ("PATCH",  "/api/v1/products/:id/stock",           Authenticated(products::adjust_stock)),
    ("GET",    "/api/v1/products/:id/stock-movements", Authenticated(products::stock_movements)),
    ("POST",   "/api/v1/orders",                       Authenticated(orders::create)),
    ("GET",    "/api/v1/orders",                       Authenticated(orders::list)),
    ("GET",    "/api/v1/orders/:id",                   Authenticated(orders::get)),
    ("PATCH",  "/api/v1/orders/:id/status",            Authenticated(orders::change_status)),
    ("POST",   "/api/v1/orders/:id/cancel",            Authenticated(orders::cancel)),
    ("GET",    "/api/v1/reports/low-stock",            Authenticated(reports::low_stock)),
    ("GET",    "/api/v1/reports/sales-summary",        Authenticated(reports::sales_summary)),
    ("GET",    "/api/v1/reports/top-products",         Authenticated(reports::top_products)),
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
    let router = build_router()?;
    let found = router
        .best_match(path)
        .ok_or_else(|| ApiError::NotFound("Route".into()))?;
    let methods = found.handler();
    let Some((_, endpoint)) = methods.iter().find(|(allowed, _)| *allowed == method) else {
        return Err(ApiError::MethodNotAllowed {
            allow: methods.iter().map(|(allowed, _)| *allowed).collect(),
        });
    };
    let params = found
        .captures()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    Ok(RouteMatch {
        endpoint: *endpoint,
        params,
    })
}

/// True when every route at `path` is public, so its routing errors need no API key.
pub fn is_public_path(path: &str) -> bool {
    let Ok(router) = build_router() else {
        return false;
    };
    router.best_match(path).is_some_and(|found| {
        found
            .handler()
            .iter()
            .all(|(_, endpoint)| matches!(endpoint, Public(_)))
    })
}

/// Groups `ROUTES` by path pattern into a routefinder table.
fn build_router() -> Result<Router<Vec<(&'static str, Endpoint)>>, ApiError> {
    let mut by_pattern: Vec<(&str, Vec<(&'static str, Endpoint)>)> = Vec::new();
    for (method, pattern, endpoint) in ROUTES {
        match by_pattern.iter_mut().find(|(known, _)| known == pattern) {
            Some((_, methods)) => methods.push((method, *endpoint)),
            None => by_pattern.push((pattern, vec![(method, *endpoint)])),
        }
    }
    let mut router = Router::new();
    for (pattern, methods) in by_pattern {
        router
            .add(pattern, methods)
            .map_err(|error| anyhow::anyhow!("route pattern {pattern}: {error}"))?;
    }
    Ok(router)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_resolves_to_itself_with_its_parameters() {
        for (method, pattern, _) in ROUTES {
            let path = pattern.replace(":id", "42");
            let found = resolve(method, &path).unwrap_or_else(|_| panic!("{method} {path}"));
            if pattern.contains(":id") {
                assert_eq!(found.params, vec![("id".to_string(), "42".to_string())]);
            }
        }
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
