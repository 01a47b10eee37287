//! The one route table. It reads like the API contract: method, path, handler.
//!
//! Unknown paths are 404 `NOT_FOUND`; a known path with another method is 405 with an
//! `Allow` header. Public routes (health, the spec) need no API key.

use routefinder::Router;

use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::routes::{self, Context};

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
pub const ROUTES: &[(&str, &str, Endpoint)] = &[
    ("GET", "/health", Endpoint::Public(routes::service::health)),
    (
        "GET",
        "/api/v1/openapi.yaml",
        Endpoint::Public(routes::service::openapi),
    ),
    (
        "POST",
        "/api/v1/auth/keys",
        Endpoint::Authenticated(routes::keys::create),
    ),
    (
        "GET",
        "/api/v1/auth/keys",
        Endpoint::Authenticated(routes::keys::list),
    ),
    (
        "DELETE",
        "/api/v1/auth/keys/:id",
        Endpoint::Authenticated(routes::keys::revoke),
    ),
    (
        "GET",
        "/api/v1/auth/me",
        Endpoint::Authenticated(routes::keys::me),
    ),
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
}
