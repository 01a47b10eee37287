"""Fixtures for the console's browser tests.

The app is reached at APP_BASE_URL with the admin key APP_ADMIN_KEY (run.sh starts a
fresh local host and sets both; a shared live server works too). Every test makes its
own data through the API with unique names and checks only that data, so tests do not
depend on each other or on what else the server holds.

The browser is Debian's chromium (CHROMIUM, default /usr/bin/chromium), headless, with
--no-sandbox because CI runs as root. Each test gets a fresh browser context (its own
sessionStorage, localStorage and cookies). A page error or a console error (which is
how chromium reports a Content-Security-Policy violation) fails the test.
"""

import json
import os
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "target" / "console-screenshots"
DESKTOP = {"width": 1280, "height": 900}
NARROW = {"width": 400, "height": 860}


def unique(prefix):
    """A name no other test (or earlier run on a shared server) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body) if self.body else None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Api:
    """A small client for arranging data and checking outcomes through the API."""

    def __init__(self, base_url, key):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self._opener = urllib.request.build_opener(_NoRedirects)

    def raw(self, method, path, body=None, key=None, headers=None):
        """Any request; redirects are returned, not followed."""
        request = urllib.request.Request(self.base_url + path, method=method)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        if key or (key is None and self.key):
            request.add_header("X-API-Key", key or self.key)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, data=data, timeout=30) as response:
                return Response(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read().decode())

    def call(self, method, path, body=None, expect=(200, 201, 204), key=None):
        """An API call that must succeed; returns the JSON body."""
        response = self.raw(method, "/api/v1" + path, body, key=key)
        assert response.status in expect, f"{method} {path}: {response.status} {response.body}"
        return response.json()

    def product(self, name=None, stock=10, threshold=3, price="12.50", category=None,
                description=None):
        return self.call("POST", "/products", {
            "description": description,
            "sku": unique("SKU"),
            "name": name or unique("Console product"),
            "price": price,
            "stock_quantity": stock,
            "low_stock_threshold": threshold,
            "category": category,
        })

    def order(self, product_id, quantity=1, key=None):
        return self.call("POST", "/orders", {
            "customer_name": "Console Tester",
            "customer_email": "console@example.com",
            "items": [{"product_id": product_id, "quantity": quantity}],
        }, key=key)

    def new_key(self, role):
        """A new key of `role`: the 201 body, with the secret in `api_key`."""
        return self.call("POST", "/auth/keys", {"owner": unique(f"console {role}"), "role": role})


@pytest.fixture(scope="session")
def base_url():
    url = os.environ.get("APP_BASE_URL")
    if not url:
        pytest.exit("APP_BASE_URL and APP_ADMIN_KEY must be set (tests/console/run.sh does it)", 2)
    return url.rstrip("/")


@pytest.fixture(scope="session")
def bootstrap_key():
    return os.environ["APP_ADMIN_KEY"]


@pytest.fixture(scope="session")
def api(base_url, bootstrap_key):
    return Api(base_url, bootstrap_key)


@pytest.fixture(scope="session")
def admin_key(api):
    """An admin key minted for this run (the UI shows its owner)."""
    return api.new_key("admin")["api_key"]


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture
def context(browser, base_url):
    context = browser.new_context(base_url=base_url, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error" and problems.append(
        f"console error: {message.text}"))
    page.problems = problems
    yield page
    # 4xx responses the test provoked on purpose are logged by chromium as failed
    # loads; only script errors and policy violations count.
    unexpected = [problem for problem in problems if "Failed to load resource" not in problem]
    assert not unexpected, unexpected


def open_console(page, hash_route=""):
    page.goto("/console/" + hash_route)


def sign_in(page, key, expect_dashboard=True):
    """Signs in through the form, as a person would."""
    open_console(page, "#/signin")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    if expect_dashboard:
        page.get_by_role("heading", level=1, name="Dashboard").wait_for()


def screenshot(page, name):
    """Saves the page at desktop and 400 px width under target/console-screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(NARROW)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-400px.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.set_viewport_size(original)
    return overflow
