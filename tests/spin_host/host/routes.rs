//! Spin's HTTP routing: which trigger's component serves a path, and what the `spin-*`
//! request headers say about the match.
//!
//! Written from Spin 4's behaviour (its `spin-routes` crate): a route is exact (`/health`)
//! or a trailing wildcard (`/console/...`, which also matches `/console` itself); an exact
//! match beats any wildcard and among wildcards the longest prefix (most segments) wins,
//! so `/console/...` takes `/console/app.js` from the catch-all `/...`. One trailing slash
//! of a route is ignored, as Spin does. Parameter routes (`/:name`, `/*`) are refused:
//! nothing here uses them.

use anyhow::bail;

/// A `[[trigger.http]] route`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The route as the manifest writes it.
    raw: String,
    kind: RouteKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RouteKind {
    /// Matches exactly this path (no trailing slash; the root is `""`).
    Exact(String),
    /// Matches this prefix and anything below it (`/console/...` → `/console`; the
    /// catch-all `/...` → `""`).
    Wildcard(String),
}

impl Route {
    /// Parses a manifest route.
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let absolute = if raw.starts_with('/') {
            raw.to_owned()
        } else {
            format!("/{raw}")
        };
        let based = absolute.strip_suffix('/').unwrap_or(&absolute);
        let kind = match based.strip_suffix("/...") {
            Some(prefix) => RouteKind::Wildcard(prefix.to_owned()),
            None => RouteKind::Exact(based.to_owned()),
        };
        let (RouteKind::Exact(path) | RouteKind::Wildcard(path)) = &kind;
        if path
            .split('/')
            .any(|segment| segment.starts_with(':') || segment == "*" || segment == "...")
        {
            bail!("route {raw:?}: parameter and `*` routes are not supported by the test host");
        }
        Ok(Self {
            raw: raw.to_owned(),
            kind,
        })
    }

    /// The route as written in the manifest.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Whether this is the catch-all route `/...`.
    pub fn is_catch_all(&self) -> bool {
        self.kind == RouteKind::Wildcard(String::new())
    }

    /// The part of `path` this route matches beyond its prefix (Spin's `spin-path-info`),
    /// or `None` if the route does not match `path`.
    fn path_info<'path>(&self, path: &'path str) -> Option<&'path str> {
        match &self.kind {
            RouteKind::Exact(exact) => {
                let path = path.strip_suffix('/').unwrap_or(path);
                (path == exact).then_some("")
            }
            RouteKind::Wildcard(prefix) => {
                let rest = path.strip_prefix(prefix.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then_some(rest)
            }
        }
    }

    /// How specific a match is: exact routes first, then wildcards by prefix length in
    /// segments.
    fn specificity(&self) -> (bool, usize) {
        match &self.kind {
            RouteKind::Exact(path) => (true, segments(path)),
            RouteKind::Wildcard(prefix) => (false, segments(prefix)),
        }
    }

    /// Spin's `spin-matched-route`: the route with its trailing slash removed.
    fn matched_route(&self) -> String {
        match &self.kind {
            RouteKind::Exact(path) => path.clone(),
            RouteKind::Wildcard(prefix) => format!("{prefix}/..."),
        }
    }
}

fn segments(path: &str) -> usize {
    path.split('/')
        .filter(|segment| !segment.is_empty())
        .count()
}

/// Routes and what serves each.
pub struct Router<T> {
    routes: Vec<(Route, T)>,
}

/// The route a request matched, and the headers Spin derives from it.
pub struct RouteMatch<'router, 'path> {
    route: &'router Route,
    path_info: &'path str,
}

impl<T> Router<T> {
    /// A router over `routes` (distinct routes; the manifest loader checks that).
    pub fn new(routes: Vec<(Route, T)>) -> Self {
        Self { routes }
    }

    /// The most specific route matching `path` (the raw, still percent-encoded path).
    pub fn route<'router, 'path>(
        &'router self,
        path: &'path str,
    ) -> Option<(&'router T, RouteMatch<'router, 'path>)> {
        self.routes
            .iter()
            .filter_map(|(route, target)| Some((route, target, route.path_info(path)?)))
            .max_by_key(|(route, _, _)| route.specificity())
            .map(|(route, target, path_info)| (target, RouteMatch { route, path_info }))
    }
}

impl RouteMatch<'_, '_> {
    /// Spin's route headers, in Spin's order around `spin-full-url` (which needs the
    /// request): `spin-path-info`, then after the URL `spin-matched-route`,
    /// `spin-base-path`, `spin-raw-component-route`, `spin-component-route`.
    pub fn headers(&self) -> RouteHeaders {
        let raw = self.route.raw();
        RouteHeaders {
            path_info: self.path_info.to_owned(),
            matched_route: self.route.matched_route(),
            base_path: "/".to_owned(),
            raw_component_route: raw.to_owned(),
            component_route: raw.strip_suffix("/...").unwrap_or(raw).to_owned(),
        }
    }
}

/// The values of the route-dependent `spin-*` request headers.
pub struct RouteHeaders {
    /// `spin-path-info`: the path below the route's prefix (`""` for an exact route).
    pub path_info: String,
    /// `spin-matched-route`.
    pub matched_route: String,
    /// `spin-base-path`: always `/` (manifest v2 has no base).
    pub base_path: String,
    /// `spin-raw-component-route`: the route as the manifest writes it.
    pub raw_component_route: String,
    /// `spin-component-route`: the route without its `/...`.
    pub component_route: String,
}

#[cfg(test)]
mod tests {
    use super::{Route, Router};

    fn router(routes: &[&str]) -> Router<&'static str> {
        let routes = routes
            .iter()
            .map(|raw| {
                let raw: &'static str = raw.to_string().leak();
                (Route::parse(raw).unwrap(), raw)
            })
            .collect();
        Router::new(routes)
    }

    /// (route that serves the path, spin-path-info).
    fn served(router: &Router<&'static str>, path: &str) -> Option<(&'static str, String)> {
        router
            .route(path)
            .map(|(target, matched)| (*target, matched.headers().path_info))
    }

    #[test]
    fn the_longest_wildcard_prefix_wins_and_exact_routes_beat_wildcards() {
        let router = router(&["/...", "/console/...", "/console/js/...", "/health"]);
        let cases = [
            ("/", "/...", "/"),
            ("/api/v1/products", "/...", "/api/v1/products"),
            ("/health", "/health", ""),
            ("/health/", "/health", ""),
            ("/health/x", "/...", "/health/x"),
            ("/console", "/console/...", ""),
            ("/console/", "/console/...", "/"),
            ("/console/app.css", "/console/...", "/app.css"),
            ("/console/js/app.js", "/console/js/...", "/app.js"),
            ("/consoles", "/...", "/consoles"),
        ];
        for (path, route, path_info) in cases {
            assert_eq!(
                served(&router, path),
                Some((route, path_info.to_owned())),
                "{path}"
            );
        }
    }

    #[test]
    fn a_path_no_route_matches_is_not_served() {
        let router = router(&["/console/...", "/health"]);
        assert_eq!(served(&router, "/"), None);
        assert_eq!(served(&router, "/consoles"), None);
    }

    #[test]
    fn route_headers_name_the_route_as_spin_does() {
        let router = router(&["/...", "/console/..."]);
        let (_, matched) = router.route("/console/js/app.js").unwrap();
        let headers = matched.headers();
        assert_eq!(headers.matched_route, "/console/...");
        assert_eq!(headers.raw_component_route, "/console/...");
        assert_eq!(headers.component_route, "/console");
        assert_eq!(headers.base_path, "/");
        let (_, matched) = router.route("/health").unwrap();
        let headers = matched.headers();
        assert_eq!(headers.matched_route, "/...");
        assert_eq!(headers.component_route, "");
    }

    #[test]
    fn parameter_routes_are_refused() {
        for raw in ["/items/:id", "/files/*", "/a/.../b"] {
            assert!(Route::parse(raw).is_err(), "{raw}");
        }
    }
}
