//! Service endpoints (`/`, `/health`, `/api/v1/openapi.yaml`) and first-start behaviour.

use reqwest::Method;

use crate::helpers::{expect_error, expect_json, send, spawn_app, spawn_bare_app, statuses_of};

#[tokio::test]
async fn health_answers_ok_without_a_key() {
    let app = spawn_app().await;
    let response = send(app.request(Method::GET, "/health", None)).await;
    let body = expect_json(response, 200).await;
    assert_eq!(body, serde_json::json!({ "status": "ok" }));
}

#[tokio::test]
async fn the_root_sends_browsers_to_the_console_and_is_404_for_api_clients() {
    let app = spawn_app().await;
    let browser = app
        .request(Method::GET, "/", None)
        .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8");
    let response = send(browser).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/console/");
    assert!(response.headers().contains_key("x-request-id"));

    let api_client = app
        .request(Method::GET, "/", None)
        .header("Accept", "application/json");
    expect_error(send(api_client).await, 404, "NOT_FOUND").await;
    expect_error(
        send(app.request(Method::GET, "/", None)).await,
        404,
        "NOT_FOUND",
    )
    .await;
    let head = send(app.request(Method::HEAD, "/", None)).await;
    assert_eq!(head.status().as_u16(), 405);
    assert_eq!(head.headers()["allow"], "GET");
}

#[tokio::test]
async fn the_openapi_document_is_served_without_a_key_as_built() {
    let app = spawn_app().await;
    let response = send(app.request(Method::GET, "/api/v1/openapi.yaml", None)).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("yaml")
    );
    let served = response.text().await.unwrap();
    let on_disk = include_str!("../../swagger.yaml");
    if !app.is_live() {
        assert_eq!(served, on_disk);
    }
    assert!(served.starts_with("openapi: 3.1"));
}

#[tokio::test]
async fn twenty_concurrent_first_requests_on_an_empty_database_all_succeed() {
    let fresh = spawn_bare_app().await;
    let requests = (0..20).map(|index| {
        let (method, path, key) = if index % 2 == 0 {
            (Method::GET, "/health", None)
        } else {
            (
                Method::GET,
                "/api/v1/auth/keys",
                Some(fresh.bootstrap_key.as_str()),
            )
        };
        send(fresh.request(method, path, key))
    });
    let statuses = statuses_of(requests).await;
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
}

#[test]
fn the_component_imports_only_spin_and_wasi_interfaces() {
    let component = crate::host::build_component().expect("building the component");
    let bytes = std::fs::read(component).expect("reading the component");
    // Only the outermost component's imports are the host's business; nested
    // components and modules import from their siblings.
    let mut imports = Vec::new();
    let mut depth = 0;
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        match payload.expect("a valid component") {
            wasmparser::Payload::Version { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth -= 1,
            wasmparser::Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    imports.push(import.expect("an import").name.name.to_string());
                }
            }
            _ => {}
        }
    }
    assert!(
        imports
            .iter()
            .any(|name| name.starts_with("spin:sqlite/sqlite@3")),
        "{imports:#?}"
    );
    for name in &imports {
        assert!(
            name.starts_with("wasi:")
                || name.starts_with("spin:")
                || name.starts_with("fermyon:spin/"),
            "unexpected import {name}"
        );
    }
}
