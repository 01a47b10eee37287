//! API keys: creation, listing, revocation, `/auth/me`, and who may do what.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{expect_error, expect_json, expect_status, send, spawn_app, unique_suffix};

/// Every key endpoint, as (method, path, JSON body). The DELETE target is filled in.
fn key_endpoints(revocable_id: i64) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (
            Method::POST,
            "/api/v1/auth/keys".into(),
            Some(json!({ "owner": "someone", "role": "viewer" })),
        ),
        (Method::GET, "/api/v1/auth/keys".into(), None),
        (
            Method::DELETE,
            format!("/api/v1/auth/keys/{revocable_id}"),
            None,
        ),
        (Method::GET, "/api/v1/auth/me".into(), None),
    ]
}

#[tokio::test]
async fn every_key_endpoint_rejects_missing_unknown_and_revoked_keys_with_401() {
    let app = spawn_app().await;
    let target = app.create_key("viewer").await;
    let revoked = app.create_key("admin").await;
    expect_status(
        app.delete(&format!("/api/v1/auth/keys/{}", revoked.id), &app.admin_key)
            .await,
        204,
    )
    .await;
    let unknown = format!("ik_{}", "0".repeat(64));

    for (method, path, body) in key_endpoints(target.id) {
        for key in [
            None,
            Some(unknown.as_str()),
            Some(revoked.secret.as_str()),
            Some(""),
        ] {
            let mut request = app.request(method.clone(), &path, key);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = send(request).await;
            expect_error(response, 401, "UNAUTHORIZED").await;
        }
    }
    // Nothing was changed by the rejected calls: the target key still works.
    expect_status(app.get("/api/v1/auth/me", &target.secret).await, 200).await;
}

#[tokio::test]
async fn viewers_get_403_on_key_management_but_may_read_their_own_identity() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await;
    let target = app.create_key("viewer").await;

    for (method, path, body) in key_endpoints(target.id) {
        let mut request = app.request(method.clone(), &path, Some(&viewer.secret));
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = send(request).await;
        if path == "/api/v1/auth/me" {
            let me = expect_json(response, 200).await;
            assert_eq!(me["id"], viewer.id);
            assert_eq!(me["role"], "viewer");
        } else {
            expect_error(response, 403, "FORBIDDEN").await;
        }
    }
    // The viewer's DELETE did not revoke the target.
    expect_status(app.get("/api/v1/auth/me", &target.secret).await, 200).await;
}

#[tokio::test]
async fn admins_and_the_bootstrap_key_may_use_every_key_endpoint() {
    let app = spawn_app().await;
    for admin in [app.admin_key.clone(), app.bootstrap_key.clone()] {
        let target = app.create_key("viewer").await;
        for (method, path, body) in key_endpoints(target.id) {
            let mut request = app.request(method.clone(), &path, Some(&admin));
            if let Some(body) = &body {
                request = request.json(body);
            }
            let status = send(request).await.status().as_u16();
            let expected = match method {
                Method::POST => 201,
                Method::DELETE => 204,
                _ => 200,
            };
            assert_eq!(status, expected, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn creating_a_key_returns_every_documented_field_and_a_256_bit_secret() {
    let app = spawn_app().await;
    let owner = format!("shop-backend-{}", unique_suffix());
    let response = app
        .post_json(
            "/api/v1/auth/keys",
            &app.admin_key,
            &json!({ "owner": owner, "role": "viewer" }),
        )
        .await;
    let body = expect_json(response, 201).await;

    assert!(body["id"].as_i64().is_some_and(|id| id > 0), "{body}");
    assert_eq!(body["owner"], owner.as_str());
    assert_eq!(body["role"], "viewer");
    let secret = body["api_key"].as_str().expect("api_key");
    assert!(secret.starts_with("ik_"), "{secret}");
    let random_part = &secret[3..];
    assert_eq!(random_part.len(), 64, "32 random bytes as hex");
    assert!(random_part.bytes().all(|byte| byte.is_ascii_hexdigit()));
    assert_eq!(body["prefix"].as_str(), Some(&secret[..11]));
    assert!(
        is_rfc3339_utc(body["created_at"].as_str().unwrap_or_default()),
        "{body}"
    );
    assert_eq!(body["revoked_at"], Value::Null);
    assert!(body.get("key_hash").is_none() && body.get("hash").is_none());

    let me = expect_json(app.get("/api/v1/auth/me", secret).await, 200).await;
    assert_eq!(
        me,
        json!({ "id": body["id"], "owner": owner, "role": "viewer" })
    );
}

#[tokio::test]
async fn every_new_key_gets_a_different_secret() {
    let app = spawn_app().await;
    let first = app.create_key("viewer").await;
    let second = app.create_key("viewer").await;
    assert_ne!(first.secret, second.secret);
    assert_ne!(first.id, second.id);
}

#[tokio::test]
async fn the_bootstrap_key_identifies_itself_as_an_admin() {
    let app = spawn_app().await;
    let me = expect_json(app.get("/api/v1/auth/me", &app.bootstrap_key).await, 200).await;
    assert_eq!(me["role"], "admin");
    assert_eq!(me["id"], 0);
}

#[tokio::test]
async fn a_revoked_key_fails_with_401_from_the_next_request_and_is_listed_as_revoked() {
    let app = spawn_app().await;
    let key = app.create_key("viewer").await;
    expect_status(app.get("/api/v1/auth/me", &key.secret).await, 200).await;

    let response = app
        .delete(&format!("/api/v1/auth/keys/{}", key.id), &app.admin_key)
        .await;
    assert_eq!(response.status().as_u16(), 204);
    assert!(response.text().await.unwrap().is_empty());

    expect_error(
        app.get("/api/v1/auth/me", &key.secret).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    let listed = find_listed_key(&app, key.id)
        .await
        .expect("revoked key still listed");
    assert!(
        is_rfc3339_utc(listed["revoked_at"].as_str().unwrap_or_default()),
        "{listed}"
    );
    // Revoking again is harmless and keeps the key revoked.
    expect_status(
        app.delete(&format!("/api/v1/auth/keys/{}", key.id), &app.admin_key)
            .await,
        204,
    )
    .await;
    expect_error(
        app.get("/api/v1/auth/me", &key.secret).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
}

#[tokio::test]
async fn revoking_an_unknown_or_malformed_key_id_returns_404() {
    let app = spawn_app().await;
    for id in ["999999999", "0", "-1", "abc"] {
        let response = app
            .delete(&format!("/api/v1/auth/keys/{id}"), &app.admin_key)
            .await;
        expect_error(response, 404, "NOT_FOUND").await;
    }
}

#[tokio::test]
async fn key_creation_rejects_invalid_fields_with_400_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (json!({ "role": "viewer" }), "owner"),
        (json!({ "owner": "", "role": "viewer" }), "owner"),
        (json!({ "owner": "   ", "role": "viewer" }), "owner"),
        (json!({ "owner": 42, "role": "viewer" }), "owner"),
        (
            json!({ "owner": "x".repeat(101), "role": "viewer" }),
            "owner",
        ),
        (json!({ "owner": "a\u{0}b", "role": "viewer" }), "owner"),
        (json!({ "owner": "ok" }), "role"),
        (json!({ "owner": "ok", "role": "root" }), "role"),
        (json!({ "owner": "ok", "role": "Admin" }), "role"),
        (json!({ "owner": "ok", "role": true }), "role"),
        (
            json!({ "owner": "ok", "role": "viewer", "rate_limit_per_minute": 0 }),
            "rate_limit_per_minute",
        ),
        (
            json!({ "owner": "ok", "role": "viewer", "rate_limit_per_minute": 2.5 }),
            "rate_limit_per_minute",
        ),
        (
            json!({ "owner": "ok", "role": "viewer", "rate_limit_per_minute": "9" }),
            "rate_limit_per_minute",
        ),
        (
            json!({ "owner": "ok", "role": "viewer", "admin": true }),
            "admin",
        ),
    ];
    for (body, field) in cases {
        let response = app
            .post_json("/api/v1/auth/keys", &app.admin_key, &body)
            .await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(
            error["details"][0]["field"], field,
            "body {body} gave {error}"
        );
    }
}

#[tokio::test]
async fn key_creation_rejects_bodies_that_are_not_json_objects() {
    let app = spawn_app().await;
    for raw in ["[]", "\"viewer\"", "null", "{", ""] {
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
async fn key_secrets_never_appear_in_list_responses_logs_or_the_database() {
    let app = spawn_app().await;
    let key = app.create_key("viewer").await;
    expect_status(app.get("/api/v1/auth/me", &key.secret).await, 200).await;

    let listed = find_listed_key(&app, key.id).await.expect("key listed");
    let listed_text = listed.to_string();
    assert!(!listed_text.contains(&key.secret), "{listed_text}");
    assert!(listed.get("api_key").is_none() && listed.get("key_hash").is_none());
    assert_eq!(listed["prefix"], key.body["prefix"]);

    // The log and database checks need the local host's files; a live server's logs
    // and database are not reachable from here.
    if let (Some(logs), Some(database)) = (app.logs(), app.database_file()) {
        assert!(
            logs.contains("\"status\":201"),
            "the access log is captured"
        );
        assert!(!logs.contains(&key.secret), "secret leaked into logs");
        assert!(
            !logs.contains(&app.bootstrap_key),
            "bootstrap key leaked into logs"
        );
        let connection = rusqlite::Connection::open(database).expect("open database");
        let (stored_hash, dump): (String, String) = connection
            .query_row(
                "SELECT key_hash, owner || role || prefix || key_hash || created_at
                 FROM api_keys WHERE id = ?",
                [key.id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("key row");
        assert!(!dump.contains(&key.secret[11..]), "secret stored");
        assert_eq!(stored_hash, sha256_hex(&key.secret));
    }
}

#[tokio::test]
async fn listing_keys_pages_through_every_key_once_with_limit_and_cursor() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(app.create_key("viewer").await.id);
    }

    let mut seen = Vec::new();
    let mut path = "/api/v1/auth/keys?limit=2".to_string();
    let mut pages = 0;
    loop {
        let response = app.get(&path, &app.admin_key).await;
        let link = response
            .headers()
            .get("link")
            .map(|value| value.to_str().unwrap().to_string());
        let page = expect_json(response, 200).await;
        let items = page.as_array().expect("a JSON array");
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|item| item["id"].as_i64().unwrap()));
        pages += 1;
        match link {
            Some(link) => {
                assert!(link.ends_with("; rel=\"next\""), "{link}");
                assert!(
                    link.contains("limit=2"),
                    "the link keeps the filters: {link}"
                );
                path = link[1..link.find('>').unwrap()].to_string();
            }
            None => break,
        }
        assert!(pages < 10_000, "pagination does not end");
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no key is listed twice");
    for id in created {
        assert!(seen.contains(&id), "key {id} missing from the walk");
    }
}

#[tokio::test]
async fn listing_keys_rejects_bad_limits_and_cursors() {
    let app = spawn_app().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("cursor=not-a-cursor", "cursor"),
    ] {
        let response = app
            .get(&format!("/api/v1/auth/keys?{query}"), &app.admin_key)
            .await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], field);
    }
}

/// The listed key with `id`, walking every page of the key list.
async fn find_listed_key(app: &crate::helpers::TestApp, id: i64) -> Option<Value> {
    app.get_all_pages("/api/v1/auth/keys?limit=200")
        .await
        .into_iter()
        .find(|key| key["id"] == id)
}

pub fn is_rfc3339_utc(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() == 24
        && text.ends_with('Z')
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes[19] == b'.'
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
