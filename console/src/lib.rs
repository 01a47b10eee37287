//! The operator console: a Spin HTTP component that serves the console's static files.
//!
//! It is a component of its own, on the route `/console/...`, so that the API component's
//! per-request cost does not grow by a file table it never uses (Spin's idiom for static
//! files). The files under `static/` are embedded at build time; nothing is read at run
//! time and nothing is kept across requests.
//!
//! Every response, errors included, carries the same security headers: a strict
//! Content-Security-Policy (the page has no inline script or style), `nosniff` and no
//! referrer. Files are revalidated on every use (`no-cache` with a strong ETag), so a new
//! deployment is picked up at once while unchanged files cost a 304.

mod files;

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

use crate::files::StaticFile;

/// The policy the issue asks for: only this origin's scripts, styles, images (plus
/// `data:` images) and API calls; no `<base>`, no framing, forms post only here.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The component's HTTP handler.
#[http_component]
fn handle(request: Request) -> Response {
    let path_info = header(&request, "spin-path-info").unwrap_or_default();
    // The route's prefix (`/console`) as Spin reports it, so the redirect below stays
    // right wherever the manifest mounts the component.
    let mount = header(&request, "spin-component-route").unwrap_or_default();
    let is_head = match request.method() {
        Method::Get => false,
        Method::Head => true,
        _ => return with_security_headers(method_not_allowed()),
    };
    let response = match path_info.as_str() {
        // Relative URLs in index.html (`app.css`, `js/app.js`) only resolve under the
        // directory form of the path, hence the permanent redirect.
        "" => redirect(&format!("{mount}/")),
        "/" => file_response(&request, &files::INDEX, is_head),
        path => match files::find(path) {
            Some(file) => file_response(&request, file, is_head),
            None => not_found(is_head),
        },
    };
    with_security_headers(response)
}

/// A request header as text, if present and UTF-8.
fn header(request: &Request, name: &str) -> Option<String> {
    request
        .header(name)
        .and_then(|value| value.as_str())
        .map(str::to_owned)
}

/// A file, or 304 when the client's copy (`If-None-Match`) is current.
fn file_response(request: &Request, file: &StaticFile, is_head: bool) -> Response {
    let etag = file.etag();
    let client_has_it = header(request, "if-none-match").is_some_and(|tags| {
        tags.split(',')
            .any(|tag| tag.trim() == etag || tag.trim() == "*")
    });
    let status = if client_has_it { 304 } else { 200 };
    let body = if client_has_it || is_head {
        Vec::new()
    } else {
        file.body.to_vec()
    };
    Response::builder()
        .status(status)
        .header("content-type", file.content_type)
        .header("cache-control", "no-cache")
        .header("etag", etag)
        .body(body)
        .build()
}

fn redirect(location: &str) -> Response {
    Response::builder()
        .status(308)
        .header("location", location)
        .header("content-type", "text/plain; charset=utf-8")
        .body(format!("Moved to {location}\n"))
        .build()
}

fn not_found(is_head: bool) -> Response {
    let body = if is_head {
        Vec::new()
    } else {
        b"Not found. The console is at /console/.\n".to_vec()
    };
    Response::builder()
        .status(404)
        .header("content-type", "text/plain; charset=utf-8")
        .header("cache-control", "no-cache")
        .body(body)
        .build()
}

fn method_not_allowed() -> Response {
    Response::builder()
        .status(405)
        .header("allow", "GET, HEAD")
        .header("content-type", "text/plain; charset=utf-8")
        .body("Method not allowed: the console only serves files (GET, HEAD).\n")
        .build()
}

/// Adds the headers every console response carries, whatever its status.
fn with_security_headers(mut response: Response) -> Response {
    let headers = [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
    ];
    for (name, value) in headers {
        response.set_header(name, value);
    }
    response
}
