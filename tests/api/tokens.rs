//! Access tokens: the token endpoint (OAuth 2.0 client credentials), bearer use on every
//! endpoint, revocation, rotation of the signing key, and a suite of hostile tokens.
//!
//! Hostile tokens are forged from a real one: its payload decoded, ONE thing changed, and
//! signed again with the real signing key (local hosts' `TEST_TOKEN_SIGNING_KEY`, or
//! `APP_TOKEN_SIGNING_KEY` for a live server), so each is refused for the one check it
//! fails, and an unchanged re-signed copy is accepted (the control that proves the
//! forging itself is right).

use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{
    TEST_TOKEN_SIGNING_KEY, expect_error, expect_json, expect_status, product_body,
    rate_limit_field, rate_limit_reset_seconds, send, spawn_app, spawn_app_with, unique_word,
};
use crate::host_process::HostProcess;

// --- JWT pieces the tests forge tokens with ---------------------------------------------

const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64_url(bytes: &[u8]) -> String {
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |group, (index, byte)| {
            group | u32::from(*byte) << (16 - 8 * index)
        });
        for index in 0..=chunk.len() {
            text.push(URL_SAFE[(group >> (18 - 6 * index) & 63) as usize] as char);
        }
    }
    text
}

fn base64_url_decode(text: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0u32, |group, (index, symbol)| {
                let value = URL_SAFE.iter().position(|known| known == symbol).unwrap() as u32;
                group | value << (18 - 6 * index)
            });
        for index in 0..chunk.len() - 1 {
            bytes.push((group >> (16 - 8 * index)) as u8);
        }
    }
    bytes
}

/// The header and payload of a token, as JSON.
fn decode(token: &str) -> (Value, Value) {
    let mut segments = token.split('.');
    let mut next = || serde_json::from_slice(&base64_url_decode(segments.next().unwrap())).unwrap();
    (next(), next())
}

/// A token of `header` and `payload`, signed HS256 with `key`.
fn sign(header: &Value, payload: &Value, key: &str) -> String {
    let input = format!(
        "{}.{}",
        base64_url(header.to_string().as_bytes()),
        base64_url(payload.to_string().as_bytes())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", base64_url(&mac.finalize().into_bytes()))
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Asserts a bearer refusal: 401 `UNAUTHORIZED` with RFC 6750's `invalid_token` challenge.
async fn expect_invalid_token(response: reqwest::Response, what: &str) {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap().to_owned());
    assert_eq!(response.status(), 401, "{what}");
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer realm=\"inventory-api\", error=\"invalid_token\""),
        "{what}"
    );
    expect_error(response, 401, "UNAUTHORIZED").await;
}

/// Asserts an RFC 6749 §5.2 error: status, `{error, error_description}` and nothing else.
async fn expect_oauth_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    let body = expect_json(response, status).await;
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|text| !text.is_empty())
    );
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    body
}

// --- The token endpoint ------------------------------------------------------------------

#[tokio::test]
async fn a_key_gets_a_token_by_basic_or_form_credentials_and_it_works_where_the_key_does() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await;
    let response = app
        .token_request(
            "grant_type=client_credentials",
            Some((&viewer.id.to_string(), &viewer.secret)),
        )
        .await;
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "RFC 6749 §5.1: a token is never cached"
    );
    assert!(
        rate_limit_field(&response, "r").is_some(),
        "the key's quota is reported"
    );
    let body = expect_json(response, 200).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "viewer");
    let expires_in = body["expires_in"].as_i64().unwrap();
    if !app.is_live() {
        assert_eq!(expires_in, 300, "token_lifetime_seconds' default");
    }
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (header, payload) = decode(&token);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(payload["sub"], viewer.id.to_string());
    assert_eq!(
        payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap(),
        expires_in
    );
    assert!(
        !token.contains(&viewer.secret) && !payload.to_string().contains(&viewer.secret[3..]),
        "the token carries nothing of the key"
    );

    // Form fields instead of Basic give an equivalent token.
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        viewer.id, viewer.secret
    );
    let by_form = expect_json(app.token_request(&form, None).await, 200).await;
    assert_eq!(
        decode(by_form["access_token"].as_str().unwrap()).1["sub"],
        payload["sub"]
    );

    // The token is the key: same identity, role and ownership.
    let me = expect_json(app.get("/api/v1/auth/me", &token).await, 200).await;
    assert_eq!(me["id"], viewer.id);
    assert_eq!(me["role"], "viewer");
    assert_eq!(me["owner"], viewer.body["owner"]);
    let product = app.stocked_product(3.0, 5).await;
    let order = expect_json(app.place_order(&token, &[(product, 2)]).await, 201).await;
    let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    expect_status(app.get(&path, &viewer.secret).await, 200).await;
    expect_error(
        app.post_json("/api/v1/products", &token, &product_body("x", "y", 1.0, 1))
            .await,
        403,
        "FORBIDDEN",
    )
    .await;
    let other = app.create_key("viewer").await;
    expect_error(app.get(&path, &other.secret).await, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn the_token_endpoint_refuses_in_rfc_6749_terms_and_issues_nothing() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await;
    let admin = app.create_key("admin").await;
    let id = viewer.id.to_string();
    let basic = Some((id.as_str(), viewer.secret.as_str()));
    let grant = "grant_type=client_credentials";

    // invalid_request: not a form, no grant type, a repeated parameter, both ways of
    // sending the credentials, Basic that is not base64.
    let as_json = send(
        app.request(Method::POST, "/api/v1/auth/token", None)
            .basic_auth(&id, Some(&viewer.secret))
            .json(&json!({ "grant_type": "client_credentials" })),
    )
    .await;
    expect_oauth_error(as_json, 400, "invalid_request").await;
    expect_oauth_error(
        app.token_request("scope=viewer", basic).await,
        400,
        "invalid_request",
    )
    .await;
    let repeated = format!("{grant}&{grant}");
    expect_oauth_error(
        app.token_request(&repeated, basic).await,
        400,
        "invalid_request",
    )
    .await;
    let both = format!("{grant}&client_id={id}&client_secret={}", viewer.secret);
    expect_oauth_error(
        app.token_request(&both, basic).await,
        400,
        "invalid_request",
    )
    .await;
    let garbled = send(
        app.request(Method::POST, "/api/v1/auth/token", None)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Authorization", "Basic ***")
            .body(grant),
    )
    .await;
    expect_oauth_error(garbled, 400, "invalid_request").await;

    // unsupported_grant_type and invalid_scope.
    let password = "grant_type=password&username=a&password=b";
    expect_oauth_error(
        app.token_request(password, basic).await,
        400,
        "unsupported_grant_type",
    )
    .await;
    for scope in ["admin", "root", "admin%20viewer"] {
        let form = format!("{grant}&scope={scope}");
        expect_oauth_error(app.token_request(&form, basic).await, 400, "invalid_scope").await;
    }

    // invalid_client (401 with a Basic challenge): no credentials, a wrong key, a right
    // key under another key's id, an id that is not a number.
    let wrong_secret = with_a_character_changed(&viewer.secret);
    let admin_id = admin.id.to_string();
    for (what, credentials) in [
        ("no credentials", None),
        ("wrong key", Some((id.as_str(), wrong_secret.as_str()))),
        (
            "another key's id",
            Some((admin_id.as_str(), viewer.secret.as_str())),
        ),
        ("id not a number", Some(("me", viewer.secret.as_str()))),
    ] {
        let response = app.token_request(grant, credentials).await;
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        if challenge.as_deref() != Some("Basic realm=\"inventory-api\"") {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            panic!("{what}: {status} {challenge:?} {body}");
        }
        expect_oauth_error(response, 401, "invalid_client").await;
    }

    // The endpoint takes POST only; the refusals above left the key working.
    let get = app.request(Method::GET, "/api/v1/auth/token", None);
    expect_error(send(get).await, 405, "METHOD_NOT_ALLOWED").await;
    app.token_for(viewer.id, &viewer.secret, None).await;
}

#[tokio::test]
async fn a_revoked_key_gets_no_token_and_its_live_tokens_fail_at_once() {
    let app = spawn_app().await;
    let key = app.create_key("admin").await;
    let bystander = app.create_key("admin").await;
    let token = app.token_for(key.id, &key.secret, None).await;
    let bystander_token = app.token_for(bystander.id, &bystander.secret, None).await;
    expect_status(app.get("/api/v1/products", &token).await, 200).await;

    expect_status(
        app.delete(&format!("/api/v1/auth/keys/{}", key.id), &app.admin_key)
            .await,
        204,
    )
    .await;
    expect_invalid_token(
        app.get("/api/v1/products", &token).await,
        "token of a revoked key",
    )
    .await;
    let tag = unique_word();
    let refused = app
        .post_json(
            "/api/v1/products",
            &token,
            &product_body(&tag, "Revoked", 1.0, 1),
        )
        .await;
    expect_invalid_token(refused, "a write with a revoked key's token").await;
    let search = format!("/api/v1/products?search={tag}");
    let found = expect_json(app.get(&search, &app.admin_key).await, 200).await;
    assert_eq!(
        found.as_array().unwrap().len(),
        0,
        "the refused write changed nothing"
    );

    let response = app
        .token_request(
            "grant_type=client_credentials",
            Some((&key.id.to_string(), &key.secret)),
        )
        .await;
    expect_oauth_error(response, 401, "invalid_client").await;
    // Only that key's tokens: another key's token still works.
    expect_status(app.get("/api/v1/products", &bystander_token).await, 200).await;
}

#[tokio::test]
async fn a_viewer_scope_narrows_an_admin_key_to_a_viewers_rights() {
    let app = spawn_app().await;
    let admin = app.create_key("admin").await;
    let narrowed = app.token_for(admin.id, &admin.secret, Some("viewer")).await;
    let full = app.token_for(admin.id, &admin.secret, Some("admin")).await;
    assert_eq!(decode(&narrowed).1["scope"], "viewer");

    let me = expect_json(app.get("/api/v1/auth/me", &narrowed).await, 200).await;
    assert_eq!(
        (me["id"].as_i64(), me["role"].as_str()),
        (Some(admin.id), Some("viewer"))
    );
    expect_status(app.get("/api/v1/products", &narrowed).await, 200).await;
    let tag = unique_word();
    let body = product_body(&tag, "Narrowed", 1.0, 1);
    for (method, path) in [
        (Method::GET, "/api/v1/auth/keys"),
        (Method::GET, "/api/v1/reports/low-stock"),
        (Method::GET, "/api/v1/webhooks"),
    ] {
        let response = send(app.request(method, path, Some(&narrowed))).await;
        expect_error(response, 403, "FORBIDDEN").await;
    }
    expect_error(
        app.post_json("/api/v1/products", &narrowed, &body).await,
        403,
        "FORBIDDEN",
    )
    .await;
    // The same key's admin-scoped token may do it.
    expect_status(app.post_json("/api/v1/products", &full, &body).await, 201).await;
}

#[tokio::test]
async fn a_key_and_a_token_in_one_request_are_refused() {
    let app = spawn_app().await;
    let admin = app.create_key("admin").await;
    let token = app.token_for(admin.id, &admin.secret, None).await;
    let both = app
        .request(Method::GET, "/api/v1/auth/me", Some(&admin.secret))
        .bearer_auth(&token);
    expect_error(send(both).await, 400, "VALIDATION_ERROR").await;
    // A missing credential is answered with the bearer scheme's plain challenge.
    let none = send(app.request(Method::GET, "/api/v1/auth/me", None)).await;
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"inventory-api\""
    );
    expect_error(none, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn a_token_spends_its_keys_rate_limit() {
    let app = spawn_app().await;
    // All five requests must fall in one 60-second window.
    let probe = app.get("/api/v1/auth/me", &app.admin_key).await;
    let left = rate_limit_reset_seconds(&probe).expect("RateLimit header");
    if left < 10 {
        tokio::time::sleep(std::time::Duration::from_secs(left + 1)).await;
    }
    let key = app.create_limited_key("viewer", 4).await;
    // 1: the token request itself; 2-3: with the token; 4: with the key; 5: over.
    let token = app.token_for(key.id, &key.secret, None).await;
    let second = app.get("/api/v1/products", &token).await;
    assert_eq!(rate_limit_field(&second, "r"), Some(2));
    expect_status(second, 200).await;
    expect_status(app.get("/api/v1/products", &token).await, 200).await;
    expect_status(app.get("/api/v1/products", &key.secret).await, 200).await;
    expect_error(
        app.get("/api/v1/products", &token).await,
        429,
        "RATE_LIMITED",
    )
    .await;
    expect_error(
        app.get("/api/v1/products", &key.secret).await,
        429,
        "RATE_LIMITED",
    )
    .await;
    // The token endpoint's 429 reports the key's limit like every other.
    let form = "grant_type=client_credentials";
    let refused = app
        .token_request(form, Some((&key.id.to_string(), &key.secret)))
        .await;
    assert_eq!(rate_limit_field(&refused, "q"), Some(4));
    assert_eq!(rate_limit_field(&refused, "r"), Some(0));
    expect_error(refused, 429, "RATE_LIMITED").await;
}

#[tokio::test]
async fn failed_token_authentications_count_against_the_address_guard() {
    let app = spawn_app_with(&[("auth_failures_per_minute", "3")]).await;
    if app.is_live() {
        eprintln!("skipped on a live server: needs auth_failures_per_minute=3");
        return;
    }
    let key = app.create_key("viewer").await;
    let token = app.token_for(key.id, &key.secret, None).await;
    let tampered = with_a_character_changed(&token);
    expect_invalid_token(app.get("/api/v1/products", &tampered).await, "tampered").await;
    let wrong = Some(("1", "ik_wrong"));
    let grant = "grant_type=client_credentials";
    expect_oauth_error(app.token_request(grant, wrong).await, 401, "invalid_client").await;
    expect_invalid_token(app.get("/api/v1/products", &tampered).await, "tampered").await;
    // Past three failures the address is throttled, on either path.
    expect_error(
        app.get("/api/v1/products", &tampered).await,
        429,
        "RATE_LIMITED",
    )
    .await;
    expect_error(app.token_request(grant, wrong).await, 429, "RATE_LIMITED").await;
    // Valid credentials are never locked out by the guard.
    expect_status(app.get("/api/v1/products", &token).await, 200).await;
    app.token_for(key.id, &key.secret, None).await;
}

// --- Hostile tokens ------------------------------------------------------------------------

#[tokio::test]
async fn hostile_tokens_are_refused_on_every_endpoint_and_change_nothing() {
    // Every refusal counts against this client's address; locally the guard is lifted so
    // each token meets every endpoint, a live server's guard allows one endpoint each.
    let app = spawn_app_with(&[("auth_failures_per_minute", "1000000")]).await;
    let Some(signing_key) = app.token_signing_key.clone() else {
        eprintln!("skipped on a live server without APP_TOKEN_SIGNING_KEY: cannot forge tokens");
        return;
    };
    let admin = app.create_key("admin").await;
    let revoked = app.create_key("admin").await;
    let token = app.token_for(admin.id, &admin.secret, None).await;
    let revoked_token = app.token_for(revoked.id, &revoked.secret, None).await;
    expect_status(
        app.delete(&format!("/api/v1/auth/keys/{}", revoked.id), &app.admin_key)
            .await,
        204,
    )
    .await;

    let (header, payload) = decode(&token);
    let now = now_seconds();
    let with = |field: &str, value: Value| {
        let mut changed = payload.clone();
        changed[field] = value;
        sign(&header, &changed, &signing_key)
    };
    let with_header = |field: &str, value: Value| {
        let mut changed = header.clone();
        changed[field] = value;
        sign(&changed, &payload, &signing_key)
    };
    let unsigned = {
        let none_header = json!({ "alg": "none", "typ": "at+jwt", "kid": header["kid"] });
        let token = sign(&none_header, &payload, &signing_key);
        format!("{}.", token.rsplit_once('.').unwrap().0)
    };
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let mut tampered_payload = payload.clone();
    // The bootstrap key's id: a changed `sub` must not make anyone it.
    tampered_payload["sub"] = json!("0");
    let tampered = format!(
        "{}.{}.{signature}",
        signing_input.split('.').next().unwrap(),
        base64_url(tampered_payload.to_string().as_bytes())
    );
    let other_key = format!("{signing_key}-but-another-one");
    let hostile: Vec<(&str, String)> = vec![
        ("expired", with("exp", json!(now - 60))),
        ("issued in the future", with("iat", json!(now + 3600))),
        ("not yet valid", with("nbf", json!(now + 3600))),
        ("wrong audience", with("aud", json!("another-api"))),
        ("wrong issuer", with("iss", json!("someone-else"))),
        (
            "a role it was not granted",
            with("scope", json!("superuser")),
        ),
        ("wrong kid", with_header("kid", json!("0123456789abcdef"))),
        ("alg none, unsigned", unsigned),
        ("alg none, signed", with_header("alg", json!("none"))),
        ("alg HS512", with_header("alg", json!("HS512"))),
        ("another type", with_header("typ", json!("JWT"))),
        ("payload changed, signature kept", tampered),
        (
            "signed with another key",
            sign(&header, &payload, &other_key),
        ),
        ("a revoked key's", revoked_token),
        ("garbage", "eyJ.nope.nope".to_owned()),
    ];
    let tag = unique_word();
    let product = app.stocked_product(2.0, 10).await;
    let endpoints = if app.is_live() { 1 } else { 5 };
    for (index, (what, token)) in hostile.iter().enumerate() {
        for endpoint in (0..endpoints).map(|offset| (index + offset) % 5) {
            let response = match endpoint {
                0 => app.get("/api/v1/auth/me", token).await,
                1 => app.get(&format!("/api/v1/products/{product}"), token).await,
                2 => {
                    let body = product_body(&tag, "Hostile", 1.0, 1);
                    app.post_json("/api/v1/products", token, &body).await
                }
                3 => app.place_order(token, &[(product, 1)]).await,
                _ => {
                    let body = json!({ "owner": "x", "role": "admin" });
                    app.post_json("/api/v1/auth/keys", token, &body).await
                }
            };
            expect_invalid_token(response, what).await;
        }
    }
    // Nothing of it happened.
    assert_eq!(app.stock_of(product).await, 10);
    let found = expect_json(
        app.get(&format!("/api/v1/products?search={tag}"), &app.admin_key)
            .await,
        200,
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 0);

    // The control: the same forging with nothing changed is accepted, so each refusal
    // above is for the one thing its token changed.
    let control = sign(&header, &payload, &signing_key);
    let me = expect_json(app.get("/api/v1/auth/me", &control).await, 200).await;
    assert_eq!(me["id"], admin.id);
    let fresh = with("exp", json!(now + 60));
    expect_status(app.get("/api/v1/auth/me", &fresh).await, 200).await;
}

// --- The bootstrap key, rotation, instances -------------------------------------------------

#[tokio::test]
async fn the_bootstrap_key_gets_a_token_as_client_0() {
    let app = spawn_app().await;
    let token = app.token_for(0, &app.bootstrap_key, None).await;
    let me = expect_json(app.get("/api/v1/auth/me", &token).await, 200).await;
    assert_eq!(
        (me["id"].as_i64(), me["role"].as_str()),
        (Some(0), Some("admin"))
    );
    let created = app
        .post_json(
            "/api/v1/auth/keys",
            &token,
            &json!({ "owner": "via-token", "role": "viewer" }),
        )
        .await;
    expect_status(created, 201).await;
    // Under any other id the bootstrap key is no client.
    let response = app
        .token_request(
            "grant_type=client_credentials",
            Some(("1", &app.bootstrap_key)),
        )
        .await;
    expect_oauth_error(response, 401, "invalid_client").await;
}

/// A host process on its own state directory with these variables added.
fn host_with(
    state_dir: &std::path::Path,
    bootstrap_key: &str,
    variables: &[(&str, &str)],
) -> HostProcess {
    let args: Vec<String> = variables
        .iter()
        .flat_map(|(name, value)| ["--variable".to_owned(), format!("{name}={value}")])
        .collect();
    HostProcess::start(state_dir, bootstrap_key, &args)
}

async fn get_with(base_url: &str, path: &str, token: &str) -> reqwest::Response {
    send(
        reqwest::Client::new()
            .get(format!("{base_url}{path}"))
            .bearer_auth(token),
    )
    .await
}

/// An access token from the host at `base_url` for the key `id` with `secret`.
async fn token_from(base_url: &str, id: i64, secret: &str) -> String {
    let response = send(
        reqwest::Client::new()
            .post(format!("{base_url}/api/v1/auth/token"))
            .basic_auth(id, Some(secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials"),
    )
    .await;
    expect_json(response, 200).await["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

#[tokio::test]
async fn a_rotated_signing_key_keeps_its_tokens_valid_until_it_is_removed() {
    // Three hosts stand for one deployment before, during and after a rotation. Each has
    // its own empty database: verifying a token reads none.
    let state = std::env::temp_dir().join(format!(
        "inventory-api-rotation-{}",
        crate::helpers::unique_suffix()
    ));
    let dirs: Vec<_> = (0..3).map(|index| state.join(index.to_string())).collect();
    for dir in &dirs {
        std::fs::create_dir_all(dir).unwrap();
    }
    let bootstrap = format!("bootstrap-{}", crate::helpers::unique_suffix());
    let old_key = TEST_TOKEN_SIGNING_KEY;
    let new_key = "the-next-token-signing-key-0123456789abcdef";
    let before = host_with(&dirs[0], &bootstrap, &[]);
    let during = host_with(
        &dirs[1],
        &bootstrap,
        &[
            ("token_signing_key", new_key),
            ("token_previous_signing_key", old_key),
        ],
    );
    let after = host_with(&dirs[2], &bootstrap, &[("token_signing_key", new_key)]);

    let old_token = token_from(&before.base_url, 0, &bootstrap).await;
    let new_token = token_from(&during.base_url, 0, &bootstrap).await;
    assert_ne!(decode(&old_token).0["kid"], decode(&new_token).0["kid"]);

    for (host, token, accepted) in [
        (&before, &old_token, true),
        (&during, &old_token, true),
        (&during, &new_token, true),
        (&after, &new_token, true),
        (&after, &old_token, false),
        (&before, &new_token, false),
    ] {
        let response = get_with(&host.base_url, "/api/v1/auth/me", token).await;
        if accepted {
            expect_status(response, 200).await;
        } else {
            expect_invalid_token(response, "a token of a removed signing key").await;
        }
    }
    drop((before, during, after));
    let _ = std::fs::remove_dir_all(&state);
}

#[tokio::test]
async fn rotating_the_bootstrap_key_ends_its_tokens() {
    let state = std::env::temp_dir().join(format!(
        "inventory-api-bootstrap-{}",
        crate::helpers::unique_suffix()
    ));
    std::fs::create_dir_all(&state).unwrap();
    let first = format!("bootstrap-{}", crate::helpers::unique_suffix());
    let host = host_with(&state, &first, &[]);
    let token = token_from(&host.base_url, 0, &first).await;
    expect_status(
        get_with(&host.base_url, "/api/v1/auth/me", &token).await,
        200,
    )
    .await;
    drop(host);
    // The same deployment with admin_api_key rotated.
    let rotated = host_with(
        &state,
        &format!("bootstrap-{}", crate::helpers::unique_suffix()),
        &[],
    );
    expect_invalid_token(
        get_with(&rotated.base_url, "/api/v1/auth/me", &token).await,
        "old bootstrap key's token",
    )
    .await;
    drop(rotated);
    let _ = std::fs::remove_dir_all(&state);
}

#[tokio::test]
async fn without_a_signing_key_no_tokens_are_issued_and_keys_still_work() {
    let app = spawn_app_with(&[("token_signing_key", "")]).await;
    if app.is_live() {
        eprintln!("skipped on a live server: needs token_signing_key empty");
        return;
    }
    let key = app.create_key("viewer").await;
    let response = app
        .token_request(
            "grant_type=client_credentials",
            Some((&key.id.to_string(), &key.secret)),
        )
        .await;
    expect_oauth_error(response, 400, "unsupported_grant_type").await;
    let forged = sign(
        &json!({ "alg": "HS256", "typ": "at+jwt", "kid": "0000000000000000" }),
        &json!({ "sub": key.id.to_string() }),
        TEST_TOKEN_SIGNING_KEY,
    );
    expect_invalid_token(app.get("/api/v1/products", &forged).await, "no signing key").await;
    expect_status(app.get("/api/v1/products", &key.secret).await, 200).await;
}

// --- What a token saves ------------------------------------------------------------------

#[tokio::test]
async fn a_get_with_a_token_makes_one_storage_call_fewer_than_with_a_key() {
    let app = spawn_app().await;
    let Some(host) = app.local_host() else {
        eprintln!("skipped on a live server: counts the host's statements");
        return;
    };
    let key = app.create_key("viewer").await;
    let token = app.token_for(key.id, &key.secret, None).await;
    let product = app.stocked_product(1.0, 1).await;
    let path = format!("/api/v1/products/{product}");
    let calls = || {
        [
            host.sqlite_statements() + host.postgres_statements(),
            host.key_value_calls(),
        ]
    };
    // A request on a new instance (the host drops one after 1 s idle, which a loaded
    // machine reaches between two requests) also checks its connection's schema, so
    // each credential's cost is its cheapest of several requests: the warm one.
    let mut costs = Vec::new();
    for credential in [&key.secret, &token] {
        let mut cheapest = [u64::MAX; 2];
        for _ in 0..5 {
            let before = calls();
            expect_status(app.get(&path, credential).await, 200).await;
            let after = calls();
            for (kind, cheapest) in cheapest.iter_mut().enumerate() {
                *cheapest = (*cheapest).min(after[kind] - before[kind]);
            }
        }
        costs.push(cheapest);
    }
    // With a key: its row and the product, and the rate limiter's increment. With a
    // token: the product and the same increment, which also tells a revoked key's bar.
    assert_eq!(
        costs,
        [[2, 1], [1, 1]],
        "[database statements, key-value calls] for GET product with a key, then with a token"
    );
}

#[tokio::test]
async fn a_restart_that_loses_the_revocation_bars_refuses_the_tokens_issued_before_it() {
    // The counters (and bars) of these hosts live in memory, as in runtime-config.toml:
    // a restart loses them.
    let state = std::env::temp_dir().join(format!(
        "inventory-api-amnesia-{}",
        crate::helpers::unique_suffix()
    ));
    std::fs::create_dir_all(&state).unwrap();
    let bootstrap = format!("bootstrap-{}", crate::helpers::unique_suffix());
    let client = reqwest::Client::new();
    let first = host_with(&state, &bootstrap, &[]);
    let key_for = async |base_url: &str| {
        let response = send(
            client
                .post(format!("{base_url}/api/v1/auth/keys"))
                .header("X-API-Key", &bootstrap)
                .json(&json!({ "owner": "amnesia", "role": "viewer" })),
        )
        .await;
        let body = expect_json(response, 201).await;
        (
            body["id"].as_i64().unwrap(),
            body["api_key"].as_str().unwrap().to_owned(),
        )
    };
    let (revoked_id, revoked_secret) = key_for(&first.base_url).await;
    let (kept_id, kept_secret) = key_for(&first.base_url).await;
    let revoked_token = token_from(&first.base_url, revoked_id, &revoked_secret).await;
    let kept_token = token_from(&first.base_url, kept_id, &kept_secret).await;
    let revoke = client
        .delete(format!("{}/api/v1/auth/keys/{revoked_id}", first.base_url))
        .header("X-API-Key", &bootstrap);
    expect_status(send(revoke).await, 204).await;
    expect_invalid_token(
        get_with(&first.base_url, "/api/v1/auth/me", &revoked_token).await,
        "revoked",
    )
    .await;
    // Past the clock leeway, the instance restarts with an empty key-value store.
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    drop(first);
    let second = host_with(&state, &bootstrap, &[]);
    expect_invalid_token(
        get_with(&second.base_url, "/api/v1/auth/me", &revoked_token).await,
        "a revoked key's token after its bar was lost",
    )
    .await;
    // The price: every token from before the loss is refused; its key gets a new one.
    expect_invalid_token(
        get_with(&second.base_url, "/api/v1/auth/me", &kept_token).await,
        "pre-restart token",
    )
    .await;
    let fresh = token_from(&second.base_url, kept_id, &kept_secret).await;
    expect_status(
        get_with(&second.base_url, "/api/v1/auth/me", &fresh).await,
        200,
    )
    .await;
    drop(second);
    let _ = std::fs::remove_dir_all(&state);
}

/// `text` with its next-to-last character replaced by another one. Not the last: in a
/// JWT's base64url signature the last character's low bits carry no data, so changing
/// it may leave the signature as it was; and a replacement that happened to equal the
/// character would leave the credential valid.
fn with_a_character_changed(text: &str) -> String {
    let at = text.len() - 2;
    let replacement = if &text[at..at + 1] == "0" { "1" } else { "0" };
    format!("{}{replacement}{}", &text[..at], &text[at + 1..])
}
