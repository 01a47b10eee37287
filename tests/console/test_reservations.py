"""Stock reservations (issue 28) in the console: the product page's on hand, reserved and
available figures, its list of active holds and releasing one, and the dashboard's
low-stock card, which now lists by available stock and keeps a long product name inside
the card.

Holds are made through the API (with the admin key, or a viewer's where the test is about
ownership); the page is then checked, and what the page did is checked through the API.
"""

import re

import pytest
from playwright.sync_api import expect

from conftest import DESKTOP, NARROW, open_console, sign_in, unique


def fact(page, term):
    """The value (`dd`) the product page's facts list gives for `term` (its `dt`)."""
    return page.locator("dl.facts").locator(
        f"xpath=dt[normalize-space()='{term}']/following-sibling::dd[1]")


def expect_figures(page, on_hand, reserved, available):
    expect(fact(page, "On hand")).to_have_text(str(on_hand))
    expect(fact(page, "Reserved")).to_have_text(str(reserved))
    expect(fact(page, "Available")).to_have_text(str(available))


def hold_row(holds, reservation):
    return holds.get_by_role("row").filter(has_text=reservation["id"])


def release(holds, reservation):
    """Releases the hold from its row, confirming in the page."""
    hold_row(holds, reservation).get_by_role("button", name=f"Release hold {reservation['id']}").click()
    holds.get_by_role("button", name="Yes, release").click()


def shown_time(rfc3339):
    """An API time as the console shows it with seconds: `YYYY-MM-DD HH:MM:SS UTC`."""
    return f"{rfc3339[:19].replace('T', ' ')} UTC"


def test_the_product_page_shows_on_hand_reserved_and_available_and_lists_only_active_holds(
        page, api, admin_key):
    product, other = api.product(stock=10), api.product(stock=10)
    alone = api.hold({product["id"]: 3})
    shared = api.hold({product["id"]: 2, other["id"]: 1})
    released = api.hold({product["id"]: 1})
    api.call("DELETE", f"/reservations/{released['id']}")
    elsewhere = api.hold({other["id"]: 4})
    sign_in(page, admin_key)

    open_console(page, f"#/products/{product['id']}")

    expect_figures(page, on_hand=10, reserved=5, available=5)
    holds = page.get_by_role("region", name="Active holds")
    expect(holds.get_by_role("row")).to_have_count(3)
    alone_row = hold_row(holds, alone)
    expect(alone_row.get_by_role("cell").nth(1)).to_have_text("3")
    expect(alone_row.get_by_role("cell").nth(2)).to_have_text(shown_time(alone["expires_at"]))
    expect(alone_row).not_to_contain_text("other product")
    shared_row = hold_row(holds, shared)
    expect(shared_row.get_by_role("cell").nth(1)).to_have_text("2")
    expect(shared_row).to_contain_text("also holds 1 other product")
    expect(hold_row(holds, released)).to_have_count(0)
    expect(hold_row(holds, elsewhere)).to_have_count(0)


def test_releasing_a_hold_from_the_product_page_makes_its_units_available_again(page, api, admin_key):
    product, other = api.product(stock=10), api.product(stock=10)
    kept = api.hold({product["id"]: 3})
    to_release = api.hold({product["id"]: 2, other["id"]: 1})
    sign_in(page, admin_key)
    open_console(page, f"#/products/{product['id']}")
    holds = page.get_by_role("region", name="Active holds")
    expect_figures(page, on_hand=10, reserved=5, available=5)

    hold_row(holds, to_release).get_by_role("button", name=f"Release hold {to_release['id']}").click()
    # The question says the hold's other line goes with it; "Keep" changes nothing.
    expect(holds.get_by_role("group", name=re.compile("Release this hold"))).to_contain_text(
        "also holds 1 other product")
    holds.get_by_role("button", name="Keep").click()
    assert api.call("GET", f"/reservations/{to_release['id']}")["status"] == "active"
    release(holds, to_release)

    outcome = page.get_by_role("status").filter(has_text=f"Hold {to_release['id']} released")
    expect(outcome).to_be_focused()
    expect_figures(page, on_hand=10, reserved=3, available=7)
    expect(hold_row(holds, to_release)).to_have_count(0)
    expect(hold_row(holds, kept)).to_be_visible()
    assert api.call("GET", f"/reservations/{to_release['id']}")["status"] == "released"
    assert api.call("GET", f"/reservations/{kept['id']}")["status"] == "active"
    stock = api.call("GET", f"/products/{product['id']}")
    assert (stock["stock_quantity"], stock["reserved_quantity"], stock["available_quantity"]) == (10, 3, 7)
    assert api.call("GET", f"/products/{other['id']}")["available_quantity"] == 10


def test_releasing_a_hold_that_ended_meanwhile_says_why_and_shows_the_holds_as_they_are(
        page, api, admin_key):
    product = api.product(stock=10)
    hold = api.hold({product["id"]: 4})
    sign_in(page, admin_key)
    open_console(page, f"#/products/{product['id']}")
    holds = page.get_by_role("region", name="Active holds")
    expect_figures(page, on_hand=10, reserved=4, available=6)
    # Someone else releases it while the page is open.
    api.call("DELETE", f"/reservations/{hold['id']}")

    release(holds, hold)

    expect(page.get_by_role("alert")).to_contain_text("RESERVATION_NOT_ACTIVE")
    expect(page.get_by_role("alert")).to_be_focused()
    expect(hold_row(holds, hold)).to_have_count(0)
    expect(holds).to_contain_text("No active holds.")
    expect_figures(page, on_hand=10, reserved=0, available=10)


def test_a_viewer_sees_and_releases_only_the_holds_of_their_own_key(page, api):
    viewer = api.new_key("viewer")
    product = api.product(stock=10)
    own = api.hold({product["id"]: 2}, key=viewer["api_key"])
    someone_elses = api.hold({product["id"]: 3})
    sign_in(page, viewer)
    open_console(page, f"#/products/{product['id']}")

    # The figures count every hold; the list shows the viewer's own only.
    expect_figures(page, on_hand=10, reserved=5, available=5)
    holds = page.get_by_role("region", name="Your active holds")
    expect(hold_row(holds, own)).to_be_visible()
    expect(hold_row(holds, someone_elses)).to_have_count(0)

    release(holds, own)
    expect(page.get_by_role("status").filter(has_text=f"Hold {own['id']} released")).to_be_visible()
    expect_figures(page, on_hand=10, reserved=3, available=7)
    expect(holds).to_contain_text("You have no active holds on this product.")
    assert api.call("GET", f"/reservations/{own['id']}")["status"] == "released"
    assert api.call("GET", f"/reservations/{someone_elses['id']}")["status"] == "active"


def test_a_stock_adjustment_updates_all_three_figures_and_may_not_take_what_holds_keep(
        page, api, admin_key):
    product = api.product(stock=10)
    api.hold({product["id"]: 6})
    sign_in(page, admin_key)
    open_console(page, f"#/products/{product['id']}")
    expect_figures(page, on_hand=10, reserved=6, available=4)

    page.get_by_label("Change (+ adds, − removes)").fill("2")
    page.get_by_label("Reason").fill("recount")
    page.get_by_role("button", name="Adjust stock").click()
    expect(page.get_by_role("status").filter(has_text="Stock is now 12 on hand, 6 available.")).to_be_visible()
    expect_figures(page, on_hand=12, reserved=6, available=6)

    # Taking 7 would leave 5 on hand for 6 held units: refused, nothing changes.
    page.get_by_label("Change (+ adds, − removes)").fill("-7")
    page.get_by_role("button", name="Adjust stock").click()
    expect(page.get_by_role("alert")).to_contain_text("INSUFFICIENT_STOCK")
    expect_figures(page, on_hand=12, reserved=6, available=6)
    assert api.call("GET", f"/products/{product['id']}")["stock_quantity"] == 12


@pytest.mark.parametrize("viewport", [DESKTOP, NARROW], ids=["1280px", "400px"])
def test_a_long_unbroken_product_name_stays_inside_the_low_stock_card(page, api, admin_key, viewport):
    # 120 characters without a space or hyphen: nowhere the browser would break by itself.
    name = unique("Unbroken").replace("-", "").ljust(120, "x")
    # 5 on hand is not below the threshold of 5; the hold takes what is available to 1.
    product = api.product(name=name, stock=5, threshold=5)
    api.hold({product["id"]: 4})
    page.set_viewport_size(viewport)
    sign_in(page, admin_key)

    card = page.get_by_role("region", name="Stock below threshold")
    row = card.get_by_role("row", name=re.compile(re.escape(name)))
    expect(row).to_be_visible()
    expect(card.get_by_role("columnheader", name="Available")).to_be_visible()
    expect(row.get_by_role("cell").nth(1)).to_have_text("1")
    expect(row).to_contain_text(product["sku"])

    card_right = right_edge(card)
    for part in [card.get_by_role("table"), row, *row.get_by_role("cell").all()]:
        assert right_edge(part) <= card_right, (part, right_edge(part), card_right)
    # Nothing of the table is out of sight behind a sideways scroll either.
    assert card.locator(".table-scroll").evaluate("(region) => region.scrollWidth <= region.clientWidth")


def right_edge(locator):
    box = locator.bounding_box()
    return box["x"] + box["width"]
