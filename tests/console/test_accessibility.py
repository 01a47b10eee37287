"""Accessibility and layout of every page: axe-core finds no serious or critical
violation, nothing scrolls sideways at 400 px, and each page is photographed at 1280 and
400 px wide under target/console-screenshots/.

axe-core is injected with `page.evaluate`, which runs through the DevTools protocol and
so is not subject to the page's Content-Security-Policy: the page keeps its real policy
during the check (no `bypass_csp`), so what is checked is what operators get.
"""

import re

import pytest
from playwright.sync_api import expect

from conftest import (DESKTOP, NARROW, ROOT, WebhookReceiver, endpoint_id_in_row, open_console,
                      screenshot, sign_in, unique)

AXE = ROOT / "target" / "console-node" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


@pytest.fixture(scope="module")
def axe_source():
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run tests/console/install.sh")
    return AXE.read_text()


@pytest.fixture(scope="module")
def sample(api):
    """A product below its threshold with an order and an active hold, so every page has
    content."""
    product = api.product(name=unique("Accessible widget"), stock=6, threshold=5,
                          description="Used by the accessibility check.")
    order = api.order(product["id"], quantity=2)
    api.hold({product["id"]: 1})
    return {"product": product, "order": order}


@pytest.fixture(scope="module")
def webhook(api):
    """A webhook endpoint with a delivery, so its page has a row to check."""
    with WebhookReceiver() as receiver:
        endpoint = api.call("POST", "/webhooks", {
            "url": receiver.url, "events": ["product.created"],
            "description": "Used by the accessibility check.",
        })
        try:
            api.product(name=unique("Announced widget"))
            receiver.wait_for(1)
            yield endpoint
        finally:
            api.raw("DELETE", f"/api/v1/webhooks/{endpoint['id']}")


def check(page, axe_source, name):
    """Waits for the page to settle, runs axe at both widths, takes the screenshots."""
    expect(page.locator("main[aria-busy]")).to_have_count(0)
    page.evaluate(axe_source)
    violations = axe_violations(page)
    page.set_viewport_size(NARROW)
    violations += axe_violations(page)
    page.set_viewport_size(DESKTOP)
    overflow = screenshot(page, name)
    blocking = [violation for violation in violations if violation["impact"] in BLOCKING]
    assert blocking == [], f"{name}: {blocking}"
    assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at 400 px wide"


def axe_violations(page):
    return page.evaluate("""async () => {
        const results = await axe.run(document, { resultTypes: ['violations'] });
        return results.violations.map((violation) => ({
            id: violation.id, impact: violation.impact, help: violation.help,
            targets: violation.nodes.map((node) => node.target.join(' ')).slice(0, 5),
        }));
    }""")


def test_sign_in_page(page, axe_source):
    open_console(page, "#/signin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    check(page, axe_source, "signin")


def test_sign_in_page_after_the_session_ended(page, axe_source, api):
    key = api.new_key("viewer")
    sign_in(page, key)
    api.call("DELETE", f"/auth/keys/{key['id']}")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Products").click()
    expect(page.get_by_role("alert")).to_contain_text("Your session has ended")
    check(page, axe_source, "signin-session-ended")


@pytest.mark.parametrize("name, route", [
    ("dashboard", "#/dashboard"),
    ("orders", "#/orders"),
    ("order", "#/orders/{order}"),
    ("products", "#/products"),
    ("product", "#/products/{product}"),
    ("product-new", "#/products/new"),
    ("keys", "#/keys"),
    ("webhooks", "#/webhooks"),
    ("webhook", "#/webhooks/{webhook}"),
])
def test_admin_pages(page, axe_source, admin_key, sample, webhook, name, route):
    sign_in(page, admin_key)
    open_console(page, route.format(order=sample["order"]["id"], product=sample["product"]["id"],
                                    webhook=webhook["id"]))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    if name == "dashboard":
        expect(page.get_by_role("region", name="Stock below threshold").get_by_role("table")).to_be_visible()
    if name == "webhook":
        expect(page.get_by_role("button", name=re.compile("^Redeliver"))).to_be_visible()
    if name == "product":
        expect(page.get_by_role("button", name=re.compile("^Release hold"))).to_be_visible()
    check(page, axe_source, name)


def test_a_new_webhook_secret_shown_once(page, axe_source, admin_key, api, webhook_receiver,
                                         webhooks_to_delete):
    description = unique("Accessible hook")
    sign_in(page, admin_key)
    open_console(page, "#/webhooks")
    page.get_by_label("URL").fill(webhook_receiver.url)
    page.get_by_label("Description").fill(description)
    page.get_by_role("button", name="Create endpoint").click()
    expect(page.get_by_label("Signing secret")).to_be_focused()
    webhooks_to_delete.append(endpoint_id_in_row(page.get_by_role("row").filter(has_text=description)))
    check(page, axe_source, "webhook-created")


def test_viewer_dashboard(page, axe_source, api):
    sign_in(page, api.new_key("viewer"))
    check(page, axe_source, "viewer-dashboard")


def test_viewer_product_page_with_a_hold(page, axe_source, api, sample):
    viewer = api.new_key("viewer")
    api.hold({sample["product"]["id"]: 1}, key=viewer["api_key"])
    sign_in(page, viewer)
    open_console(page, f"#/products/{sample['product']['id']}")
    expect(page.get_by_role("button", name=re.compile("^Release hold"))).to_be_visible()
    check(page, axe_source, "viewer-product")


def test_a_released_hold_s_outcome(page, axe_source, api, admin_key):
    product = api.product(name=unique("Released widget"))
    hold = api.hold({product["id"]: 1})
    sign_in(page, admin_key)
    open_console(page, f"#/products/{product['id']}")
    page.get_by_role("button", name=f"Release hold {hold['id']}").click()
    page.get_by_role("button", name="Yes, release").click()
    expect(page.get_by_role("status").filter(has_text="released")).to_be_focused()
    check(page, axe_source, "product-hold-released")
