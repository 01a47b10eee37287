"""The operator console in a real browser: sign-in (a key's id and the key exchanged for
an access token; the session's end at the token's expiry or its key's revocation), roles,
dashboard, order workflow, product editing with conflict detection, keys, webhooks, safety
(text-only rendering, CSP, what the tab stores) and keyboard-only use.

Every test arranges its data through the API with unique names, acts in the page, and
checks the outcome through the API where the issue asks for it.
"""

import base64
import json
import re
import time
import urllib.parse

import pytest
from playwright.sync_api import expect

from conftest import (SERVER_CLOCK_LEEWAY, SHORT_TOKEN_LIFETIME, endpoint_id_in_row, open_console,
                      sign_in, signature_matches, stored_session, unique)

CSP_DIRECTIVES = [
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "connect-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
]


@pytest.mark.parametrize("path", [
    "/console/", "/console/app.css", "/console/js/app.js", "/console/no-such-file", "/console",
])
def test_every_console_response_carries_the_security_headers(api, path):
    response = api.raw("GET", path, key="")
    assert response.status in (200, 308, 404), response.status
    policy = response.headers["Content-Security-Policy"]
    for directive in CSP_DIRECTIVES:
        assert directive in policy
    assert "unsafe" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "charset=utf-8" in response.headers["Content-Type"] or response.status == 308


def test_a_browser_asking_for_the_root_is_sent_to_the_console(api, page, base_url):
    response = api.raw("GET", "/", key="", headers={"Accept": "text/html"})
    assert response.status == 303
    assert response.headers["Location"] == "/console/"
    page.goto("/")
    expect(page).to_have_url(f"{base_url}/console/#/signin")


@pytest.mark.parametrize("wrong", ["key", "id", "another key's id"])
def test_a_wrong_id_or_key_shows_the_error_stays_on_sign_in_and_keeps_nothing(page, api, wrong):
    key, other = api.new_key("viewer"), api.new_key("viewer")
    attempt = {
        "key": {"id": key["id"], "api_key": key["api_key"] + "x"},
        "id": {"id": key["id"] + 1_000_000, "api_key": key["api_key"]},
        "another key's id": {"id": other["id"], "api_key": key["api_key"]},
    }[wrong]
    sign_in(page, attempt, expect_dashboard=False)

    expect(page.get_by_role("alert")).to_contain_text("The key id or the API key was not accepted")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_count(0)
    assert stored_session(page) == [{}, {}]


def test_an_id_that_is_not_a_number_is_refused_before_anything_is_sent(page, api):
    key = api.new_key("viewer")
    token_requests = []
    page.on("request", lambda request: "/auth/token" in request.url and token_requests.append(request))
    sign_in(page, {"id": "first", "api_key": key["api_key"]}, expect_dashboard=False)

    expect(page.get_by_role("alert")).to_contain_text("Enter the key's id: a whole number")
    expect(page.get_by_label("Key id")).to_be_focused()
    assert token_requests == []


def test_signing_in_exchanges_id_and_key_once_for_a_token_and_keeps_only_the_token(
        page, context, admin_key, api):
    api_requests = []
    page.on("request", lambda request: "/api/v1/" in request.url and api_requests.append(request))
    sign_in(page, admin_key)

    expect(page.locator("#identity")).to_contain_text(admin_key["owner"])
    expect(page.locator("#identity")).to_contain_text("admin")
    expect(page.locator("#identity")).to_contain_text(re.compile(r"Session ends \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))
    expect(page.locator("#budget")).to_contain_text(re.compile(r"\d+ requests left"))
    expect(page.get_by_role("link", name="API keys")).to_be_visible()

    # One exchange, with HTTP Basic credentials (id and key form-urlencoded, RFC 6749
    # §2.3.1); every other call carries the token, none the key.
    exchanges = [request for request in api_requests if request.url.endswith("/api/v1/auth/token")]
    assert len(exchanges) == 1
    assert basic_credentials(exchanges[0]) == (str(admin_key["id"]), admin_key["api_key"])
    assert exchanges[0].post_data == "grant_type=client_credentials"
    others = [request for request in api_requests if request not in exchanges]
    assert others
    for request in others:
        assert request.headers.get("authorization", "").startswith("Bearer "), request.url
        assert "x-api-key" not in request.headers, request.url

    # The tab holds the token and its expiry, nothing else, and never the key.
    session, local = stored_session(page)
    assert local == {}
    assert context.cookies() == []
    assert admin_key["api_key"] not in json.dumps(session)
    token = session.pop("inventory-console.access-token")
    expires_at = int(session.pop("inventory-console.token-expires-at"))
    assert session == {}
    assert 0 < expires_at / 1000 - time.time() <= 3600
    assert api.with_token(token).json()["owner"] == admin_key["owner"]
    assert admin_key["api_key"] not in page.url
    assert admin_key["api_key"] not in page.evaluate("document.documentElement.outerHTML")
    assert admin_key["api_key"] not in page.evaluate(
        "[...document.querySelectorAll('input')].map((input) => input.value)")

    # A reload keeps the session (the token is still there); signing out forgets it.
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert stored_session(page) == [{}, {}]
    expect(page.get_by_role("link", name="API keys")).to_have_count(0)


def test_the_id_and_key_are_form_urlencoded_inside_the_basic_credentials(page):
    # RFC 6749 §2.3.1: a key may hold any character, ":" and "%" included.
    exchanges = []
    page.route("**/api/v1/auth/token", lambda route: (exchanges.append(route.request), route.fulfill(
        status=401, content_type="application/json", headers={"WWW-Authenticate": 'Basic realm="test"'},
        body='{"error": "invalid_client", "error_description": "Refused for the test"}')))
    sign_in(page, {"id": 12, "api_key": "a:b+c%d é~"}, expect_dashboard=False)

    expect(page.get_by_role("alert")).to_contain_text("Refused for the test")
    encoded = base64.b64encode(b"12:a%3Ab%2Bc%25d+%C3%A9%7E").decode()
    assert exchanges[0].headers["authorization"] == f"Basic {encoded}"
    assert stored_session(page) == [{}, {}]


def test_the_sign_in_says_the_bootstrap_key_has_id_0_and_the_run_s_admin_key_signs_in(
        page, api, bootstrap_key):
    # run.sh's key is the bootstrap key (id 0); a shared server's may be a minted one.
    me = api.call("GET", "/auth/me")
    open_console(page, "#/signin")
    expect(page.get_by_text("The bootstrap key (the server's admin_api_key) signs in with id 0.")).to_be_visible()

    sign_in(page, {"id": me["id"], "api_key": bootstrap_key})
    expect(page.locator("#identity")).to_contain_text(me["owner"])


def test_the_console_signs_out_when_its_token_expires(page, api):
    # The page's clock is the test's, so the token's full lifetime passes in an instant;
    # the server's clock is not, so what reacts is the console itself.
    key = api.new_key("viewer")
    page.clock.install()
    sign_in(page, key)
    lifetime_ms = page.evaluate(
        "Number(sessionStorage.getItem('inventory-console.token-expires-at')) - Date.now()")

    page.clock.fast_forward(lifetime_ms - 2_000)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.locator("#identity")).to_contain_text(key["owner"])

    page.clock.fast_forward(2_000)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("alert")).to_contain_text("Your session has ended: its access token expired")
    expect(page.locator("#identity")).to_be_empty()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_count(0)
    assert stored_session(page) == [{}, {}]


def test_a_real_token_expiry_signs_out_on_time_and_the_server_refuses_the_token(
        short_token_page, short_token_server):
    page, api = short_token_page, short_token_server.api
    key = api.new_key("admin")
    started = time.monotonic()
    sign_in(page, key)
    token = stored_session(page)[0]["inventory-console.access-token"]
    assert api.with_token(token).status == 200

    # Nobody touches the page: the console signs itself out when the token expires.
    expect(page.get_by_role("alert")).to_contain_text("Your session has ended: its access token expired",
                                                      timeout=(SHORT_TOKEN_LIFETIME + 5) * 1000)
    assert time.monotonic() - started >= SHORT_TOKEN_LIFETIME
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert stored_session(page) == [{}, {}]

    # The server refuses the token too, once its clock leeway is over.
    refused = wait_for_refusal(api, token)
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert refused.json()["code"] == "UNAUTHORIZED"


def test_a_console_whose_timer_did_not_fire_signs_out_when_the_server_refuses_its_expired_token(
        short_token_page, short_token_server):
    # A tab asleep in the background may miss its timer: the page's clock stands still
    # here, so the console believes its token valid while the server's time runs out.
    page, api = short_token_page, short_token_server.api
    key = api.new_key("admin")
    page.clock.install()
    sign_in(page, key)
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 0.5)
    token = stored_session(page)[0]["inventory-console.access-token"]
    wait_for_refusal(api, token)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
    expect(page.get_by_role("alert")).to_contain_text("Your session has ended: the API no longer accepts")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("heading", level=1, name="Orders")).to_have_count(0)
    assert stored_session(page) == [{}, {}]


@pytest.mark.parametrize("next_action", ["navigating", "confirming an order"])
def test_revoking_the_signed_in_key_signs_the_console_out_at_its_next_action(page, api, next_action):
    key = api.new_key("admin")
    order = api.order(api.product()["id"])
    sign_in(page, key)
    if next_action == "confirming an order":
        open_console(page, f"#/orders/{order['id']}")
        expect(page.get_by_role("button", name="Confirm order")).to_be_visible()
    # The page must be idle when the key is revoked: a dashboard request still in flight
    # would meet the revocation first and sign out before the action under test.
    expect(page.locator("main[aria-busy]")).to_have_count(0)

    api.call("DELETE", f"/auth/keys/{key['id']}")
    if next_action == "navigating":
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Products").click()
    else:
        page.get_by_role("button", name="Confirm order").click()

    expect(page.get_by_role("alert")).to_contain_text("Your session has ended: the API no longer accepts")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.locator("main h1")).to_have_count(1)
    expect(page.locator("#identity")).to_be_empty()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_count(0)
    assert stored_session(page) == [{}, {}]
    assert api.call("GET", f"/orders/{order['id']}")["status"] == "pending"


def test_a_viewer_is_not_offered_admin_controls(page, api):
    viewer = api.new_key("viewer")
    product = api.product(name=unique("Viewer visible"))
    own_order = api.order(product["id"], key=viewer["api_key"])
    sign_in(page, viewer)

    expect(page.locator("#identity")).to_contain_text("viewer")
    expect(page.get_by_role("link", name="API keys")).to_have_count(0)
    expect(page.get_by_text("Stock below threshold")).to_have_count(0)
    expect(page.get_by_role("link", name=own_order["id"])).to_be_visible()

    open_console(page, f"#/products/{product['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(product["name"])
    expect(page.get_by_role("button", name="Save changes")).to_have_count(0)
    expect(page.get_by_role("button", name="Adjust stock")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete product")).to_have_count(0)

    open_console(page, f"#/orders/{own_order['id']}")
    expect(page.get_by_role("button", name="Cancel order")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm order")).to_have_count(0)

    open_console(page, "#/products")
    expect(page.get_by_role("link", name="New product")).to_have_count(0)
    open_console(page, "#/keys")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not available")
    expect(page.get_by_role("link", name="Webhooks")).to_have_count(0)
    open_console(page, "#/webhooks")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not available")


def test_the_dashboard_shows_a_product_that_fell_below_its_threshold(page, api, admin_key):
    product = api.product(name=unique("Nearly gone"), stock=5, threshold=4)
    api.order(product["id"], quantity=3)
    sign_in(page, admin_key)

    low_stock = page.get_by_role("region", name="Stock below threshold")
    link = low_stock.get_by_role("link", name=product["name"])
    expect(link).to_be_visible()
    expect(low_stock.get_by_role("row", name=re.compile(re.escape(product["name"])))).to_contain_text("2")
    expect(page.get_by_role("group", name="Today")).to_contain_text("Revenue")
    expect(page.locator("svg.chart rect.bar")).to_have_count(30)

    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(product["name"])


def test_confirm_then_ship_from_the_order_page_changes_the_order(page, api, admin_key):
    product = api.product()
    order = api.order(product["id"], quantity=2)
    sign_in(page, admin_key)
    open_console(page, f"#/orders/{order['id']}")

    page.get_by_role("button", name="Confirm order").click()
    expect(page.get_by_role("status").filter(has_text="Order confirmed.")).to_be_visible()
    assert api.call("GET", f"/orders/{order['id']}")["status"] == "confirmed"

    page.get_by_role("button", name="Mark as shipped").click()
    expect(page.get_by_role("status").filter(has_text="shipped")).to_be_visible()
    assert api.call("GET", f"/orders/{order['id']}")["status"] == "shipped"
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)


def test_cancel_from_the_order_page_cancels_and_restores_stock(page, api, admin_key):
    product = api.product(stock=10)
    order = api.order(product["id"], quantity=4)
    sign_in(page, admin_key)
    open_console(page, f"#/orders/{order['id']}")

    page.get_by_role("button", name="Cancel order").click()
    page.get_by_role("button", name="Yes, cancel order").click()
    expect(page.get_by_role("status").filter(has_text="Order cancelled")).to_be_visible()
    assert api.call("GET", f"/orders/{order['id']}")["status"] == "cancelled"
    assert api.call("GET", f"/products/{product['id']}")["stock_quantity"] == 10


def test_a_refused_transition_is_reported_not_swallowed(page, api, admin_key):
    product = api.product()
    order = api.order(product["id"])
    sign_in(page, admin_key)
    open_console(page, f"#/orders/{order['id']}")
    expect(page.get_by_role("button", name="Confirm order")).to_be_visible()
    # Someone else moves the order on while the page is open.
    api.call("POST", f"/orders/{order['id']}/cancel")

    page.get_by_role("button", name="Confirm order").click()
    expect(page.get_by_role("alert")).to_contain_text("INVALID_STATUS_TRANSITION")


@pytest.mark.parametrize("status, headers, expected", [
    (429, {"Retry-After": "17"}, "Try again in 17 s"),
    (503, {}, "temporarily unavailable"),
])
def test_rate_limit_and_unavailability_are_explained(page, api, admin_key, status, headers, expected):
    product = api.product()
    order = api.order(product["id"])
    sign_in(page, admin_key)
    open_console(page, f"#/orders/{order['id']}")
    # The real limits are set high for the suite; the browser sees a faked refusal.
    page.route("**/api/v1/orders/*/status", lambda route: route.fulfill(
        status=status, content_type="application/json", headers=headers,
        body='{"error": "Refused for the test", "code": "REFUSED"}'))

    page.get_by_role("button", name="Confirm order").click()
    expect(page.get_by_role("alert")).to_contain_text(expected)
    assert api.call("GET", f"/orders/{order['id']}")["status"] == "pending"


def test_a_stale_edit_gets_the_conflict_message_and_can_reload(page, api, admin_key):
    product = api.product(name=unique("Before"))
    sign_in(page, admin_key)
    open_console(page, f"#/products/{product['id']}")
    name = page.get_by_label("Name", exact=True)
    expect(name).to_have_value(product["name"])

    changed_elsewhere = unique("Changed elsewhere")
    api.call("PATCH", f"/products/{product['id']}", {"name": changed_elsewhere})
    name.fill(unique("Mine"))
    page.get_by_role("button", name="Save changes").click()

    expect(page.get_by_role("alert")).to_contain_text("Someone else changed this")
    assert api.call("GET", f"/products/{product['id']}")["name"] == changed_elsewhere
    page.get_by_role("button", name="Reload the product").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value(changed_elsewhere)


def test_an_edit_is_saved_with_the_current_version(page, api, admin_key):
    product = api.product()
    sign_in(page, admin_key)
    open_console(page, f"#/products/{product['id']}")
    new_name = unique("Renamed")
    page.get_by_label("Name", exact=True).fill(new_name)
    page.get_by_label("Price (USD)").fill("7.05")
    page.get_by_role("button", name="Save changes").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(new_name)
    saved = api.call("GET", f"/products/{product['id']}")
    assert (saved["name"], saved["price_cents"]) == (new_name, 705)


def test_product_create_search_stock_adjustment_delete_and_restore(page, api, admin_key):
    word = unique("Gizmo").replace("-", "")
    sign_in(page, admin_key)
    open_console(page, "#/products/new")
    page.get_by_label("SKU").fill(unique("SKU"))
    page.get_by_label("Name", exact=True).fill(f"{word} deluxe")
    page.get_by_label("Category").fill("Console tests")
    page.get_by_label("Price (USD)").fill("3.99")
    page.get_by_label("Initial stock").fill("8")
    page.get_by_role("button", name="Create product").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{word} deluxe")
    product_id = int(page.url.rsplit("/", 1)[1])

    open_console(page, "#/products")
    page.get_by_role("searchbox", name="Search").fill(word.lower())
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=f"{word} deluxe").click()

    page.get_by_label("Change (+ adds, − removes)").fill("-3")
    page.get_by_label("Reason").fill("damaged in transit")
    page.get_by_role("button", name="Adjust stock").click()
    expect(page.get_by_role("status").filter(has_text="Stock is now 5")).to_be_visible()
    expect(page.get_by_role("region", name="Stock ledger")).to_contain_text("damaged in transit")
    assert api.call("GET", f"/products/{product_id}")["stock_quantity"] == 5

    page.get_by_role("button", name="Delete product").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_role("button", name="Restore this product")).to_be_visible()
    assert api.raw("GET", f"/api/v1/products/{product_id}").status == 404
    page.get_by_role("button", name="Restore this product").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{word} deluxe")
    assert api.call("GET", f"/products/{product_id}")["deleted_at"] is None


def test_orders_list_filters_by_status_and_pages(page, api, admin_key):
    product = api.product(stock=100)
    orders = [api.order(product["id"]) for _ in range(3)]
    for order in orders:
        api.call("PATCH", f"/orders/{order['id']}/status", {"status": "confirmed"})
    sign_in(page, admin_key)
    open_console(page, "#/orders")
    page.get_by_label("Status").select_option("confirmed")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"#/orders\?status=confirmed$"))
    for row in page.get_by_role("row").all()[1:]:
        expect(row).to_contain_text("confirmed")
    # Paging: the next-page link carries the API's cursor in the route.
    next_link = page.get_by_role("link", name="Next page")
    if next_link.count():
        next_link.click()
        expect(page).to_have_url(re.compile(r"cursor="))


def test_keys_are_minted_shown_once_and_revoked(page, api, admin_key):
    owner = unique("ui minted")
    sign_in(page, admin_key)
    open_console(page, "#/keys")
    page.get_by_label("Owner").fill(owner)
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Create key").click()

    secret = page.get_by_label("New API key").input_value()
    minted = api.call("GET", "/auth/me", key=secret)
    assert minted["owner"] == owner
    expect(page.get_by_text(f"created with id {minted['id']}.")).to_be_visible()
    expect(page.get_by_role("button", name="Copy key")).to_be_visible()

    row = page.get_by_role("row").filter(has_text=owner)
    row.get_by_role("button", name=re.compile("^Revoke")).click()
    page.get_by_role("button", name="Yes, revoke").click()
    expect(page.get_by_role("row").filter(has_text=owner)).to_contain_text("revoked")
    assert api.raw("GET", "/api/v1/auth/me", key=secret).status == 401


def test_a_webhook_endpoint_gets_signed_deliveries_that_can_be_redelivered_and_is_deleted(
        page, api, admin_key, webhook_receiver, webhooks_to_delete):
    description = unique("console hook")
    sign_in(page, admin_key)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")

    # Create: one event type, chosen by checkbox; the secret is shown once.
    page.get_by_label("URL").fill(webhook_receiver.url)
    page.get_by_label("All event types").uncheck()
    page.get_by_label("product.created").check()
    page.get_by_label("Description").fill(description)
    page.get_by_role("button", name="Create endpoint").click()
    secret_field = page.get_by_label("Signing secret")
    expect(secret_field).to_have_value(re.compile(r"^whsec_"))
    secret = secret_field.input_value()
    expect(page.get_by_text("shown only once")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=description)
    expect(row).to_contain_text(webhook_receiver.url)
    endpoint_id = endpoint_id_in_row(row)
    webhooks_to_delete.append(endpoint_id)
    stored = api.call("GET", f"/webhooks/{endpoint_id}")
    assert (stored["url"], stored["events"], stored["enabled"], stored["description"]) == (
        webhook_receiver.url, ["product.created"], True, description)
    assert "secret" not in stored

    page.reload()
    expect(page.get_by_role("row").filter(has_text=description)).to_contain_text("product.created")
    expect(page.get_by_label("Signing secret")).to_have_count(0)

    # An event is delivered right after the request that recorded it, signed.
    product = api.product(name=unique("Hooked product"))
    first = webhook_receiver.wait_for(1)[0]
    event = json.loads(first["body"])
    assert (event["type"], event["data"]["id"]) == ("product.created", product["id"])
    assert first["path"] == "/hook"
    assert first["headers"]["webhook-id"] == event["id"]
    assert first["headers"]["content-type"].startswith("application/json")
    assert signature_matches(first, secret)

    page.reload()
    expect(page.get_by_role("region", name="Recent events", exact=True)).to_contain_text(product["name"])
    page.get_by_role("row").filter(has_text=description).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Webhook endpoint {endpoint_id}")
    wait_for_delivery(api, endpoint_id, lambda delivery: delivery["status"] == "succeeded")
    page.get_by_role("button", name="Run due deliveries now").click()
    expect(page.get_by_role("status").filter(has_text="attempted")).to_contain_text(
        re.compile(r"\d+ attempted, \d+ succeeded, \d+ failed"))
    delivery_row = page.get_by_role("row").filter(has_text=event["id"])
    expect(delivery_row).to_contain_text("succeeded")
    expect(delivery_row).to_contain_text("204")

    # Rotating shows the new secret once; the redelivery is signed with it, same webhook-id.
    page.get_by_role("button", name="Rotate secret").click()
    page.get_by_role("button", name="Yes, rotate").click()
    new_secret_field = page.get_by_label("New signing secret")
    expect(new_secret_field).to_have_value(re.compile(r"^whsec_"))
    new_secret = new_secret_field.input_value()
    assert new_secret != secret
    expect(page.get_by_text("shown only once")).to_be_visible()

    delivery_row.get_by_role("button", name=re.compile("^Redeliver")).click()
    expect(page.get_by_role("status").filter(has_text="due again now")).to_be_visible()
    # The API may send it at once; running the due deliveries sends it if not.
    page.get_by_role("button", name="Run due deliveries now").click()
    second = webhook_receiver.wait_for(2)[1]
    assert second["headers"]["webhook-id"] == first["headers"]["webhook-id"]
    assert json.loads(second["body"])["id"] == event["id"]
    assert signature_matches(second, new_secret)
    assert not signature_matches(second, secret)
    wait_for_delivery(api, endpoint_id,
                      lambda delivery: delivery["status"] == "succeeded" and delivery["attempts"] >= 2)
    page.get_by_role("button", name="Refresh deliveries").click()
    expect(delivery_row).to_contain_text("succeeded")

    # Disable and enable again, then delete (confirmed in the page).
    page.get_by_role("button", name="Disable endpoint").click()
    expect(page.get_by_role("button", name="Enable endpoint")).to_be_focused()
    assert api.call("GET", f"/webhooks/{endpoint_id}")["enabled"] is False
    page.get_by_role("button", name="Enable endpoint").click()
    expect(page.get_by_role("button", name="Disable endpoint")).to_be_visible()
    assert api.call("GET", f"/webhooks/{endpoint_id}")["enabled"] is True

    page.get_by_role("button", name="Delete endpoint").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    expect(page.locator("#notice")).to_contain_text(f"Webhook endpoint {endpoint_id} deleted")
    expect(page.get_by_role("row").filter(has_text=description)).to_have_count(0)
    assert api.raw("GET", f"/api/v1/webhooks/{endpoint_id}").status == 404


def test_a_refused_webhook_url_is_explained(page, admin_key):
    sign_in(page, admin_key)
    open_console(page, "#/webhooks")
    page.get_by_label("URL").fill("ftp://127.0.0.1/hook")
    page.get_by_role("button", name="Create endpoint").click()
    expect(page.get_by_role("alert")).to_contain_text("VALIDATION_ERROR")
    expect(page.get_by_label("Signing secret")).to_have_count(0)


def test_a_hostile_product_name_is_shown_as_text_and_runs_nothing(page, api, admin_key):
    hostile = '<img src=x onerror=alert(1)>'
    word = unique("hostile").replace("-", "")
    product = api.product(name=hostile, stock=1, threshold=5, category='<script>alert(2)</script>',
                          description=f"{word} <b onmouseover=alert(3)>bold</b>")
    order = api.order(product["id"])
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, admin_key)

    pages = [
        ("", page.get_by_role("region", name="Stock below threshold")),
        (f"#/products/{product['id']}", page.get_by_role("heading", level=1)),
        (f"#/orders/{order['id']}", page.get_by_role("table", name="Lines")),
        (f"#/products?search={word}", page.get_by_role("table")),
    ]
    for route, where in pages:
        open_console(page, route or "#/dashboard")
        expect(where).to_contain_text(hostile)
        assert page.locator("main img").count() == 0
        assert page.locator("main script").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []


def test_keyboard_only_from_sign_in_to_confirming_an_order(page, api, admin_key):
    product = api.product()
    order = api.order(product["id"])
    keyboard = page.keyboard

    page.goto("/console/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    tab_to(page, lambda: page.evaluate("document.activeElement.name") == "client-id")
    keyboard.type(str(admin_key["id"]))
    keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "api-key"
    keyboard.type(admin_key["api_key"])
    keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")

    tab_to(page, lambda: focused_text(page) == "Orders")
    keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Orders")
    tab_to(page, lambda: focused_text(page) == order["id"])
    keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text(order["id"])
    tab_to(page, lambda: focused_text(page) == "Confirm order")
    keyboard.press("Enter")

    expect(page.get_by_role("status").filter(has_text="Order confirmed.")).to_be_visible()
    assert api.call("GET", f"/orders/{order['id']}")["status"] == "confirmed"
    # Focus landed on the outcome, so the next step is one Tab away.
    tab_to(page, lambda: focused_text(page) == "Mark as shipped", limit=5)


def test_a_page_that_loads_late_neither_replaces_the_next_page_nor_takes_its_focus(page, admin_key):
    # The dashboard's reports are held back until the operator has moved on.
    held = []
    page.route("**/api/v1/reports/**", lambda route: held.append(route))
    sign_in(page, admin_key)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    wait_until(page, lambda: held)

    # While it loads, the operator tabs to a link: finishing must not move focus away.
    tab_to(page, lambda: focused_text(page) == "Orders")
    release(held)
    page.wait_for_timeout(300)
    assert focused_text(page) == "Orders"

    # A page that finishes after the operator left does not come back over the next one.
    page.evaluate("location.hash = '#/products'")
    expect(page.get_by_role("heading", level=1)).to_have_text("Products")
    page.evaluate("location.hash = '#/dashboard'")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    wait_until(page, lambda: held)
    page.get_by_role("link", name="Orders").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Orders")
    release(held)
    page.wait_for_timeout(300)
    expect(page.get_by_role("heading", level=1)).to_have_text("Orders")


def basic_credentials(request):
    """The (id, secret) of a request's HTTP Basic credentials, form-decoded."""
    scheme, encoded = request.headers["authorization"].split(" ", 1)
    assert scheme == "Basic"
    client_id, secret = base64.b64decode(encoded).decode().split(":", 1)
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)


def wait_for_refusal(api, token):
    """The server's 401 for `token`, once its lifetime and the clock leeway have passed."""
    deadline = time.monotonic() + SHORT_TOKEN_LIFETIME + SERVER_CLOCK_LEEWAY + 10
    while True:
        response = api.with_token(token)
        if response.status != 200:
            assert response.status == 401, (response.status, response.body)
            return response
        if time.monotonic() > deadline:
            raise AssertionError("the server still accepts the expired token")
        time.sleep(0.25)


def wait_for_delivery(api, endpoint_id, condition, timeout=20):
    """The endpoint's newest delivery once `condition(delivery)` holds (through the API)."""
    deadline = time.monotonic() + timeout
    while True:
        deliveries = api.call("GET", f"/webhooks/{endpoint_id}/deliveries")
        if deliveries and condition(deliveries[0]):
            return deliveries[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"the delivery never got there: {deliveries}")
        time.sleep(0.1)


def wait_until(page, condition, attempts=100):
    """Lets the page run until `condition()` holds; fails after `attempts` × 20 ms."""
    for _ in range(attempts):
        if condition():
            return
        page.wait_for_timeout(20)
    raise AssertionError("the page never got there")


def release(held):
    """Lets the held requests through."""
    while held:
        held.pop().continue_()


def focused_text(page):
    return page.evaluate("(document.activeElement.textContent || '').trim()")


def tab_to(page, is_there, limit=60):
    """Presses Tab until `is_there()`; fails if focus never gets there."""
    for _ in range(limit):
        if is_there():
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached the control; focus is on {focused_text(page)!r}")
