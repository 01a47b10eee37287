"""Fixtures for the console's browser tests.

The app is reached at APP_BASE_URL with the admin key APP_ADMIN_KEY (run.sh starts a
fresh local host and sets both; a shared live server works too). Every test makes its
own data through the API with unique names and checks only that data, so tests do not
depend on each other or on what else the server holds.

The browser is Debian's chromium (CHROMIUM, default /usr/bin/chromium), headless, with
--no-sandbox because CI runs as root. Each test gets a fresh browser context (its own
sessionStorage, localStorage and cookies). A page error or a console error (which is
how chromium reports a Content-Security-Policy violation) fails the test.

The webhook tests receive deliveries on a small HTTP server of their own on 127.0.0.1
(WebhookReceiver), so the server under test must run on this machine with the Spin
variable `webhook_loopback_http=true` (run.sh sets it), which allows `http://` to
loopback addresses.

The console signs in with a key's id and the key (exchanged for an access token); keys
are passed around as the 201 body of POST /api/v1/auth/keys (`id`, `owner`, `role`, the
secret in `api_key`). The tests of a real token expiry start a second host of their own
whose tokens live SHORT_TOKEN_LIFETIME seconds (`short_token_server`, with
tests/contract/host.sh), so they need the example host and the API component built on
this machine (run.sh builds them) even when APP_BASE_URL names a shared server.
"""

import base64
import contextlib
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "target" / "console-screenshots"
DESKTOP = {"width": 1280, "height": 900}
NARROW = {"width": 400, "height": 860}
# The access-token lifetime of `short_token_server`, in seconds: short, but long enough
# for the console to sign in and show its dashboard first on a busy machine.
SHORT_TOKEN_LIFETIME = 5
# How long past `exp` the server still accepts a token (its clock leeway), in seconds.
SERVER_CLOCK_LEEWAY = 10


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

    def hold(self, lines, key=None):
        """A stock reservation (an active hold) of `lines`, {product_id: quantity}, made
        with `key` (default: the admin key): the 201 body."""
        return self.call("POST", "/reservations", {
            "items": [{"product_id": product_id, "quantity": quantity}
                      for product_id, quantity in lines.items()],
        }, key=key)

    def new_key(self, role):
        """A new key of `role`: the 201 body, with the secret in `api_key`."""
        return self.call("POST", "/auth/keys", {"owner": unique(f"console {role}"), "role": role})

    def with_token(self, token, path="/auth/me"):
        """GET `path` with `Authorization: Bearer <token>` only (no key); the raw Response."""
        return self.raw("GET", "/api/v1" + path, key="", headers={"Authorization": f"Bearer {token}"})


class WebhookReceiver:
    """A webhook receiver on 127.0.0.1: answers every POST with 204 and records it.

    `url` is `http://127.0.0.1:<port>/hook`; `requests` holds `{path, headers, body}` per
    request received (header names lower-cased, body as bytes). Use as a context manager,
    or call `close()`.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self._body()
                with receiver._lock:
                    receiver._requests.append({
                        "path": self.path,
                        "headers": {name.lower(): value for name, value in self.headers.items()},
                        "body": body,
                    })
                self.send_response(204)
                self.end_headers()

            def _body(self):
                if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
                    return self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = b""
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return body

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    def wait_for(self, count, timeout=20):
        """The requests received, once there are at least `count`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = self.requests
            if len(received) >= count:
                return received
            time.sleep(0.05)
        raise AssertionError(f"the receiver got {len(self.requests)} requests, not {count}, "
                             f"within {timeout} s")

    def close(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def signature_matches(request, secret):
    """Whether a received delivery carries a `v1` signature made with `secret`
    (Standard Webhooks: HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{body}",
    keyed with the base64-decoded secret after "whsec_")."""
    headers = request["headers"]
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + request["body"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [part.split(",", 1)[1] for part in headers["webhook-signature"].split()
               if part.startswith("v1,")]
    return any(hmac.compare_digest(expected, signature) for signature in offered)


@pytest.fixture
def webhook_receiver():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def webhooks_to_delete(api):
    """Ids of webhook endpoints a test made: deleted afterwards if the test did not, so a
    failed test leaves no endpoint behind that later events would be sent to."""
    ids = []
    yield ids
    for endpoint_id in ids:
        api.raw("DELETE", f"/api/v1/webhooks/{endpoint_id}")


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
    """An admin key minted for this run (the UI shows its owner): the 201 body, with `id`
    and the secret in `api_key`, as `sign_in` takes it."""
    return api.new_key("admin")


class ShortTokenServer:
    """A host of our own: `base_url`, `api` (its bootstrap key)."""

    def __init__(self, base_url, admin_key):
        self.base_url = base_url
        self.api = Api(base_url, admin_key)


@pytest.fixture(scope="session")
def short_token_server():
    """A second, fresh host whose access tokens live SHORT_TOKEN_LIFETIME seconds, so a
    test can watch a real token expire (started with tests/contract/host.sh; stopped, and
    its state removed, when the session ends)."""
    script = ('source tests/contract/host.sh; trap stop_host EXIT; start_host >&2 || exit 1; '
              'echo "$BASE_URL $ADMIN_KEY"; read -r _')
    environment = {**os.environ,
                   "HOST_EXTRA_VARIABLES": f"--variable token_lifetime_seconds={SHORT_TOKEN_LIFETIME}"}
    # The script waits on its stdin; closing it stops the host (the EXIT trap), also
    # when pytest dies.
    host = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=environment,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = host.stdout.readline().split()
    if len(line) != 2:
        host.wait()
        pytest.fail("could not start the short-token host (tests/contract/host.sh; build it with "
                    "`cargo build --example spin_host` and the wasm32-wasip2 release components)")
    try:
        yield ShortTokenServer(*line)
    finally:
        host.stdin.close()
        host.wait(timeout=60)


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
    with watched_page(context) as page:
        yield page


@pytest.fixture
def short_token_page(browser, short_token_server):
    """A page in a browser context of its own on `short_token_server`."""
    context = browser.new_context(base_url=short_token_server.base_url, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    try:
        with watched_page(context) as page:
            yield page
    finally:
        context.close()


@contextlib.contextmanager
def watched_page(context):
    """A new page of `context` that fails the test on a page error or a console error."""
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
    """Signs in through the form with the key's id and the key, as a person would. `key`:
    the 201 body of POST /api/v1/auth/keys (or any mapping with `id` and `api_key`)."""
    open_console(page, "#/signin")
    page.get_by_label("Key id").fill(str(key["id"]))
    page.get_by_label("API key").fill(key["api_key"])
    page.get_by_role("button", name="Sign in").click()
    if expect_dashboard:
        page.get_by_role("heading", level=1, name="Dashboard").wait_for()


def stored_session(page):
    """Everything the page keeps in sessionStorage and localStorage, as two dicts."""
    return page.evaluate("""() => [sessionStorage, localStorage].map((storage) =>
        Object.fromEntries(Object.keys(storage).map((name) => [name, storage.getItem(name)])))""")


def endpoint_id_in_row(row):
    """The id of the webhook endpoint a row of the endpoint list links to."""
    return int(row.get_by_role("link").get_attribute("href").rsplit("/", 1)[1])


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
