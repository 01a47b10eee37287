//! The operator console: a second component on `/console/...`, next to the API on `/...`.
//!
//! These tests check the routing between the two and the console's HTTP behaviour
//! (security headers on every response, redirects, 404/405, revalidation). What the
//! page does in a browser is tested in tests/console (Playwright).

use reqwest::Method;
use reqwest::redirect::Policy;

use crate::helpers::{expect_error, send, spawn_app};

/// Every console response carries these, whatever its status.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

fn assert_security_headers(response: &reqwest::Response) {
    let url = response.url().clone();
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(response.headers()[*name], *value, "{name} on {url}");
    }
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} missing on {url}");
    }
    assert!(!policy.contains("unsafe"), "{policy} on {url}");
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn console_page_is_served_by_the_console_component_and_health_by_the_api() {
    let app = spawn_app().await;

    let page = send(app.request(Method::GET, "/console/", None)).await;
    assert_eq!(page.status().as_u16(), 200);
    assert_security_headers(&page);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    // The API stamps every response with a request id; the console component does not.
    assert!(page.headers().get("x-request-id").is_none());
    let html = page.text().await.unwrap();
    assert!(html.contains("<title>Inventory console</title>"));
    assert!(!html.contains("<script>"), "no inline script");

    let health = send(app.request(Method::GET, "/health", None)).await;
    assert_eq!(health.status().as_u16(), 200);
    assert!(health.headers().get("x-request-id").is_some());
}

#[tokio::test]
async fn console_files_have_their_content_types_and_revalidate_with_etags() {
    let app = spawn_app().await;
    for (path, content_type) in [
        ("/console/app.css", "text/css; charset=utf-8"),
        ("/console/js/app.js", "text/javascript; charset=utf-8"),
        (
            "/console/js/views/dashboard.js",
            "text/javascript; charset=utf-8",
        ),
    ] {
        let response = send(app.request(Method::GET, path, None)).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
        assert_security_headers(&response);
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();

        let again = send(
            app.request(Method::GET, path, None)
                .header("If-None-Match", &etag),
        )
        .await;
        assert_eq!(again.status().as_u16(), 304, "{path}");
        assert_security_headers(&again);
    }
}

#[tokio::test]
async fn console_without_a_slash_redirects_to_the_page() {
    let app = spawn_app().await;
    let response = send(no_redirects().get(format!("{}/console", app.base_url))).await;
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(response.headers()["location"], "/console/");
    assert_security_headers(&response);
}

#[tokio::test]
async fn unknown_console_files_are_404_with_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/console/nope.js", "/console/js/", "/console/index.html/"] {
        let response = send(app.request(Method::GET, path, None)).await;
        assert_eq!(response.status().as_u16(), 404, "{path}");
        assert_security_headers(&response);
    }
}

#[tokio::test]
async fn console_answers_only_get_and_head() {
    let app = spawn_app().await;
    let head = send(app.request(Method::HEAD, "/console/", None)).await;
    assert_eq!(head.status().as_u16(), 200);
    assert_security_headers(&head);

    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let response = send(app.request(method.clone(), "/console/", None)).await;
        assert_eq!(response.status().as_u16(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "GET, HEAD");
        assert_security_headers(&response);
    }
}

#[tokio::test]
async fn paths_that_only_start_like_the_console_still_reach_the_api() {
    let app = spawn_app().await;
    // The API's answer (a JSON error: no key) rather than the console's.
    let response = send(app.request(Method::GET, "/consoles", None)).await;
    expect_error(response, 401, "UNAUTHORIZED").await;
}

/// Every file under console/static/, as (path, text).
fn console_static_files() -> Vec<(std::path::PathBuf, String)> {
    fn walk(directory: &std::path::Path, files: &mut Vec<(std::path::PathBuf, String)>) {
        for entry in std::fs::read_dir(directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((path, text));
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console/static"),
        &mut files,
    );
    files
}

#[test]
fn the_whole_console_stays_under_100_kb() {
    let total: usize = console_static_files()
        .iter()
        .map(|(_, text)| text.len())
        .sum();
    assert!(total < 100 * 1024, "the console is {total} bytes");
}

#[test]
fn the_console_never_builds_markup_from_strings_or_inlines_code() {
    // API values must reach the page as text: these are the ways they could become markup
    // or code. Inline scripts, styles and handlers would also be refused by the CSP.
    let forbidden = [
        "innerHTML",
        "outerHTML =",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "style=",
        "<script>",
        " onclick=",
        "localStorage",
        "document.cookie",
    ];
    for (path, text) in console_static_files() {
        // Comments may name what the code avoids.
        let code = text.lines().filter(|line| {
            let line = line.trim_start();
            !(line.starts_with("//") || line.starts_with("/*") || line.starts_with('*'))
        });
        for line in code {
            for pattern in forbidden {
                assert!(
                    !line.contains(pattern),
                    "{} contains {pattern:?}: {line}",
                    path.display()
                );
            }
        }
    }
}
