//! Products: create, read, list, update (PUT/PATCH with If-Match), soft delete, restore,
//! validation, permissions and keyset pagination.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::auth_keys::is_rfc3339_utc;
use crate::helpers::{
    expect_error, expect_json, expect_status, next_link, product_body, send, spawn_app,
    unique_suffix, unique_word,
};

#[tokio::test]
async fn creating_a_product_returns_201_with_location_etag_and_every_field() {
    let app = spawn_app().await;
    let sku = format!("WM-{}", unique_suffix());
    let body = json!({
        "sku": sku,
        "name": "Wireless Mouse",
        "description": "Two buttons and a wheel",
        "category": "Peripherals",
        "price": 19.99,
        "stock_quantity": 25,
        "low_stock_threshold": 5,
    });
    let response = app
        .post_json("/api/v1/products", &app.admin_key, &body)
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let product = expect_json(response, 201).await;

    let id = product["id"].as_i64().expect("integer id");
    assert_eq!(location, format!("/api/v1/products/{id}"));
    assert_eq!(etag, format!("\"{id}-1\""));
    assert_eq!(product["sku"], sku.as_str());
    assert_eq!(product["name"], "Wireless Mouse");
    assert_eq!(product["description"], "Two buttons and a wheel");
    assert_eq!(product["category"], "Peripherals");
    assert_eq!(product["price"], json!(19.99));
    assert_eq!(product["price_cents"], 1999);
    assert_eq!(product["stock_quantity"], 25);
    assert_eq!(product["reserved_quantity"], 0);
    assert_eq!(product["available_quantity"], 25);
    assert_eq!(product["low_stock_threshold"], 5);
    assert_eq!(product["version"], 1);
    assert!(is_rfc3339_utc(product["created_at"].as_str().unwrap()));
    assert_eq!(product["created_at"], product["updated_at"]);
    assert_eq!(product["deleted_at"], Value::Null);
    assert_eq!(
        product.as_object().unwrap().len(),
        15,
        "exactly the documented fields"
    );

    let fetched = app.get(&location, &app.admin_key).await;
    assert_eq!(fetched.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(expect_json(fetched, 200).await, product);
}

#[tokio::test]
async fn optional_product_fields_get_their_defaults() {
    let app = spawn_app().await;
    let sku = format!("MIN-{}", unique_suffix());
    let product = app
        .create_product(&json!({ "sku": sku, "name": "Minimal", "price": "5" }))
        .await;
    assert_eq!(product["description"], "");
    assert_eq!(product["category"], Value::Null);
    assert_eq!(product["stock_quantity"], 0);
    assert_eq!(product["low_stock_threshold"], 10);
    assert_eq!(product["price_cents"], 500);
}

#[tokio::test]
async fn whole_numbers_written_with_a_fraction_are_integers() {
    // JSON Schema's `integer` is any number with a zero fraction, so `25.0` is 25.
    let app = spawn_app().await;
    let sku = format!("WHOLE-{}", unique_suffix());
    let product = app
        .create_product(&json!({
            "sku": sku, "name": "Whole", "price": 1,
            "stock_quantity": 25.0, "low_stock_threshold": 5.0,
        }))
        .await;
    assert_eq!(product["stock_quantity"], 25);
    assert_eq!(product["low_stock_threshold"], 5);
}

#[tokio::test]
async fn prices_are_exact_cents_from_numbers_and_decimal_strings() {
    let app = spawn_app().await;
    for (price, cents) in [
        (json!(0.1), 10),
        (json!(0.29), 29),
        (json!(1.005e2), 10050),
        (json!("12.30"), 1230),
        (json!(7), 700),
    ] {
        let sku = format!("P-{}", unique_suffix());
        let product = app
            .create_product(&json!({ "sku": sku, "name": "Priced", "price": price }))
            .await;
        assert_eq!(product["price_cents"], cents, "price {price}");
    }
}

#[tokio::test]
async fn invalid_product_fields_get_400_naming_the_field_and_create_nothing() {
    let app = spawn_app().await;
    let tag = unique_word();
    let valid = || json!({ "sku": format!("{tag}-1"), "name": "Valid", "price": 1.5 });
    let with = |field: &str, value: Value| {
        let mut body = valid();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let cases = [
        (without("sku"), "sku"),
        (with("sku", json!("")), "sku"),
        (with("sku", json!("has space")), "sku"),
        (with("sku", json!("x".repeat(65))), "sku"),
        (with("sku", json!(123)), "sku"),
        (without("name"), "name"),
        (with("name", json!("")), "name"),
        (with("name", json!(["a"])), "name"),
        (with("name", json!("n".repeat(201))), "name"),
        (without("price"), "price"),
        (with("price", json!(19.999)), "price"),
        (with("price", json!(-1)), "price"),
        (with("price", json!("NaN")), "price"),
        (with("price", json!("1e3")), "price"),
        (with("price", json!(true)), "price"),
        (with("price", json!(100_000_000)), "price"),
        (with("stock_quantity", json!(-5)), "stock_quantity"),
        (with("stock_quantity", json!(2.5)), "stock_quantity"),
        (with("stock_quantity", json!("10")), "stock_quantity"),
        (
            with("low_stock_threshold", json!(-1)),
            "low_stock_threshold",
        ),
        (with("description", json!(5)), "description"),
        (with("category", json!({})), "category"),
        (with("version", json!(3)), "version"),
        (with("id", json!(1)), "id"),
        (with("colour", json!("red")), "colour"),
    ];
    for (body, field) in cases {
        let response = app
            .post_json("/api/v1/products", &app.admin_key, &body)
            .await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(
            error["details"][0]["field"], field,
            "body {body} gave {error}"
        );
    }
    let listed = app
        .get_all_pages(&format!("/api/v1/products?search={tag}"))
        .await;
    assert!(listed.is_empty(), "nothing was created: {listed:?}");
}

#[tokio::test]
async fn a_duplicate_sku_gets_409_conflict_ignoring_letter_case() {
    let app = spawn_app().await;
    let sku = format!("DUP-{}", unique_suffix());
    app.create_product(&json!({ "sku": sku, "name": "First", "price": 1 }))
        .await;
    for duplicate in [sku.clone(), sku.to_lowercase()] {
        let response = app
            .post_json(
                "/api/v1/products",
                &app.admin_key,
                &json!({ "sku": duplicate, "name": "Second", "price": 1 }),
            )
            .await;
        expect_error(response, 409, "CONFLICT").await;
    }
    let other = app
        .create_product(&json!({ "sku": format!("{sku}-B"), "name": "Other", "price": 1 }))
        .await;
    let response = app
        .patch_json(
            &format!("/api/v1/products/{}", other["id"]),
            &app.admin_key,
            &json!({ "sku": sku }),
        )
        .await;
    expect_error(response, 409, "CONFLICT").await;
}

#[tokio::test]
async fn put_replaces_writable_fields_and_bumps_the_version_without_touching_stock() {
    let app = spawn_app().await;
    let tag = unique_word();
    let product = app
        .create_product(&product_body(&tag, "Old Name", 10.0, 7))
        .await;
    let path = format!("/api/v1/products/{}", product["id"]);
    let new_sku = format!("{tag}-NEW");
    let response = app
        .put_json(
            &path,
            &app.admin_key,
            &json!({
                "sku": new_sku, "name": "New Name", "price": "12.50",
                "description": "Now with text", "category": "Tools", "low_stock_threshold": 3
            }),
        )
        .await;
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let updated = expect_json(response, 200).await;
    assert_eq!(updated["sku"], new_sku.as_str());
    assert_eq!(updated["name"], "New Name");
    assert_eq!(updated["price_cents"], 1250);
    assert_eq!(updated["description"], "Now with text");
    assert_eq!(updated["category"], "Tools");
    assert_eq!(updated["low_stock_threshold"], 3);
    assert_eq!(updated["stock_quantity"], 7);
    assert_eq!(updated["version"], 2);
    assert_eq!(etag, format!("\"{}-2\"", product["id"]));
    assert_eq!(updated["created_at"], product["created_at"]);

    // PUT without the optional fields resets them to their defaults.
    let reset = app
        .put_json(
            &path,
            &app.admin_key,
            &json!({ "sku": new_sku, "name": "N", "price": 1 }),
        )
        .await;
    let reset = expect_json(reset, 200).await;
    assert_eq!(reset["category"], Value::Null);
    assert_eq!(reset["low_stock_threshold"], 10);
    assert_eq!(reset["version"], 3);
}

#[tokio::test]
async fn patch_changes_only_the_given_fields() {
    let app = spawn_app().await;
    let tag = unique_word();
    let mut body = product_body(&tag, "Lamp", 30.0, 4);
    body["category"] = json!("Lighting");
    let product = app.create_product(&body).await;
    let path = format!("/api/v1/products/{}", product["id"]);

    let response = app
        .patch_json(&path, &app.admin_key, &json!({ "price": 27.5 }))
        .await;
    let patched = expect_json(response, 200).await;
    assert_eq!(patched["price_cents"], 2750);
    assert_eq!(patched["name"], product["name"]);
    assert_eq!(patched["category"], "Lighting");
    assert_eq!(patched["version"], 2);

    let cleared = app
        .patch_json(&path, &app.admin_key, &json!({ "category": null }))
        .await;
    // `null` means "not given" for PATCH; the category stays.
    assert_eq!(expect_json(cleared, 200).await["category"], "Lighting");
    let cleared = app
        .patch_json(&path, &app.admin_key, &json!({ "category": "" }))
        .await;
    assert_eq!(expect_json(cleared, 200).await["category"], Value::Null);
}

#[tokio::test]
async fn stock_and_read_only_fields_cannot_be_written_through_put_or_patch() {
    let app = spawn_app().await;
    let tag = unique_word();
    let product = app
        .create_product(&product_body(&tag, "Fixed", 1.0, 5))
        .await;
    let path = format!("/api/v1/products/{}", product["id"]);
    let full = |extra: (&str, Value)| {
        let mut body = json!({ "sku": product["sku"], "name": "Fixed", "price": 1 });
        body[extra.0] = extra.1;
        body
    };
    for (field, value) in [
        ("stock_quantity", json!(999)),
        ("version", json!(7)),
        ("price_cents", json!(1)),
        ("deleted_at", json!(null)),
    ] {
        let response = app
            .patch_json(&path, &app.admin_key, &json!({ field: value }))
            .await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], field);
        let response = app
            .put_json(&path, &app.admin_key, &full((field, value)))
            .await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], field);
    }
    assert_eq!(app.stock_of(product["id"].as_i64().unwrap()).await, 5);
}

#[tokio::test]
async fn a_stale_if_match_gets_412_and_a_current_one_succeeds() {
    let app = spawn_app().await;
    let tag = unique_word();
    let product = app
        .create_product(&product_body(&tag, "Versioned", 2.0, 1))
        .await;
    let path = format!("/api/v1/products/{}", product["id"]);
    let first_etag = format!("\"{}-1\"", product["id"]);

    let response = send(
        app.request(Method::PATCH, &path, Some(&app.admin_key))
            .header("If-Match", &first_etag)
            .json(&json!({ "name": "Versioned two" })),
    )
    .await;
    let second_etag = response.headers()["etag"].to_str().unwrap().to_string();
    expect_status(response, 200).await;

    for method in [Method::PATCH, Method::PUT, Method::DELETE] {
        let mut request = app
            .request(method.clone(), &path, Some(&app.admin_key))
            .header("If-Match", &first_etag);
        if method != Method::DELETE {
            request = request.json(&json!({ "sku": product["sku"], "name": "Lost", "price": 9 }));
        }
        expect_error(send(request).await, 412, "PRECONDITION_FAILED").await;
    }
    let current = expect_json(app.get(&path, &app.admin_key).await, 200).await;
    assert_eq!(
        current["name"], "Versioned two",
        "the stale writes changed nothing"
    );

    let response = send(
        app.request(Method::PATCH, &path, Some(&app.admin_key))
            .header("If-Match", format!("\"nope\", {second_etag}"))
            .json(&json!({ "name": "Versioned three" })),
    )
    .await;
    expect_status(response, 200).await;
    let response = send(
        app.request(Method::DELETE, &path, Some(&app.admin_key))
            .header("If-Match", "*"),
    )
    .await;
    expect_status(response, 204).await;
}

#[tokio::test]
async fn soft_deleted_products_vanish_from_get_list_and_search_until_restored() {
    let app = spawn_app().await;
    let tag = unique_word();
    let mut body = product_body(&tag, "Ghost Lamp", 3.0, 2);
    body["category"] = json!(tag);
    let product = app.create_product(&body).await;
    let id = product["id"].as_i64().unwrap();
    let path = format!("/api/v1/products/{id}");
    let visible = |items: Vec<Value>| items.iter().any(|item| item["id"] == id);

    expect_status(app.delete(&path, &app.admin_key).await, 204).await;
    expect_error(app.get(&path, &app.admin_key).await, 404, "NOT_FOUND").await;
    assert!(!visible(
        app.get_all_pages(&format!("/api/v1/products?search={tag}"))
            .await
    ));
    assert!(!visible(
        app.get_all_pages(&format!("/api/v1/products?category={tag}"))
            .await
    ));
    expect_error(app.delete(&path, &app.admin_key).await, 404, "NOT_FOUND").await;
    let response = app
        .patch_json(&path, &app.admin_key, &json!({ "name": "x" }))
        .await;
    expect_error(response, 404, "NOT_FOUND").await;

    let response = send(app.request(
        Method::POST,
        &format!("{path}/restore"),
        Some(&app.admin_key),
    ))
    .await;
    let restored = expect_json(response, 200).await;
    assert_eq!(restored["deleted_at"], Value::Null);
    assert_eq!(restored["stock_quantity"], 2);
    assert_eq!(
        restored["version"], 3,
        "delete and restore are both changes"
    );
    expect_status(app.get(&path, &app.admin_key).await, 200).await;
    assert!(visible(
        app.get_all_pages(&format!("/api/v1/products?search={tag}"))
            .await
    ));
    // Restoring an active product is a harmless no-op.
    let again = send(app.request(
        Method::POST,
        &format!("{path}/restore"),
        Some(&app.admin_key),
    ))
    .await;
    assert_eq!(expect_json(again, 200).await["version"], 3);
    let missing = send(app.request(
        Method::POST,
        "/api/v1/products/999999999/restore",
        Some(&app.admin_key),
    ))
    .await;
    expect_error(missing, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn a_pagination_walk_over_seven_products_with_limit_two_sees_each_once() {
    let app = spawn_app().await;
    let category = unique_word();
    let mut created = Vec::new();
    for index in 0..7 {
        let mut body = product_body(&category, &format!("Item {index}"), 1.0, index);
        body["category"] = json!(category);
        created.push(app.create_product(&body).await["id"].as_i64().unwrap());
    }

    let mut seen = Vec::new();
    let mut next = Some(format!("/api/v1/products?category={category}&limit=2"));
    let mut pages = 0;
    while let Some(path) = next.take() {
        let response = app.get(&path, &app.admin_key).await;
        next = next_link(&response);
        if let Some(link) = &next {
            assert!(
                link.contains(&format!("category={category}")),
                "filters kept: {link}"
            );
            assert!(link.contains("limit=2"), "{link}");
        }
        let page = expect_json(response, 200).await;
        let items = page.as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|item| item["id"].as_i64().unwrap()));
        pages += 1;
        if pages == 2 {
            // A product inserted mid-walk lands after the cursor and is seen once.
            let mut body = product_body(&category, "Late", 1.0, 0);
            body["category"] = json!(category);
            created.push(app.create_product(&body).await["id"].as_i64().unwrap());
        }
    }
    assert_eq!(pages, 4, "8 products, 2 per page");
    assert_eq!(seen, created, "every product once, in id order");
}

#[tokio::test]
async fn list_filters_by_category_price_range_and_stock() {
    let app = spawn_app().await;
    let category = unique_word();
    let mut ids = Vec::new();
    for (price, stock) in [(5.0, 0), (10.0, 3), (15.5, 0), (20.0, 8)] {
        let mut body = product_body(&category, "Filtered", price, stock);
        body["category"] = json!(category.to_uppercase());
        ids.push(app.create_product(&body).await["id"].as_i64().unwrap());
    }
    let cases = [
        ("", vec![0, 1, 2, 3]),
        ("&min_price=10", vec![1, 2, 3]),
        ("&max_price=15.50", vec![0, 1, 2]),
        ("&min_price=10&max_price=15.5", vec![1, 2]),
        ("&in_stock=true", vec![1, 3]),
        ("&in_stock=false", vec![0, 2]),
        ("&in_stock=true&min_price=15", vec![3]),
    ];
    for (filters, expected) in cases {
        let path = format!("/api/v1/products?category={category}{filters}");
        let found: Vec<i64> = app
            .get_all_pages(&path)
            .await
            .iter()
            .map(|item| item["id"].as_i64().unwrap())
            .collect();
        let expected: Vec<i64> = expected.iter().map(|index| ids[*index]).collect();
        assert_eq!(found, expected, "{filters}");
    }
}

#[tokio::test]
async fn invalid_list_parameters_get_400_naming_the_parameter() {
    let app = spawn_app().await;
    for (query, field) in [
        ("min_price=abc", "min_price"),
        ("max_price=-1", "max_price"),
        ("min_price=5&max_price=1", "min_price"),
        ("in_stock=maybe", "in_stock"),
        ("limit=0", "limit"),
        ("limit=500", "limit"),
        ("cursor=garbage", "cursor"),
    ] {
        let response = app
            .get(&format!("/api/v1/products?{query}"), &app.admin_key)
            .await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], field, "{query}");
    }
}

#[tokio::test]
async fn unknown_and_malformed_product_ids_are_404() {
    let app = spawn_app().await;
    for id in ["999999999", "0", "abc", "-3"] {
        let path = format!("/api/v1/products/{id}");
        expect_error(app.get(&path, &app.admin_key).await, 404, "NOT_FOUND").await;
        let response = app
            .patch_json(&path, &app.admin_key, &json!({ "name": "x" }))
            .await;
        expect_error(response, 404, "NOT_FOUND").await;
    }
}

#[tokio::test]
async fn viewers_may_read_the_catalog_but_not_change_it() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await.secret;
    let tag = unique_word();
    let product = app
        .create_product(&product_body(&tag, "Guarded", 4.0, 9))
        .await;
    let path = format!("/api/v1/products/{}", product["id"]);

    expect_status(app.get(&path, &viewer).await, 200).await;
    expect_status(app.get("/api/v1/products", &viewer).await, 200).await;
    expect_status(
        app.get(&format!("/api/v1/products?search={tag}"), &viewer)
            .await,
        200,
    )
    .await;

    let writes = [
        (
            Method::POST,
            "/api/v1/products".to_string(),
            Some(product_body(&tag, "No", 1.0, 1)),
        ),
        (
            Method::PUT,
            path.clone(),
            Some(json!({ "sku": product["sku"], "name": "No", "price": 1 })),
        ),
        (Method::PATCH, path.clone(), Some(json!({ "name": "No" }))),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/restore"), None),
        (
            Method::PATCH,
            format!("{path}/stock"),
            Some(json!({ "adjust": 1 })),
        ),
        (Method::GET, format!("{path}/stock-movements"), None),
    ];
    for (method, target, body) in writes {
        let mut request = app.request(method.clone(), &target, Some(&viewer));
        if let Some(body) = body {
            request = request.json(&body);
        }
        expect_error(send(request).await, 403, "FORBIDDEN").await;
    }
    let unchanged = expect_json(app.get(&path, &app.admin_key).await, 200).await;
    assert_eq!(unchanged, product, "nothing changed");

    // And without a key, every product route is 401.
    for (method, target) in [
        (Method::GET, path.clone()),
        (Method::GET, "/api/v1/products".into()),
    ] {
        expect_error(
            send(app.request(method, &target, None)).await,
            401,
            "UNAUTHORIZED",
        )
        .await;
    }
}

#[tokio::test]
async fn concurrent_creates_with_one_sku_create_exactly_one_product() {
    let app = spawn_app().await;
    let sku = format!("RACE-{}", unique_suffix());
    let body = json!({ "sku": sku, "name": "Race", "price": 1 });
    let responses =
        join_all((0..10).map(|_| app.post_json("/api/v1/products", &app.admin_key, &body))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        9,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn an_update_that_changes_nothing_keeps_the_version_and_etag() {
    let app = spawn_app().await;
    let tag = unique_word();
    let product = app
        .create_product(&product_body(&tag, "Steady", 5.0, 1))
        .await;
    let path = format!("/api/v1/products/{}", product["id"]);
    for body in [
        json!({}),
        json!({ "name": product["name"] }),
        json!({ "price": "5.00" }),
    ] {
        let response = app.patch_json(&path, &app.admin_key, &body).await;
        assert_eq!(
            response.headers()["etag"].to_str().unwrap(),
            format!("\"{}-1\"", product["id"])
        );
        assert_eq!(expect_json(response, 200).await, product, "{body}");
    }
}

#[tokio::test]
async fn empty_query_parameters_count_as_absent() {
    let app = spawn_app().await;
    let category = unique_word();
    let mut body = product_body(&category, "Formed", 1.0, 1);
    body["category"] = json!(format!("  {category} "));
    let id = app.create_product(&body).await["id"].clone();
    let path = format!(
        "/api/v1/products?search=&min_price=&in_stock=&limit=&cursor=&category=%20{category}"
    );
    let listed = expect_json(app.get(&path, &app.admin_key).await, 200).await;
    assert_eq!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].clone())
            .collect::<Vec<_>>(),
        vec![id]
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_gets_415_even_where_bodies_are_ignored() {
    let app = spawn_app().await;
    let tag = unique_word();
    let product = app
        .create_product(&product_body(&tag, "Kept", 1.0, 1))
        .await;
    let path = format!("/api/v1/products/{}", product["id"]);
    for (method, target) in [
        (Method::DELETE, path.clone()),
        (Method::POST, format!("{path}/restore")),
    ] {
        let response = send(
            app.request(method, &target, Some(&app.admin_key))
                .header("Content-Type", "text/plain")
                .body("please"),
        )
        .await;
        expect_error(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    }
    expect_status(app.get(&path, &app.admin_key).await, 200).await;
}
