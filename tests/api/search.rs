//! Full-text search (SQLite FTS5): words, prefixes, ranking, SKUs, hostile input, and an
//! index that stays exact through updates, deletes and restores.

use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_json, expect_status, product_body, spawn_app, unique_word};

async fn search_ids(app: &TestApp, text: &str) -> Vec<i64> {
    let query: String = url_encode(text);
    let response = app
        .get(&format!("/api/v1/products?search={query}"), &app.admin_key)
        .await;
    expect_json(response, 200)
        .await
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

async fn create(app: &TestApp, body: Value) -> i64 {
    app.create_product(&body).await["id"].as_i64().unwrap()
}

#[tokio::test]
async fn search_finds_words_in_name_description_sku_and_category_in_any_case() {
    let app = spawn_app().await;
    let tag = unique_word();
    let in_name = create(&app, product_body(&tag, "Wireless Mouse", 20.0, 1)).await;
    let mut body = product_body(&tag, "Plain Thing", 5.0, 1);
    body["description"] = json!("Works with a BLUETOOTH dongle");
    let in_description = create(&app, body).await;
    let mut body = product_body(&tag, "Other Thing", 5.0, 1);
    body["category"] = json!("Stationery");
    let in_category = create(&app, body).await;

    assert_eq!(
        search_ids(&app, &format!("WIRELESS {tag}")).await,
        vec![in_name]
    );
    assert_eq!(
        search_ids(&app, &format!("bluetooth {tag}")).await,
        vec![in_description]
    );
    assert_eq!(
        search_ids(&app, &format!("{tag} stationery")).await,
        vec![in_category]
    );
    let mut all = search_ids(&app, &tag).await;
    all.sort();
    assert_eq!(all, vec![in_name, in_description, in_category]);
}

#[tokio::test]
async fn a_prefix_of_the_last_word_matches() {
    let app = spawn_app().await;
    let tag = unique_word();
    let id = create(&app, product_body(&tag, "Wireless Keyboard", 30.0, 1)).await;
    assert_eq!(search_ids(&app, &format!("{tag} wirel")).await, vec![id]);
    assert_eq!(
        search_ids(&app, &format!("{tag} Wireless keyb")).await,
        vec![id]
    );
    // Only the last word is a prefix: a truncated earlier word does not match.
    assert!(
        search_ids(&app, &format!("wirel {tag} keyboard"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn multi_word_searches_need_every_word() {
    let app = spawn_app().await;
    let tag = unique_word();
    let both = create(&app, product_body(&tag, "Red Apple", 1.0, 1)).await;
    create(&app, product_body(&tag, "Green Apple", 1.0, 1)).await;
    create(&app, product_body(&tag, "Red Cherry", 1.0, 1)).await;
    assert_eq!(
        search_ids(&app, &format!("{tag} red apple")).await,
        vec![both]
    );
}

#[tokio::test]
async fn results_are_ranked_with_name_matches_before_description_matches() {
    let app = spawn_app().await;
    let tag = unique_word();
    let mut body = product_body(&tag, "Desk Mat", 9.0, 1);
    body["description"] = json!("Fits under any keyboard");
    let description_hit = create(&app, body).await;
    let name_hit = create(&app, product_body(&tag, "Mechanical Keyboard", 99.0, 1)).await;
    assert_eq!(
        search_ids(&app, &format!("keyboard {tag}")).await,
        vec![name_hit, description_hit]
    );
}

#[tokio::test]
async fn hyphenated_skus_are_found_whole_compact_or_by_prefix() {
    let app = spawn_app().await;
    let tag = unique_word();
    let sku = format!("{tag}-AB-12");
    let id = create(&app, json!({ "sku": sku, "name": "Gadget", "price": 3 })).await;
    for query in [
        sku.clone(),
        sku.to_lowercase(),
        format!("{tag}AB12"),
        format!("{tag} ab 12"),
        format!("{tag}-AB-1"),
    ] {
        assert_eq!(search_ids(&app, &query).await, vec![id], "query {query:?}");
    }
}

#[tokio::test]
async fn fts_syntax_typed_by_users_never_causes_an_error() {
    let app = spawn_app().await;
    let tag = unique_word();
    let id = create(&app, product_body(&tag, "Quoted Item", 1.0, 1)).await;
    for hostile in [
        "\"",
        "*",
        "-",
        ":",
        "(",
        ")",
        "\"unterminated",
        "a AND",
        "OR",
        "NOT x",
        "NEAR(a b",
        "col:term",
        "^start",
        "x*y",
        "'; DROP TABLE products; --",
        "{sku}:x",
        "   ",
        "%",
        "\\",
        "😀",
        "a\u{0}b",
    ] {
        let response = app
            .get(
                &format!("/api/v1/products?search={}", url_encode(hostile)),
                &app.admin_key,
            )
            .await;
        expect_status(response, 200).await;
    }
    assert_eq!(
        search_ids(&app, &format!("\"{tag}\" (quoted) -item*")).await,
        vec![id]
    );
}

#[tokio::test]
async fn the_index_follows_updates_deletes_and_restores() {
    let app = spawn_app().await;
    let tag = unique_word();
    let id = create(&app, product_body(&tag, "Copper Kettle", 40.0, 1)).await;
    let path = format!("/api/v1/products/{id}");

    let response = app
        .patch_json(
            &path,
            &app.admin_key,
            &json!({ "name": format!("Steel Teapot {tag}") }),
        )
        .await;
    expect_status(response, 200).await;
    assert!(search_ids(&app, &format!("{tag} copper")).await.is_empty());
    assert_eq!(search_ids(&app, &format!("{tag} teapot")).await, vec![id]);

    // Stock changes leave the index alone and the product findable.
    let response = app
        .patch_json(
            &format!("{path}/stock"),
            &app.admin_key,
            &json!({ "adjust": 5 }),
        )
        .await;
    expect_status(response, 200).await;
    assert_eq!(search_ids(&app, &format!("{tag} teapot")).await, vec![id]);

    expect_status(app.delete(&path, &app.admin_key).await, 204).await;
    assert!(search_ids(&app, &format!("{tag} teapot")).await.is_empty());
    let restore = crate::helpers::send(app.request(
        reqwest::Method::POST,
        &format!("{path}/restore"),
        Some(&app.admin_key),
    ))
    .await;
    expect_status(restore, 200).await;
    assert_eq!(search_ids(&app, &format!("{tag} teapot")).await, vec![id]);
}

#[tokio::test]
async fn search_combines_with_filters_and_pages_in_rank_order() {
    let app = spawn_app().await;
    let tag = unique_word();
    let mut ids = Vec::new();
    for index in 0..5 {
        let body = product_body(
            &tag,
            &format!("Candle {index}"),
            1.0 + index as f64,
            index % 2,
        );
        ids.push(create(&app, body).await);
    }
    let first_page = search_ids(&app, &tag).await;
    let mut walked = Vec::new();
    let mut next = Some(format!("/api/v1/products?search={tag}&limit=2"));
    while let Some(path) = next.take() {
        let response = app.get(&path, &app.admin_key).await;
        next = crate::helpers::next_link(&response);
        if let Some(link) = &next {
            assert!(link.contains(&format!("search={tag}")), "{link}");
        }
        let page = expect_json(response, 200).await;
        walked.extend(
            page.as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_i64().unwrap()),
        );
    }
    assert_eq!(walked, first_page, "paging keeps the ranked order");
    assert_eq!(walked.len(), 5);

    let mut in_stock = TestApp::ids(
        &app.get_all_pages(&format!(
            "/api/v1/products?search={tag}&in_stock=true&min_price=2"
        ))
        .await,
    );
    in_stock.sort();
    assert_eq!(in_stock, vec![ids[1], ids[3]]);
}

#[tokio::test]
async fn paging_a_search_is_not_disturbed_by_writes_to_other_products() {
    let app = spawn_app().await;
    let tag = unique_word();
    for index in 0..5 {
        let name = format!("Lantern {index}");
        create(&app, product_body(&tag, &name, 3.0, 1)).await;
    }
    let ranked = search_ids(&app, &tag).await;
    let response = app
        .get(
            &format!("/api/v1/products?search={tag}&limit=2"),
            &app.admin_key,
        )
        .await;
    let mut next = crate::helpers::next_link(&response);
    let mut walked = TestApp::ids(expect_json(response, 200).await.as_array().unwrap());

    // bm25 depends on the whole catalog: these change its word statistics (the number
    // of products and their average length), so every rank of the search above shifts.
    let other = unique_word();
    for index in 0..12 {
        let mut body = product_body(&other, &format!("Unrelated {index}"), 1.0, 1);
        body["description"] = json!("a long description with many words ".repeat(index + 1));
        create(&app, body).await;
    }

    while let Some(path) = next.take() {
        let response = app.get(&path, &app.admin_key).await;
        next = crate::helpers::next_link(&response);
        let page = expect_json(response, 200).await;
        walked.extend(TestApp::ids(page.as_array().unwrap()));
    }
    assert_eq!(walked, ranked, "every match once, in rank order");
}
