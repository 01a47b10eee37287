//! The error contract: every failure is `{"error", "code"}` with the right status.

use reqwest::Method;

use crate::helpers::{expect_error, expect_json, send, spawn_app};

#[tokio::test]
async fn an_unknown_route_returns_404_in_the_error_format() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/nothing-here",
        "/",
        "/api/v2/auth/me",
        "/api/v1/auth/keys/1/x",
    ] {
        let response = app.get(path, &app.admin_key).await;
        expect_error(response, 404, "NOT_FOUND").await;
    }
}

#[tokio::test]
async fn a_known_path_with_the_wrong_method_returns_405_with_allow() {
    let app = spawn_app().await;
    let cases = [
        (Method::PUT, "/api/v1/auth/keys", "POST, GET"),
        (Method::PATCH, "/api/v1/auth/me", "GET"),
        (Method::GET, "/api/v1/auth/keys/1", "DELETE"),
    ];
    for (method, path, allow) in cases {
        let response = send(app.request(method, path, Some(&app.admin_key))).await;
        assert_eq!(response.headers()["allow"].to_str().unwrap(), allow);
        expect_error(response, 405, "METHOD_NOT_ALLOWED").await;
    }
}

#[tokio::test]
async fn a_body_over_64_kib_returns_413_and_creates_nothing() {
    let app = spawn_app().await;
    let owner = "x".repeat(64 * 1024);
    let body = format!("{{\"owner\":\"{owner}\",\"role\":\"viewer\"}}");
    let response = send(
        app.request(Method::POST, "/api/v1/auth/keys", Some(&app.admin_key))
            .header("Content-Type", "application/json")
            .body(body),
    )
    .await;
    expect_error(response, 413, "PAYLOAD_TOO_LARGE").await;
}

#[tokio::test]
async fn a_body_of_exactly_64_kib_is_read_and_judged_on_its_content() {
    let app = spawn_app().await;
    let padding = " ".repeat(64 * 1024 - 2);
    let body = format!("{{{padding}}}");
    assert_eq!(body.len(), 64 * 1024);
    let response = send(
        app.request(Method::POST, "/api/v1/auth/keys", Some(&app.admin_key))
            .header("Content-Type", "application/json")
            .body(body),
    )
    .await;
    expect_error(response, 400, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn a_write_whose_body_is_not_json_returns_415() {
    let app = spawn_app().await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        let response = send(
            app.request(Method::POST, "/api/v1/auth/keys", Some(&app.admin_key))
                .header("Content-Type", content_type)
                .body("owner=a&role=viewer"),
        )
        .await;
        expect_error(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    }
}

#[tokio::test]
async fn json_with_a_charset_parameter_is_accepted() {
    let app = spawn_app().await;
    let response = send(
        app.request(Method::POST, "/api/v1/auth/keys", Some(&app.admin_key))
            .header("Content-Type", "Application/JSON; charset=utf-8")
            .body(r#"{"owner":"charset-test","role":"viewer"}"#),
    )
    .await;
    expect_json(response, 201).await;
}

#[tokio::test]
async fn malformed_json_returns_400_invalid_json() {
    let app = spawn_app().await;
    for raw in ["{\"owner\":", "{'owner': 1}", "not json", "{\"a\":1}}"] {
        let response = send(
            app.request(Method::POST, "/api/v1/auth/keys", Some(&app.admin_key))
                .header("Content-Type", "application/json")
                .body(raw),
        )
        .await;
        expect_error(response, 400, "INVALID_JSON").await;
    }
}

#[tokio::test]
async fn deeply_nested_json_is_a_400_not_a_crash() {
    // The component runs on a 256 KiB stack (.cargo/config.toml): the JSON parser's
    // recursion must stay within it at its nesting limit and beyond.
    let app = spawn_app().await;
    for depth in [120, 127, 5_000] {
        let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let body = format!("{{\"owner\":{nested},\"role\":\"viewer\"}}");
        let response = send(
            app.request(Method::POST, "/api/v1/auth/keys", Some(&app.admin_key))
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await;
        let status = response.status().as_u16();
        assert_eq!(status, 400, "nesting depth {depth}");
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_a_safe_client_id() {
    let app = spawn_app().await;
    let generated = app.get("/api/v1/auth/me", &app.admin_key).await;
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 32);

    let echoed = send(
        app.request(Method::GET, "/api/v1/nothing", Some(&app.admin_key))
            .header("X-Request-Id", "client-trace-42"),
    )
    .await;
    assert_eq!(echoed.headers()["x-request-id"], "client-trace-42");

    let unsafe_id = send(
        app.request(Method::GET, "/health", None)
            .header("X-Request-Id", "bad id with spaces"),
    )
    .await;
    assert_ne!(unsafe_id.headers()["x-request-id"], "bad id with spaces");
}

#[tokio::test]
async fn a_wrong_method_on_a_public_path_is_405_without_a_key() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (Method::POST, "/health", "GET"),
        (Method::DELETE, "/api/v1/openapi.yaml", "GET"),
    ] {
        let response = send(app.request(method, path, None)).await;
        assert_eq!(response.headers()["allow"].to_str().unwrap(), allow);
        expect_error(response, 405, "METHOD_NOT_ALLOWED").await;
    }
}

#[tokio::test]
async fn a_stray_content_type_without_a_body_is_ignored() {
    let app = spawn_app().await;
    let response = send(
        app.request(Method::GET, "/api/v1/auth/me", Some(&app.admin_key))
            .header("Content-Type", "text/plain"),
    )
    .await;
    expect_json(response, 200).await;
}

#[tokio::test]
async fn a_body_naming_a_member_twice_returns_400_naming_it_and_changes_nothing() {
    let app = spawn_app().await;
    let product = app.stocked_product(5.0, 10).await;
    let path = format!("/api/v1/products/{product}");
    let before = expect_json(app.get(&path, &app.admin_key).await, 200).await;
    // At the top level and nested inside an order line: either way a proxy keeping the
    // first member and the service keeping the last would disagree.
    let cases = [
        (
            Method::PATCH,
            path.clone(),
            r#"{"price": 1.5, "price": 2.5}"#,
            "price",
        ),
        (
            Method::POST,
            "/api/v1/orders".to_string(),
            &*format!(
                r#"{{"customer_name": "Dup", "customer_email": "dup@example.com",
                    "items": [{{"product_id": {product}, "quantity": 1, "quantity": 9}}]}}"#
            ),
            "quantity",
        ),
    ];
    for (method, target, body, member) in cases {
        let response = send(
            app.request(method, &target, Some(&app.admin_key))
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        )
        .await;
        let error = expect_error(response, 400, "INVALID_JSON").await;
        let message = error["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("\"{member}\"")),
            "the message names the member: {message}"
        );
    }
    let after = expect_json(app.get(&path, &app.admin_key).await, 200).await;
    assert_eq!(after, before, "the product is unchanged");
    assert_eq!(app.stock_of(product).await, 10, "no order took stock");
}
