#!/usr/bin/env python3
"""Benchmark of the Inventory & Orders API: one command, real figures, no assertions.

Starts the service — on real `spin up` when `spin` is on PATH, otherwise on the release
build of the `spin_host` example — with a fresh database and a high rate limit, seeds
10,000 products and 100,000 orders through the API, times every report, then drives each
scenario with wrk (fixed duration, fixed connections) and prints a table of requests/s,
latency percentiles, errors and the machine's CPU use during the scenario. The table, the
report timings and the machine's description are written to BENCHMARKS.md.

    python3 tests/bench/bench.py [--duration 15] [--products 10000] [--orders 100000] [--rounds 3]

Every scenario runs `--rounds` times, each app run followed by its references' runs, and
the medians are shown. `--host PATH` serves with that `spin_host` binary even when `spin`
is on PATH.

With `--original DIR` (a checkout or git clone of Revanth-0405/ecommerce-api, the Flask
service this API replaces), the original also runs (tests/bench/original/: gunicorn, two
sync workers, a venv under target/), is seeded through its own API with the same
catalog and `--original-orders` orders, and serves GET product and the one-line order in
the same rounds; its medians are printed as reference rows.

With `--scale-out`, it instead compares the shared backends several instances run on
(README, "Scaling out"), each on a fresh database, with a smaller data set: one instance
on a local file; two instances on one file with the counters on Redis (`--key-value`,
default: a `redis-server` started here); one instance on PostgreSQL and two on
PostgreSQL with Redis, when PostgreSQL is installed (a throwaway cluster of
tests/with-postgres.sh, a fresh database per setup); and, when `--sqlite` names a libSQL
server (or `sqld` is on PATH, started here), that server with Redis. Orders are driven
twice: spread over the catalog, and all on one hot product. Requests alternate between the
instances (one wrk per instance, the connections split between them). The table replaces
the "## Scale-out" section of BENCHMARKS.md.

    python3 tests/bench/bench.py --scale-out [--key-value redis://…] [--sqlite http://…]

With `--tokens`, it compares GET product authenticated with an API key and with an access
token (README, "Access tokens"), on one instance on a local file, one on PostgreSQL and
one on PostgreSQL with its counters on Redis (when installed), all servers up at once and measured in the same rounds, next to the
original service when `--original` is given and another build of the app (on a file) when
`--baseline DIR` is. The table replaces the "## Access tokens"
section of BENCHMARKS.md.

    python3 tests/bench/bench.py --tokens [--original DIR] [--baseline DIR]

With `--reservations`, it measures what stock reservations (README, "Stock reservations")
cost the hot paths: GET product and one-line orders on servers up at once, each on its own
local file with the same catalog: no holds; 10,000 expired holds lying around (10 per
product, unswept); the same plus one live hold on every product (so every read and order
sums live holds); and, with `--baseline DIR` (a build from before reservations), that
build with no holds. The table replaces the "## Stock reservations" section.

    python3 tests/bench/bench.py --reservations [--baseline DIR]
"""

import argparse
import calendar
import glob
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH_DIR = os.path.join(ROOT, "tests", "bench")
COMPONENT = os.path.join(ROOT, "target", "wasm32-wasip2", "release", "inventory_api.wasm")
HOST_BINARY = os.path.join(ROOT, "target", "release", "examples", "spin_host")
CEILING_MANIFEST = os.path.join(BENCH_DIR, "ceiling", "spin.toml")
CEILING_COMPONENT = os.path.join(ROOT, "target", "wasm32-wasip2", "release", "bench_ceiling.wasm")
ADMIN_KEY = "bench-" + "".join(random.choice("0123456789abcdef") for _ in range(32))
# A catalog shaped like a shop's: "<adjective> <colour> <noun> <n>" names and one-sentence
# descriptions, so a search for one word matches a few hundred of the 10,000 products
# (about 1-6 %), as shop searches do. The search scenario (scenario.lua) searches for
# these nouns, adjectives, two-word phrases and typed prefixes.
ADJECTIVES = ["wireless", "ergonomic", "compact", "portable", "vintage", "organic", "premium",
              "classic", "slim", "foldable", "waterproof", "rechargeable", "adjustable",
              "magnetic", "digital", "insulated", "handmade", "recycled", "lightweight", "deluxe"]
COLOURS = ["black", "white", "red", "blue", "green", "grey", "navy", "beige", "yellow",
           "orange", "pink", "silver"]
NOUNS = ["mouse", "keyboard", "monitor", "cable", "charger", "lamp", "desk", "chair", "kettle",
         "mug", "teapot", "shirt", "jacket", "scarf", "backpack", "wallet", "notebook", "pen",
         "stapler", "headphones", "speaker", "router", "webcam", "microphone", "tripod",
         "blender", "toaster", "skillet", "knife", "bottle", "thermos", "towel", "blanket",
         "pillow", "candle", "vase", "clock", "mirror", "shelf", "umbrella", "sneakers", "socks",
         "gloves", "hat", "belt", "watch", "bracelet", "sunglasses", "tent", "lantern"]
MATERIALS = ["steel", "copper", "cotton", "wool", "leather", "bamboo", "oak", "walnut",
             "ceramic", "glass", "aluminium", "linen", "silicone", "polyester", "porcelain"]
FEATURES = ["easy to clean", "two-year warranty", "gift box included", "dishwasher safe",
            "fits most desks", "machine washable", "USB-C charging", "travel size",
            "soft grip", "scratch resistant", "quiet operation", "long battery life",
            "non-slip base", "fair trade", "ships flat", "limited edition"]

READING_HEADING = "## Reading"
SCALE_OUT_HEADING = "## Scale-out"
WEBHOOKS_HEADING = "## Webhooks: the hot paths with a subscriber"
TOKENS_HEADING = "## Access tokens: GET product with a key and with a token"
RESERVATIONS_HEADING = "## Stock reservations: the hot paths with expired and live holds"
# (name, wrk scenario, connections): what `--reservations` drives on every server.
RESERVATION_SCENARIOS = [
    ("GET /api/v1/products/{id}", "product", 32),
    ("POST /api/v1/orders (1 line)", "order1", 8),
]
# The key the servers of `--tokens` sign access tokens with, and a lifetime longer than
# the whole comparison (each run still gets a fresh token).
TOKEN_VARIABLES = [("token_signing_key", "bench-" + "".join(random.choice("0123456789abcdef")
                                                              for _ in range(40))),
                   ("token_lifetime_seconds", "3600")]

# (name, wrk scenario, connections): what `--webhooks` drives, with and without an
# endpoint subscribed to every event.
WEBHOOK_SCENARIOS = [
    ("GET /api/v1/products/{id}", "product", 32),
    ("POST /api/v1/orders (1 line)", "order1", 8),
]

# (name, wrk scenario, connections, hot): what the scale-out comparison drives. A hot
# scenario orders the first product only (one row every order locks); the others spread
# over the whole catalog.
SCALE_OUT_SCENARIOS = [
    ("GET /health", "health", 32, False),
    ("GET /api/v1/products/{id}", "product", 32, False),
    ("POST /api/v1/orders (1 line, spread over the catalog)", "order1", 8, False),
    ("POST /api/v1/orders (1 line, one hot product)", "order1", 8, True),
]

# The scenarios the original service (--original) can serve as the app does: the same
# requests (scenario.lua) on its own routes. It has no health route, and its search
# returns every match with no limit, so neither compares.
ORIGINAL_SCENARIOS = ("product", "order1")

# (name, wrk scenario, connections, reference): the scenarios of the performance issue.
# A scenario ending in "-hot" orders the first seeded product only (one row every order
# locks) instead of spreading over the catalog; "soldout" orders one product with no
# stock left (`SOLD_OUT_SKU`), as a flash sale goes on after the last unit.
# The reference is what the app's figure is divided by: "ceiling" is the ceiling
# component (tests/bench/ceiling) serving the same scenario with exactly its host calls
# and nothing else; "product" is the app's own GET product (search against a point read).
SCENARIOS = [
    ("POST /health (405, no database: host + component alone)", "bare", 32, "ceiling"),
    ("GET /health", "health", 32, "ceiling"),
    ("GET /api/v1/products/{id}", "product", 32, "ceiling"),
    ("GET /api/v1/products?search=", "search", 32, "product"),
    ("POST /api/v1/orders (1 line)", "order1", 8, "ceiling"),
    ("POST /api/v1/orders (1 line, one client)", "order1", 1, None),
    ("POST /api/v1/orders (1 line, 32 clients)", "order1", 32, None),
    ("POST /api/v1/orders (1 line, one hot product)", "order1-hot", 8, None),
    ("POST /api/v1/orders (1 line, sold out: every answer 409)", "soldout", 8, None),
    ("POST /api/v1/orders (5 lines)", "order5", 8, None),
    ("GET /api/v1/reports/sales-summary", "summary", 8, None),
]


def log(message):
    print(message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """The service under test, started fresh in a temporary state directory (or on
    `state_dir`, shared with another instance), optionally on shared backends. It runs on
    real `spin up` when `spin` is on PATH and no `host` binary is given, else on the
    `spin_host` example."""

    def __init__(self, state_dir=None, key_value=None, sqlite=None, ceiling=False, host=None,
                 prebuilt_app=None, postgres=None, extra_variables=()):
        """`prebuilt_app`: the directory of another build of the app (its `spin.toml` and
        the components that names, already built), served instead of this checkout.
        `postgres`: a `postgres://` URL the app uses instead of SQLite (`database_url`)."""
        self.port = free_port()
        self.owns_state = state_dir is None
        self.state_dir = os.path.abspath(state_dir or tempfile.mkdtemp(prefix="inventory-bench-"))
        variables = [("admin_api_key", ADMIN_KEY), ("rate_limit_per_minute", "100000000"),
                     *extra_variables]
        if postgres:
            host_port = urllib.parse.urlsplit(postgres).netloc.rsplit("@", 1)[-1]
            variables += [("database_url", postgres), ("database_host", host_port)]
        manifest = CEILING_MANIFEST if ceiling else os.path.join(prebuilt_app or ROOT, "spin.toml")
        if uses_spin(host):
            self.kind = "spin up (" + subprocess.run(["spin", "--version"], capture_output=True,
                                                     text=True).stdout.strip() + ")"
            if not prebuilt_app:
                build_once(["spin", "build", "-f", manifest])
            # Each `spin up` gets a state directory of its own (its logs), inside the
            # possibly shared one, while the database is named by an absolute path: Spin
            # resolves a relative `path` against the working directory of `spin up`, not
            # against the runtime config file, which put every instance (and the
            # ceiling) on one ./inventory.db in the checkout.
            spin_state = os.path.join(self.state_dir, f"spin-{self.port}")
            os.makedirs(spin_state)
            runtime_config = os.path.join(spin_state, "runtime-config.toml")
            with open(runtime_config, "w") as config:
                config.write(spin_runtime_config(self.database_path(), key_value, sqlite))
            command = ["spin", "up", "-f", manifest, "--listen", f"127.0.0.1:{self.port}",
                       "--runtime-config-file", runtime_config, "--state-dir", spin_state]
        else:
            self.kind = "spin_host example (wasmtime, release build)"
            if host is None:
                build_once(["cargo", "build", "--release", "--example", "spin_host"])
            package = "bench-ceiling" if ceiling else "inventory-api"
            component = CEILING_COMPONENT if ceiling else COMPONENT
            if prebuilt_app:
                component = os.path.join(prebuilt_app, os.path.relpath(COMPONENT, ROOT))
            else:
                build_once(["cargo", "build", "--target", "wasm32-wasip2", "--release", "-p", package])
            command = [host or HOST_BINARY, "--listen", f"127.0.0.1:{self.port}", "--state-dir", self.state_dir,
                       "--component", component]
            if ceiling or prebuilt_app:
                command += ["--manifest", manifest]
            if key_value:
                command += ["--key-value", f"rate_limits={key_value}"]
            if sqlite:
                command += ["--sqlite", f"default={sqlite}"]
        for name, value in variables:
            command += ["--variable", f"{name}={value}"]
        # RUST_BACKTRACE makes the host capture a backtrace for every error it creates,
        # some on every request: a debugging aid no production host runs with.
        environment = {name: value for name, value in os.environ.items() if name != "RUST_BACKTRACE"}
        # Errors go to a file so that a failed start can say why. Its own process group,
        # because `spin up` serves from a child process that outlives its parent.
        self.error_log = os.path.join(self.state_dir, f"server-{self.port}.stderr")
        with open(self.error_log, "w") as errors:
            self.process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL,
                                            stderr=errors, start_new_session=True)
        self.base = f"127.0.0.1:{self.port}"
        deadline = time.time() + 120
        while time.time() < deadline and self.process.poll() is None:
            try:
                if request("GET", "/health", port=self.port)[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        with open(self.error_log) as errors:
            reason = errors.read()[-2000:]
        self.stop()
        raise SystemExit(f"the service did not start: {' '.join(command)}\n{reason}")

    def database_path(self):
        """The SQLite file of this instance (shared by instances on one state directory):
        the test host puts `path = "inventory.db"` of runtime-config.toml here, and the
        runtime config written for `spin up` names it."""
        return os.path.join(self.state_dir, "inventory.db")

    def rss_kib(self):
        """Resident memory of the server process (and its children, for spin)."""
        total = 0
        pids = [self.process.pid]
        try:
            children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
            pids += [int(pid) for pid in children.stdout.split()]
        except OSError:
            pass
        for pid in pids:
            try:
                with open(f"/proc/{pid}/status") as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self.owns_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)


def uses_spin(host):
    """Whether servers run on real `spin up`: when it is on PATH, unless a `spin_host`
    binary was given."""
    return host is None and shutil.which("spin") is not None


_built = set()


def build_once(command):
    """Runs a build command once per benchmark run: every server of a kind runs the same
    build, and even a no-op `cargo build` costs seconds."""
    if tuple(command) not in _built:
        subprocess.run(command, cwd=ROOT, check=True)
        _built.add(tuple(command))


def spin_runtime_config(database, key_value=None, sqlite=None):
    """The runtime config for `spin up`: the database on the absolute path `database` (or
    the libSQL server `sqlite`), the counters in memory (or on the Redis `key_value`)."""
    if sqlite:
        # Spin requires a token; a local sqld without authentication accepts any.
        text = f'[sqlite_database.default]\ntype = "libsql"\nurl = {json.dumps(sqlite)}\ntoken = "bench"\n\n'
    else:
        text = f'[sqlite_database.default]\ntype = "spin"\npath = {json.dumps(database)}\n\n'
    if key_value:
        text += f'[key_value_store.rate_limits]\ntype = "redis"\nurl = {json.dumps(key_value)}\n'
    else:
        text += '[key_value_store.rate_limits]\ntype = "spin"\n'
    return text


class Backend:
    """A Redis, sqld or PostgreSQL started for the scale-out comparison, on a free port."""

    def __init__(self, kind):
        if kind == "postgres":
            # The tests' throwaway cluster (tests/with-postgres.sh), kept up while its
            # stdin is open.
            self.process = subprocess.Popen(
                [os.path.join(ROOT, "tests", "with-postgres.sh"), "sh", "-c",
                 'echo "$POSTGRES_URL"; exec cat >/dev/null'],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.url = next(line.strip() for line in self.process.stdout
                            if line.startswith("postgres://"))
            self.data_dir = None
            return
        self.port = free_port()
        self.data_dir = tempfile.mkdtemp(prefix=f"inventory-bench-{kind}-")
        if kind == "redis":
            command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
                       "--save", "", "--appendonly", "no"]
            self.url = f"redis://127.0.0.1:{self.port}"
        else:
            command = ["sqld", "--db-path", os.path.join(self.data_dir, "db"),
                       "--http-listen-addr", f"127.0.0.1:{self.port}"]
            self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"{kind} did not start")

    def fresh_database(self, name):
        """A new empty database on this PostgreSQL server; its URL."""
        psql = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))[-1]
        subprocess.run([psql, self.url, "-q", "-c", f'CREATE DATABASE "{name}"'], check=True)
        parts = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))

    def stop(self):
        if self.data_dir is None:
            self.process.stdin.close()
            self.process.wait(timeout=30)
            return
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.data_dir, ignore_errors=True)


_local = threading.local()


def request(method, path, body=None, key=None, port=None):
    """One request on this thread's keep-alive connection: (status, parsed JSON body)."""
    connection = getattr(_local, "connection", None)
    if connection is None or getattr(_local, "port", None) != (port or SERVER_PORT):
        connection = http.client.HTTPConnection("127.0.0.1", port or SERVER_PORT, timeout=60)
        _local.connection, _local.port = connection, port or SERVER_PORT
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key:
        headers["X-API-Key"] = key
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException):
        _local.connection = None
        raise
    return response.status, (json.loads(data) if data else None)


def request_retrying(method, path, body, key):
    """`request`, retried as a client should when the service answers 503 (busy) with
    Retry-After: seeding a shared libSQL server with 8 writers at once can queue a writer
    past the app's patience for the write lock."""
    for _ in range(10):
        status, answer = request(method, path, body, key)
        if status != 503:
            break
        time.sleep(0.5)
    return status, answer


def parallel(count, work, workers=8):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(work, range(count)))


def catalog_product(index):
    """The `index`th product of the seeded catalog, as the app's API takes it. The
    random generator is seeded with the index, so the original gets the same catalog."""
    pick = random.Random(index)
    adjective, colour, noun = pick.choice(ADJECTIVES), pick.choice(COLOURS), pick.choice(NOUNS)
    name = f"{adjective.title()} {colour.title()} {noun.title()} {index}"
    description = (f"A {adjective} {noun} in {colour}, made of {pick.choice(MATERIALS)}: "
                   f"{' and '.join(pick.sample(FEATURES, 2))}.")
    return {"sku": f"BENCH-{index:05d}", "name": name, "description": description,
            "category": pick.choice(["Peripherals", "Office", "Kitchen", "Apparel"]),
            "price": f"{pick.randint(100, 99999) / 100:.2f}", "stock_quantity": 1_000_000_000 // 2,
            "low_stock_threshold": 10}


def seed(products, orders, key):
    started = time.time()

    def create_product(index):
        status, product = request_retrying("POST", "/api/v1/products", catalog_product(index), key)
        assert status == 201, (status, product)
        return product["id"]

    ids = parallel(products, create_product)
    log(f"seeded {products} products in {time.time() - started:.0f} s")
    started = time.time()

    def create_order(index):
        lines = random.randint(1, 5)
        items = [{"product_id": product, "quantity": random.randint(1, 3)} for product in random.sample(ids, lines)]
        body = {"customer_name": f"Customer {index}", "customer_email": f"c{index}@example.com", "items": items}
        status, order = request_retrying("POST", "/api/v1/orders", body, key)
        assert status == 201, (status, order)
        if index % 10 == 0:  # some cancelled orders, as in real life
            status, _ = request_retrying("POST", f"/api/v1/orders/{order['id']}/cancel", None, key)
            assert status == 200
        if index % 5000 == 0 and index:
            log(f"  {index} orders, {index / (time.time() - started):.0f}/s")

    parallel(orders, create_order)
    log(f"seeded {orders} orders in {time.time() - started:.0f} s")
    return min(ids), max(ids)


def seed_original(original, products, orders):
    """Mints an admin key on the original and seeds it through its own API with the
    catalog the app got and `orders` random orders (10 % cancelled); returns the key
    and the range of its product ids.

    Requests go one at a time: the original keeps its orders in one JSON file that
    every order rewrites, guarded by a lock per process only, so two orders in its two
    workers at once can lose one another. Its product route reports no id; a fresh
    database numbers them 1..products, which the last read checks."""
    started = time.time()
    status, minted = request("POST", "/api/v1/auth/keys", {"owner": "benchmark", "role": "admin"},
                             port=original.port)
    assert status == 201, (status, minted)
    key = minted["api_key"]
    for index in range(products):
        product = catalog_product(index)
        # Its model takes these columns and rejects unknown ones; the price is a float.
        body = {field: product[field] for field in ("sku", "name", "description", "category", "stock_quantity")}
        body["price"] = float(product["price"])
        status, answer = request("POST", "/api/v1/products", body, key, port=original.port)
        assert status == 201, (status, answer)
    status, last = request("GET", f"/api/v1/products/{products}", None, key, port=original.port)
    assert status == 200 and last["sku"] == f"BENCH-{products - 1:05d}", (status, last)
    log(f"seeded the original with {products} products in {time.time() - started:.0f} s")
    started = time.time()
    for index in range(orders):
        lines = random.randint(1, 5)
        items = [{"product_id": product, "quantity": random.randint(1, 3)}
                 for product in random.sample(range(1, products + 1), lines)]
        body = {"customer_name": f"Customer {index}", "customer_email": f"c{index}@example.com", "items": items}
        status, order = request("POST", "/api/v1/orders", body, key, port=original.port)
        assert status == 200, (status, order)
        if index % 10 == 0:
            status, _ = request("POST", f"/api/v1/orders/{order['order_id']}/cancel", None, key,
                                port=original.port)
            assert status == 200, status
    log(f"seeded the original with {orders} orders in {time.time() - started:.0f} s")
    return key, (1, products)


def time_reports(key, samples=20):
    """Latency of each report over `samples` sequential requests: (p50, p95, max) in ms."""
    day = 86_400
    midnight = int(time.time()) // day * day
    utc = lambda seconds: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    paths = [
        # The console's dashboard chart (30 days by day) and a week by hour.
        f"/api/v1/reports/sales-series?from={utc(midnight - 29 * day)}&to={utc(midnight + day)}&bucket=day",
        f"/api/v1/reports/sales-series?from={utc(midnight - 6 * day)}&to={utc(midnight + day)}&bucket=hour",
        "/api/v1/reports/sales-summary",
        "/api/v1/reports/sales-summary?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
        "/api/v1/reports/top-products",
        "/api/v1/reports/top-products?by=revenue&limit=100",
        "/api/v1/reports/low-stock",
        "/api/v1/reports/low-stock?threshold=1000000000",
    ]
    results = []
    for path in paths:
        request("GET", path, None, key)
        timings = []
        for _ in range(samples):
            started = time.perf_counter()
            status, _ = request("GET", path, None, key)
            timings.append((time.perf_counter() - started) * 1000)
            assert status == 200, status
        timings.sort()
        results.append((path, statistics.median(timings), timings[int(len(timings) * 0.95) - 1], timings[-1]))
    return results


def run_wrk(scenario, connections, duration, key, product_range, servers, sample_memory=False,
            bearer_token=None):
    """Drives `servers` at once, one wrk each with its share of `connections`; the figures
    are summed (requests/s, errors) or the worst instance's (latency percentiles).
    `bearer_token`: authenticate with this access token instead of the key."""
    env = dict(os.environ, SCENARIO=scenario, API_KEY=key, BENCH_DIR=BENCH_DIR,
               PRODUCT_IDS=f"{product_range[0]}:{product_range[1]}", BEARER_TOKEN=bearer_token or "")
    share = max(1, connections // len(servers))
    # wrk needs a connection per thread: one client gets one thread.
    threads = 2 if len(servers) == 1 and share >= 2 else 1
    commands = [["wrk", f"-t{threads}", f"-c{share}", f"-d{duration}s",
                 "--timeout", "10s", "-s", os.path.join(BENCH_DIR, "scenario.lua"),
                 f"http://{server.base}"] for server in servers]
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.25):
            peak[0] = max(peak[0], sum(server.rss_kib() for server in servers))

    sampler = threading.Thread(target=sample)
    if sample_memory:
        sampler.start()
    cpu_before = cpu_times()
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
                 for command in commands]
    outputs = [process.communicate()[0] for process in processes]
    cpu_after = cpu_times()
    stop.set()
    if sample_memory:
        sampler.join()
    if any(process.returncode for process in processes):
        raise SystemExit(f"wrk failed in scenario {scenario}")
    per_server = []
    for output in outputs:
        line = next(line for line in output.splitlines() if line.startswith("BENCH_JSON "))
        per_server.append(json.loads(line[len("BENCH_JSON "):]))
    figures = {
        "rps": sum(part["requests"] / (part["duration_us"] / 1e6) for part in per_server),
        "errors": sum(part["errors"] for part in per_server),
        **{field: max(part[field] for part in per_server) for field in ("p50_us", "p95_us", "p99_us")},
    }
    figures["peak_rss_kib"] = peak[0]
    figures["cpu_busy"] = busy_share(cpu_before, cpu_after)
    return figures


def cpu_times():
    """(busy, total) jiffies of all cores from /proc/stat; idle and iowait count as idle."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def busy_share(before, after):
    """The machine's CPU use between two `cpu_times` readings, in percent. Well below 100
    means the scenario waits (locks, sleeps, hand-offs) rather than computes."""
    busy, total = after[0] - before[0], after[1] - before[1]
    return 100 * busy / total if total else 0


def machine_description(server_kind):
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        memory_gib = int(meminfo.readline().split()[1]) / 1024 / 1024
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} cores ({model}), {memory_gib:.0f} GiB RAM, Linux {platform.release()}, "
            f"{rustc}; server: {server_kind}; load generator: wrk (2 threads) on the same machine")


def ceiling_on_copy_of(server, key, host):
    """A ceiling serving a snapshot of `server`'s database, with `key` added the way the
    ceiling looks keys up (as sent, not hashed)."""
    state_dir = snapshot_database(server, "inventory-bench-ceiling-")
    copy = sqlite3.connect(os.path.join(state_dir, "inventory.db"))
    copy.execute("INSERT INTO api_keys (owner, role, prefix, key_hash, created_at) "
                 "VALUES ('ceiling', 'admin', 'ceiling', ?, '2026-01-01T00:00:00.000Z')", (key,))
    copy.commit()
    copy.close()
    return Server(state_dir=state_dir, ceiling=True, host=host)


def baseline_on_copy_of(server, directory, host):
    """The app built from `directory` (an earlier commit) serving a snapshot of `server`'s
    database: the same data and keys, so the same wrk scripts run on both."""
    state_dir = snapshot_database(server, "inventory-bench-baseline-")
    drop_triggers_unknown_to(directory, os.path.join(state_dir, "inventory.db"))
    return Server(state_dir=state_dir, host=host, prebuilt_app=os.path.abspath(directory))


def drop_triggers_unknown_to(directory, database):
    """Drops the triggers of the app's newer migrations that the earlier build at
    `directory` does not create: it writes those rows itself, and would write them twice."""
    known = set()
    for path in glob.glob(os.path.join(directory, "migrations", "*.sql")):
        with open(path) as migration:
            known.update(name.lower() for name in
                         re.findall(r"CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)",
                                    migration.read(), re.IGNORECASE))
    connection = sqlite3.connect(database)
    triggers = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    for name in triggers:
        if name.lower() not in known:
            connection.execute(f'DROP TRIGGER "{name}"')
    connection.commit()
    connection.close()


def sold_out_product(key):
    """The id of the product with no stock that the "soldout" scenario orders; created
    on the app's server the first time (before a baseline copies its database)."""
    global _sold_out_id
    if _sold_out_id is None:
        body = dict(catalog_product(0), sku=SOLD_OUT_SKU, stock_quantity=0)
        status, product = request("POST", "/api/v1/products", body, key)
        assert status == 201, (status, product)
        _sold_out_id = product["id"]
    return _sold_out_id


_sold_out_id = None


def snapshot_database(server, prefix):
    """A new state directory holding a copy of `server`'s database (in WAL mode, as the
    app leaves it)."""
    state_dir = tempfile.mkdtemp(prefix=prefix)
    source = sqlite3.connect(server.database_path())
    copy = sqlite3.connect(os.path.join(state_dir, "inventory.db"))
    source.backup(copy)
    source.close()
    copy.execute("PRAGMA journal_mode = WAL")
    copy.close()
    return state_dir


# The scenarios measured on the baseline (--baseline): the reads and the orders the
# WASIp3 move and the read before an order's transaction were meant to speed up.
BASELINE_SCENARIOS = ("bare", "health", "product", "order1", "soldout")
# The product of the "soldout" scenario: seeded with no stock, after the catalog.
SOLD_OUT_SKU = "BENCH-SOLD-OUT"


def measure(scenarios, args, key, product_range, server, ceiling, ceiling_on_app_db, original=None,
            baseline=None):
    """Runs every scenario `args.rounds` times on the app, each run followed by one on its
    reference (the ceiling, or for search the app's GET product), for the reads the
    ceiling on the app's database can serve one there, and for the scenarios the
    original service has one there (`original`: its service, key and product range), so
    that all see the same machine state; returns each scenario's median runs."""
    rows = []
    baseline_medians = {}
    for name, scenario, connections, reference in scenarios:
        app_runs, reference_runs, on_app_db_runs, original_runs, baseline_runs = [], [], [], [], []
        hot = scenario.endswith("-hot")
        scenario = scenario.removesuffix("-hot")
        scenario_range = (product_range[0], product_range[0]) if hot else product_range
        if scenario == "soldout":
            scenario_range = (sold_out_product(key),) * 2
        for round_number in range(args.rounds):
            log(f"{name} at {connections} connections for {args.duration} s (round {round_number + 1})")
            app_runs.append(run_wrk(scenario, connections, args.duration, key, scenario_range, [server],
                                    sample_memory=(scenario == "product")))
            if reference == "ceiling":
                reference_runs.append(run_wrk(scenario, connections, args.duration, key, scenario_range,
                                              [ceiling]))
            elif reference == "product":
                reference_runs.append(run_wrk("product", connections, args.duration, key, scenario_range,
                                              [server]))
            if scenario in ("health", "product"):
                on_app_db_runs.append(run_wrk(scenario, connections, args.duration, key, scenario_range,
                                              [ceiling_on_app_db]))
            if original and scenario in ORIGINAL_SCENARIOS:
                service, original_key, original_range = original
                if hot:
                    original_range = (original_range[0], original_range[0])
                original_runs.append(run_wrk(scenario, connections, args.duration, original_key,
                                             original_range, [service]))
            if baseline and scenario in BASELINE_SCENARIOS:
                baseline_runs.append(run_wrk(scenario, connections, args.duration, key, scenario_range,
                                             [baseline]))
        app_runs.sort(key=lambda figures: figures["rps"])
        median = app_runs[len(app_runs) // 2]
        original_runs.sort(key=lambda figures: figures["rps"])
        original_median = original_runs[len(original_runs) // 2] if original_runs else None
        if baseline_runs:
            baseline_runs.sort(key=lambda figures: figures["rps"])
            baseline_medians[name] = (connections, median, baseline_runs[len(baseline_runs) // 2])
        reference_rps = (statistics.median(run["rps"] for run in reference_runs) if reference_runs else None)
        on_app_db_rps = (statistics.median(run["rps"] for run in on_app_db_runs) if on_app_db_runs else None)
        if any(run["errors"] for run in reference_runs if reference == "ceiling") or \
                any(run["errors"] for run in on_app_db_runs):
            raise SystemExit(f"the ceiling answered errors in {scenario}")
        log(f"  app {median['rps']:.0f} req/s"
            + (f", reference {reference_rps:.0f} req/s, ratio {median['rps'] / reference_rps:.2f}"
               if reference_rps else "")
            + (f", ceiling on the app's database {on_app_db_rps:.0f} req/s" if on_app_db_rps else "")
            + (f", original {original_median['rps']:.0f} req/s" if original_median else "")
            + (f", baseline {baseline_medians[name][2]['rps']:.0f} req/s" if name in baseline_medians else ""))
        rows.append((name, connections, reference, median, reference_rps, on_app_db_rps, original_median))
    return rows, baseline_medians


def main():
    global SERVER_PORT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15, help="seconds per scenario")
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each scenario, alternating app and ceiling (medians are shown)")
    parser.add_argument("--scenarios", help="comma-separated subset, e.g. bare,product,order1")
    parser.add_argument("--host", help="a spin_host binary to serve with (instead of `spin` on PATH, or "
                                       "building one)")
    parser.add_argument("--original", default=os.environ.get("ORIGINAL_SOURCE"),
                        help="a checkout or git directory of the original service "
                             "(Revanth-0405/ecommerce-api), measured as a reference row "
                             "(default: $ORIGINAL_SOURCE; skipped when neither is given)")
    parser.add_argument("--original-orders", type=int, default=2000,
                        help="orders seeded into the original (at most --orders): it rewrites one JSON "
                             "file of all orders on every order, so seeding grows quadratically")
    parser.add_argument("--baseline",
                        help="a checkout of an earlier commit with its components built (e.g. a "
                             "`git worktree`, then `cargo build --target wasm32-wasip2 --release -p "
                             "inventory-api -p inventory-console` there), served on a copy of the app's "
                             "database and measured in the same rounds")
    parser.add_argument("--output", default=os.path.join(ROOT, "BENCHMARKS.md"))
    parser.add_argument("--scale-out", action="store_true",
                        help="compare the shared backends instead (see above)")
    parser.add_argument("--setups", help="with --scale-out: only the setups whose name contains one of "
                        "these comma-separated words, e.g. '1 instance'")
    parser.add_argument("--webhooks", action="store_true",
                        help="GET product and one-line orders with and without a webhook endpoint "
                             "subscribed to every event (a local receiver answering 204, at once "
                             "or only after 30 s), in alternating rounds on one server")
    parser.add_argument("--tokens", action="store_true",
                        help="GET product with an API key and with an access token, on a local file and "
                             "on PostgreSQL (see above)")
    parser.add_argument("--reservations", action="store_true",
                        help="GET product and one-line orders with no holds, with 10,000 expired holds "
                             "and with live holds too (see above)")
    parser.add_argument("--key-value", help="Redis for the counters: redis://HOST:PORT")
    parser.add_argument("--sqlite", help="libSQL server for the database: http://HOST:PORT")
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        log("installing wrk (Debian package)")
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
    if args.scale_out:
        scale_out(args)
        return
    if args.webhooks:
        webhooks(args)
        return
    if args.tokens:
        tokens(args)
        return
    if args.reservations:
        reservations(args)
        return

    scenarios = [row for row in SCENARIOS if not args.scenarios or row[1] in args.scenarios.split(",")]
    server = Server(host=args.host)
    ceiling = Server(ceiling=True, host=args.host)
    SERVER_PORT = server.port
    original_service = None
    try:
        if args.original:
            sys.path.insert(0, os.path.join(BENCH_DIR, "original"))
            from original import OriginalService
            original_service = OriginalService(args.original)
        # A key on the service's default limit (the variable is set high above), as most
        # keys are: its requests read the limit variable, like the ceiling's do.
        status, key = request("POST", "/api/v1/auth/keys", {"owner": "benchmark", "role": "admin"}, ADMIN_KEY)
        assert status == 201, key
        key = key["api_key"]
        product_range = seed(args.products, args.orders, key)
        status, _ = request("POST", f"/setup?products={product_range[1]}", None, key, port=ceiling.port)
        assert status == 200, status
        ceiling_on_app_db = ceiling_on_copy_of(server, key, args.host)
        if any(scenario == "soldout" for _, scenario, _, _ in scenarios):
            sold_out_product(key)
        reports = time_reports(key) if args.orders else []
        original = None
        original_orders = min(args.original_orders, args.orders)
        if original_service:
            original = (original_service, *seed_original(original_service, args.products, original_orders))
        baseline = baseline_on_copy_of(server, args.baseline, args.host) if args.baseline else None
        rows, baseline_medians = measure(scenarios, args, key, product_range, server, ceiling,
                                         ceiling_on_app_db, original, baseline)
    finally:
        server.stop()
        ceiling.stop()
        if original_service:
            original_service.stop()
        if "ceiling_on_app_db" in locals():
            ceiling_on_app_db.stop()
            shutil.rmtree(ceiling_on_app_db.state_dir, ignore_errors=True)
        if locals().get("baseline"):
            baseline.stop()
            shutil.rmtree(baseline.state_dir, ignore_errors=True)

    table = ["| scenario | conns | app req/s | reference req/s | app / reference | ceiling on the app's "
             "database | p50 ms | p95 ms | p99 ms | errors | CPU busy |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, connections, reference, figures, reference_rps, on_app_db_rps, _ in rows:
        if reference_rps:
            label = "ceiling" if reference == "ceiling" else "app's GET product"
            versus = f"{reference_rps:.0f} ({label})"
            ratio = f"**{figures['rps'] / reference_rps:.2f}**"
        else:
            versus, ratio = "—", "—"
        on_app_db = f"{on_app_db_rps:.0f}" if on_app_db_rps else "—"
        table.append(f"| {name} | {connections} | {figures['rps']:.0f} | {versus} | {ratio} | {on_app_db} | "
                     f"{figures['p50_us'] / 1000:.2f} | {figures['p95_us'] / 1000:.2f} | "
                     f"{figures['p99_us'] / 1000:.2f} | {figures['errors']} | {figures['cpu_busy']:.0f} % |")
    report_table = ["| report | p50 ms | p95 ms | max ms |", "|---|---:|---:|---:|"]
    for path, p50, p95, worst in reports:
        report_table.append(f"| `{path}` | {p50:.1f} | {p95:.1f} | {worst:.1f} |")
    product = next((figures for name, _, _, figures, _, _, _ in rows if name == "GET /api/v1/products/{id}"),
                   None)
    summary = [f"Each scenario ran {args.rounds} times, alternating app and reference; the table shows "
               "each one's median requests/s and the latencies and errors of the app's median run. "
               "\"Ceiling on the app's database\" is the ceiling serving a copy of the app's seeded "
               "database (its schema, indexes and data): how far the ceiling itself falls when every "
               "new connection must parse the app's schema."]
    if product:
        summary.append(f"App resident memory, peak during the 32-connection GET product scenario: "
                       f"{product['peak_rss_kib'] / 1024:.0f} MiB")
    text = "\n".join(table + [""] + summary + original_section(rows, args, original_service, original_orders)
                     + baseline_section(baseline_medians, args)
                     + ["", f"Reports over {args.products} products and {args.orders} orders (20 sequential "
                        "requests each):", ""] + report_table)
    print(text)
    # The scale-out comparison and the hand-written analysis (from "## Scale-out" or
    # "## Reading" on) survive a rerun; only the figures above them are replaced.
    reading = ""
    if os.path.exists(args.output):
        with open(args.output) as previous:
            old = previous.read()
        kept = [old.index(heading) for heading in (SCALE_OUT_HEADING, READING_HEADING) if heading in old]
        if kept:
            reading = "\n" + old[min(kept):]
    with open(args.output, "w") as output:
        output.write("# Benchmarks\n\n"
                     "Produced by `python3 tests/bench/bench.py` (see its docstring). Figures are from one "
                     "run; the load generator shares the machine with the server. CPU busy is the share of "
                     "all cores in use during the scenario (server and wrk together).\n\n"
                     f"Machine: {machine_description(server.kind)}.\n\n"
                     f"Data: {args.products} products, {args.orders} orders (10% cancelled), "
                     f"{args.duration} s per scenario.\n\n" + text + "\n" + reading)
    log(f"wrote {args.output}")


def baseline_section(baseline_medians, args):
    """The earlier build's rows (--baseline), from the same rounds as the app's."""
    if not baseline_medians:
        return []
    lines = ["", f"The app as built from `{args.baseline}` (an earlier commit: "
                 f"{git_description(args.baseline)}), served the same way on a copy of the app's "
                 "database, in the same rounds:", "",
             "| scenario | conns | baseline req/s | app req/s | app / baseline | baseline p50 ms | "
             "baseline p99 ms | app p99 ms | baseline errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, (connections, app, baseline) in baseline_medians.items():
        lines.append(f"| {name} | {connections} | {baseline['rps']:.0f} | {app['rps']:.0f} | "
                     f"**{app['rps'] / baseline['rps']:.2f}** | {baseline['p50_us'] / 1000:.2f} | "
                     f"{baseline['p99_us'] / 1000:.2f} | {app['p99_us'] / 1000:.2f} | {baseline['errors']} |")
    return lines


def git_description(directory):
    """`<short hash> <subject>` of the checkout at `directory`, or its path."""
    found = subprocess.run(["git", "-C", directory, "log", "-1", "--format=%h %s"],
                           capture_output=True, text=True)
    return found.stdout.strip()[:100] if found.returncode == 0 else directory


def original_section(rows, args, original_service, original_orders):
    """The reference rows of the original service, when it was measured: its median
    runs next to the app's, from the same rounds."""
    measured = [row for row in rows if row[6]]
    if not measured:
        return []
    lines = ["", f"The original service (Revanth-0405/ecommerce-api: Flask + SQLAlchemy, {original_service.kind}), "
                 f"on the same machine in the same rounds, seeded through its API with the same {args.products} "
                 f"products and {original_orders} orders (it rewrites one JSON file of all orders on every "
                 "order, so seeding grows quadratically); its rate limit is configured out of reach:", "",
             "| scenario | conns | original req/s | app req/s | app / original | original p50 ms | "
             "original p99 ms | original errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, connections, _, figures, _, _, original in measured:
        lines.append(f"| {name} | {connections} | {original['rps']:.0f} | {figures['rps']:.0f} | "
                     f"**{figures['rps'] / original['rps']:.1f}** | {original['p50_us'] / 1000:.2f} | "
                     f"{original['p99_us'] / 1000:.2f} | {original['errors']} |")
    return lines


def scale_out(args):
    """The scale-out comparison: see the module docstring."""
    global SERVER_PORT
    products, orders = min(args.products, 1000), min(args.orders, 1000)
    started = []
    redis_url, sqlite_url = args.key_value, args.sqlite
    if not redis_url:
        started.append(Backend("redis"))
        redis_url = started[-1].url
    if not sqlite_url and shutil.which("sqld"):
        started.append(Backend("sqld"))
        sqlite_url = started[-1].url
    postgres = None
    if glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        started.append(Backend("postgres"))
        postgres = started[-1]
    # (setup, instances, counters, libSQL URL, on PostgreSQL)
    setups = [("1 instance, local SQLite file, counters in memory", 1, None, None, False),
              ("2 instances, one local SQLite file, counters on Redis", 2, redis_url, None, False)]
    if postgres:
        setups += [("1 instance, PostgreSQL, counters in memory", 1, None, None, True),
                   ("2 instances, PostgreSQL, counters on Redis", 2, redis_url, None, True)]
    if sqlite_url:
        setups.append(("2 instances, libSQL server (sqld), counters on Redis", 2, redis_url, sqlite_url,
                       False))
    if args.setups:
        wanted = [part.strip().lower() for part in args.setups.split(",")]
        setups = [setup for setup in setups if any(part in setup[0].lower() for part in wanted)]
    rows = []
    try:
        for number, (setup, instances, key_value, sqlite, on_postgres) in enumerate(setups):
            state_dir = tempfile.mkdtemp(prefix="inventory-bench-scale-")
            database = postgres.fresh_database(f"bench_{os.getpid()}_{number}") if on_postgres else None
            servers = []
            try:
                for _ in range(instances):
                    servers.append(Server(state_dir, key_value, sqlite, host=args.host, postgres=database))
                server_kind = servers[0].kind
                SERVER_PORT = servers[0].port
                status, key = request("POST", "/api/v1/auth/keys",
                                      {"owner": "benchmark", "role": "admin",
                                       "rate_limit_per_minute": 1_000_000}, ADMIN_KEY, port=SERVER_PORT)
                assert status == 201, key
                key = key["api_key"]
                log(f"{setup}: seeding")
                product_range = seed(products, orders, key)
                for name, scenario, connections, hot in SCALE_OUT_SCENARIOS:
                    log(f"{setup}: {name} at {connections} connections for {args.duration} s")
                    products_ordered = (product_range[0], product_range[0]) if hot else product_range
                    figures = run_wrk(scenario, connections, args.duration, key, products_ordered, servers)
                    rows.append((setup, name, connections, figures))
            finally:
                for server in servers:
                    server.stop()
                shutil.rmtree(state_dir, ignore_errors=True)
    finally:
        for backend in started:
            backend.stop()

    table = ["| setup | scenario | conns | requests/s | p50 ms | p99 ms | errors | CPU busy |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for setup, name, connections, figures in rows:
        table.append(f"| {setup} | {name} | {connections} | {figures['rps']:.0f} | "
                     f"{figures['p50_us'] / 1000:.2f} | {figures['p99_us'] / 1000:.2f} | "
                     f"{figures['errors']} | {figures['cpu_busy']:.0f} % |")
    section = (f"{SCALE_OUT_HEADING}\n\n"
               "Produced by `python3 tests/bench/bench.py --scale-out`: each setup on a fresh database "
               f"with {products} products and {orders} orders, {args.duration} s per scenario, every "
               "process (instances, Redis, sqld, PostgreSQL, wrk) on this one machine. With two instances, one wrk "
               "drives each with half the connections: requests/s and errors are summed, latencies "
               "are the slower instance's.\n\n"
               f"Machine: {machine_description(server_kind)}.\n\n"
               + "\n".join(table) + "\n")
    print(section)
    replace_section(args.output, SCALE_OUT_HEADING, section)


def access_token(port, key_id, key):
    """A fresh access token for the key (client credentials, form fields)."""
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": key_id,
                                   "client_secret": key})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("POST", "/api/v1/auth/token", body=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    assert response.status == 200, answer
    return answer["access_token"]


def tokens(args):
    """GET product with a key and with a token: see `--tokens`."""
    global SERVER_PORT
    products, orders = min(args.products, 1000), min(args.orders, 1000)
    postgres = Backend("postgres") if glob.glob("/usr/lib/postgresql/*/bin/initdb") else None
    redis = Backend("redis") if postgres and shutil.which("redis-server") else None
    baseline = os.path.abspath(args.baseline) if args.baseline else None
    commit = git_description(args.baseline).split(" ")[0] if args.baseline else None
    # (setup, PostgreSQL database, another build, Redis URL for the counters)
    setups = [("1 instance, local SQLite file", None, None, None)]
    if baseline:
        setups.append((f"1 instance, local SQLite file, build {commit}", None, baseline, None))
    if postgres:
        setups.append(("1 instance, PostgreSQL", postgres.fresh_database(f"bench_tokens_{os.getpid()}"),
                        None, None))
    if redis:
        setups.append(("1 instance, PostgreSQL, counters on Redis",
                       postgres.fresh_database(f"bench_tokens_redis_{os.getpid()}"), None, redis.url))
        if baseline:
            setups.append((f"1 instance, PostgreSQL, counters on Redis, build {commit}",
                           postgres.fresh_database(f"bench_tokens_redis_base_{os.getpid()}"), baseline,
                           redis.url))
    servers, original_service, original = [], None, None
    try:
        for setup, database, prebuilt_app, key_value in setups:
            server = Server(host=args.host, postgres=database, extra_variables=TOKEN_VARIABLES,
                            prebuilt_app=prebuilt_app, key_value=key_value)
            SERVER_PORT = server.port
            status, minted = request("POST", "/api/v1/auth/keys",
                                     {"owner": "benchmark", "role": "admin", "rate_limit_per_minute": 1_000_000},
                                     ADMIN_KEY)
            assert status == 201, minted
            log(f"{setup}: seeding")
            product_range = seed(products, orders, minted["api_key"])
            servers.append((setup, server, minted["id"], minted["api_key"], product_range))
        if args.original:
            sys.path.insert(0, os.path.join(BENCH_DIR, "original"))
            from original import OriginalService
            original_service = OriginalService(args.original)
            original = seed_original(original_service, products, 0)
        runs = {}
        connections = 32
        for round_number in range(args.rounds):
            for setup, server, key_id, key, product_range in servers:
                for credential in ("API key", "access token"):
                    token = access_token(server.port, key_id, key) if credential == "access token" else None
                    log(f"{setup}, {credential}: GET product at {connections} connections for {args.duration} s "
                        f"(round {round_number + 1})")
                    runs.setdefault((setup, credential), []).append(
                        run_wrk("product", connections, args.duration, key, product_range, [server],
                                bearer_token=token))
            if original:
                original_key, original_range = original
                log(f"original: GET product (round {round_number + 1})")
                runs.setdefault(("original service", "API key"), []).append(
                    run_wrk("product", connections, args.duration, original_key, original_range,
                            [original_service]))
        server_kind = servers[0][1].kind
    finally:
        for _, server, _, _, _ in servers:
            server.stop()
        if original_service:
            original_service.stop()
        if postgres:
            postgres.stop()
        if redis:
            redis.stop()

    medians = {}
    for label, measured in runs.items():
        measured.sort(key=lambda figures: figures["rps"])
        medians[label] = measured[len(measured) // 2]
    file_token = medians.get(("1 instance, local SQLite file", "access token"))
    original_median = medians.get(("original service", "API key"))
    table = ["| setup | credential | requests/s | vs the same setup with a key | vs the file with a token "
             "| vs the original | p50 ms | p99 ms | errors | CPU busy |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (setup, credential), figures in medians.items():
        with_key = medians.get((setup, "API key"))
        versus_key = f"{figures['rps'] / with_key['rps']:.2f}x" if credential == "access token" else "—"
        versus_file = (f"{figures['rps'] / file_token['rps']:.2f}x"
                       if file_token and setup != "original service" else "—")
        versus_original = (f"**{figures['rps'] / original_median['rps']:.2f}x**"
                           if original_median and setup != "original service" else "—")
        table.append(f"| {setup} | {credential} | {figures['rps']:.0f} | {versus_key} | {versus_file} | "
                     f"{versus_original} | {figures['p50_us'] / 1000:.2f} | {figures['p99_us'] / 1000:.2f} | "
                     f"{figures['errors']} | {figures['cpu_busy']:.0f} % |")
    section = (f"{TOKENS_HEADING}\n\n"
               "Produced by `python3 tests/bench/bench.py --tokens"
               + (" --original …" if original else "") + (" --baseline …" if args.baseline else "")
               + "`: GET /api/v1/products/{id} at "
               f"{connections} connections, {args.duration} s per run, {args.rounds} rounds (medians shown), "
               f"every server up at once on {products} products, each round running every row once. "
               "With a key, a request reads the key's row and then the product; with a token it reads "
               "the product only (the token is verified with the signing key; the rate limiter's "
               "increment, made with either credential, also tells whether revocation barred the "
               "key's counters).")
    publish(args, TOKENS_HEADING, section, server_kind, table)


def hold(key, product_id, ttl_seconds):
    """One hold of one unit of `product_id`; its expiry (RFC 3339)."""
    status, answer = request_retrying("POST", "/api/v1/reservations",
                                      {"items": [{"product_id": product_id, "quantity": 1}],
                                       "ttl_seconds": ttl_seconds}, key)
    assert status == 201, (status, answer)
    return answer["expires_at"]


def reservations(args):
    """The hot paths with holds lying around: see `--reservations`."""
    global SERVER_PORT
    products, expired_holds = min(args.products, 1000), 10_000
    setups = [("no holds", None), (f"{expired_holds:,} expired holds", "expired"),
              (f"{expired_holds:,} expired holds + 1 live hold per product", "live")]
    if args.baseline:
        commit = git_description(args.baseline).split(" ")[0]
        setups.insert(0, (f"before reservations ({commit}), no holds", "baseline"))
    servers = []
    try:
        for setup, holds in setups:
            server = Server(host=args.host, prebuilt_app=os.path.abspath(args.baseline)
                            if holds == "baseline" else None)
            SERVER_PORT = server.port
            status, minted = request("POST", "/api/v1/auth/keys",
                                     {"owner": "benchmark", "role": "admin", "rate_limit_per_minute": 1_000_000},
                                     ADMIN_KEY)
            assert status == 201, minted
            key = minted["api_key"]
            log(f"{setup}: seeding")
            product_range = seed(products, 0, key)
            if holds in ("expired", "live"):
                started = time.time()
                expiries = parallel(expired_holds, lambda index: hold(
                    key, product_range[0] + index % products, 30))
                log(f"  {expired_holds} holds (30 s) in {time.time() - started:.0f} s")
                servers.append([setup, server, key, product_range, holds, max(expiries)])
            else:
                servers.append([setup, server, key, product_range, holds, None])
        last_expiry = max((entry[5] for entry in servers if entry[5]), default=None)
        if last_expiry:
            wait = calendar.timegm(time.strptime(last_expiry[:19], "%Y-%m-%dT%H:%M:%S")) + 2 - time.time()
            log(f"waiting {max(wait, 0):.0f} s for the holds to expire (nothing sweeps them)")
            time.sleep(max(wait, 0))
        for setup, server, key, product_range, holds, _ in servers:
            SERVER_PORT = server.port
            if holds == "live":
                parallel(products, lambda index: hold(key, product_range[0] + index, 3600))
                log(f"{setup}: {products} live holds added")
            status, product = request("GET", f"/api/v1/products/{product_range[0]}", key=key)
            log(f"{setup}: product {product_range[0]} reads reserved {product.get('reserved_quantity')}, "
                f"available {product.get('available_quantity')}")
        runs = {}
        for round_number in range(args.rounds):
            for name, scenario, connections in RESERVATION_SCENARIOS:
                for setup, server, key, product_range, _, _ in servers:
                    log(f"{setup}: {name} at {connections} connections for {args.duration} s "
                        f"(round {round_number + 1})")
                    runs.setdefault((name, setup), []).append(
                        run_wrk(scenario, connections, args.duration, key, product_range, [server]))
        server_kind = servers[0][1].kind
    finally:
        for entry in servers:
            entry[1].stop()

    medians = {}
    for label, measured in runs.items():
        measured.sort(key=lambda figures: figures["rps"])
        medians[label] = measured[len(measured) // 2]
    table = ["| request | setup | requests/s | vs no holds | p50 ms | p99 ms | errors | CPU busy |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (name, setup), figures in medians.items():
        reference = medians.get((name, "no holds"))
        versus = f"{figures['rps'] / reference['rps']:.2f}x" if reference else "—"
        table.append(f"| {name} | {setup} | {figures['rps']:.0f} | {versus} | {figures['p50_us'] / 1000:.2f} | "
                     f"{figures['p99_us'] / 1000:.2f} | {figures['errors']} | {figures['cpu_busy']:.0f} % |")
    section = (f"{RESERVATIONS_HEADING}\n\n"
               "Produced by `python3 tests/bench/bench.py --reservations"
               + (" --baseline …" if args.baseline else "") + "`: every server up at once, each on its "
               f"own local SQLite file with the same {products} products, {args.duration} s per run, "
               f"{args.rounds} rounds (medians shown), each round running every row once. The expired "
               f"holds are {expired_holds:,} one-unit holds of 30 s, 10 per product, that nothing swept; "
               "the live holds are one more one-unit hold of an hour on every product, so that every "
               "GET and order sums the live holds of its product (index range over live lines only); "
               "orders are one unit of a random product, with no hold.")
    publish(args, RESERVATIONS_HEADING, section, server_kind, table)


def publish(args, heading, section, server_kind, table):
    """Prints `section` (its heading and text) with the machine and `table`, and puts it
    in place of the section `heading` of `args.output`."""
    section += f"\n\nMachine: {machine_description(server_kind)}.\n\n" + "\n".join(table) + "\n"
    print(section)
    replace_section(args.output, heading, section)


def replace_section(path, heading, section):
    """Puts `section` (which starts with `heading`) into the file at `path`: in place of
    the section under that heading up to the next `## ` heading, else before "Reading",
    else at the end."""
    old = ""
    if os.path.exists(path):
        with open(path) as previous:
            old = previous.read()
    if heading in old:
        start = old.index(heading)
        next_heading = old.find("\n## ", start + len(heading))
        end = next_heading + 1 if next_heading >= 0 else len(old)
        new = old[:start] + section + "\n" + old[end:]
    elif READING_HEADING in old:
        at = old.index(READING_HEADING)
        new = old[:at] + section + "\n" + old[at:]
    else:
        new = old + "\n" + section
    with open(path, "w") as output:
        output.write(new)
    log(f"wrote the section {heading!r} of {path}")


class LeanReceiver:
    """A webhook receiver on 127.0.0.1 answering 204 to everything, counting requests,
    written on asyncio's protocol layer (keep-alive, no thread per connection) so that
    on this shared 2-core machine it takes as little CPU from the server as a receiver
    can: in production the receiver runs elsewhere. With `answer_after` (seconds), it
    answers each request only that long after receiving it: a stuck subscriber."""

    def __init__(self, answer_after=None):
        import asyncio
        receiver = self
        self.count = 0
        self.connections = 0
        self.loop = asyncio.new_event_loop()

        class Connection(asyncio.Protocol):
            def connection_made(self, transport):
                receiver.connections += 1
                self.transport = transport
                self.buffer = b""

            def data_received(self, data):
                self.buffer += data
                while True:
                    end = self.buffer.find(b"\r\n\r\n")
                    if end < 0:
                        return
                    head = self.buffer[:end].lower()
                    length = 0
                    at = head.find(b"content-length:")
                    if at >= 0:
                        length = int(head[at + 15:].split(b"\r\n", 1)[0])
                    if len(self.buffer) < end + 4 + length:
                        return
                    self.buffer = self.buffer[end + 4 + length:]
                    receiver.count += 1
                    if answer_after:
                        receiver.loop.call_later(answer_after, self.answer)
                    else:
                        self.answer()

            def answer(self):
                if not self.transport.is_closing():
                    self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")

        started = threading.Event()

        def serve():
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                self.loop.create_server(Connection, "127.0.0.1", 0))
            started.set()
            self.loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        started.wait()
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hooks"

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)


class Receiver:
    """A webhook receiver on 127.0.0.1 answering 204 to everything, counting requests."""

    def __init__(self):
        import http.server
        import socketserver
        receiver = self
        self.count = 0
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.lock:
                    receiver.count += 1
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def webhooks(args):
    """The hot paths with and without a subscriber: see `--webhooks`."""
    global SERVER_PORT
    products, orders = min(args.products, 1000), min(args.orders, 1000)
    server = Server(host=args.host, extra_variables=[("webhook_loopback_http", "true")])
    SERVER_PORT = server.port
    receivers = {"lean": LeanReceiver(), "threaded": Receiver(), "stuck": LeanReceiver(answer_after=30)}
    # (label, receiver): the subscriber of each row; None is no enabled endpoint.
    variants = [("none", None),
                ("every event, asyncio receiver answering 204", "lean"),
                ("every event, thread-per-connection http.server receiver answering 204", "threaded"),
                ("every event, asyncio receiver answering 204 only after 30 s (stuck)", "stuck")]
    rows = []
    try:
        status, key = request("POST", "/api/v1/auth/keys",
                              {"owner": "benchmark", "role": "admin", "rate_limit_per_minute": 1_000_000},
                              ADMIN_KEY)
        assert status == 201, key
        key = key["api_key"]
        product_range = seed(products, orders, key)
        status, endpoint = request("POST", "/api/v1/webhooks",
                                   {"url": receivers["lean"].url, "enabled": False}, key)
        assert status == 201, endpoint
        for round_number in range(args.rounds):
            for label, receiver_name in variants:
                change = {"enabled": receiver_name is not None}
                if receiver_name:
                    change["url"] = receivers[receiver_name].url
                status, _ = request("PATCH", f"/api/v1/webhooks/{endpoint['id']}", change, key)
                assert status == 200, status
                for name, scenario, connections in WEBHOOK_SCENARIOS:
                    receiver = receivers[receiver_name or "lean"]
                    before = receiver.count
                    log(f"round {round_number + 1}: {name}, subscriber: {label}")
                    figures = run_wrk(scenario, connections, args.duration, key, product_range, [server])
                    # Deliveries still in flight when wrk stops count for their row.
                    time.sleep(2)
                    received = receiver.count - before if receiver_name else 0
                    log(f"  {figures['rps']:.0f} requests/s, {received} deliveries received"
                        f" (the lean receiver has accepted {receivers['lean'].connections} connections"
                        " so far)")
                    rows.append((name, label, figures, received))
    finally:
        server.stop()
        for receiver in receivers.values():
            receiver.stop()

    def median(values):
        values = sorted(values)
        return values[len(values) // 2]

    table = ["| scenario | subscriber | requests/s (median) | each round | p50 ms | p99 ms | errors "
             "| deliveries received |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for name, _, _ in WEBHOOK_SCENARIOS:
        for label, _ in variants:
            runs = [(figures, received) for row_name, row_label, figures, received in rows
                    if row_name == name and row_label == label]
            table.append(
                f"| {name} | {label} | {median([f['rps'] for f, _ in runs]):.0f} | "
                f"{', '.join(str(round(f['rps'])) for f, _ in runs)} | "
                f"{median([f['p50_us'] for f, _ in runs]) / 1000:.2f} | "
                f"{median([f['p99_us'] for f, _ in runs]) / 1000:.2f} | {sum(f['errors'] for f, _ in runs)} | "
                f"{sum(received for _, received in runs)} |")
    section = (f"{WEBHOOKS_HEADING}\n\n"
               "Produced by `python3 tests/bench/bench.py --webhooks`: one server with "
               f"{products} products and {orders} orders, {args.rounds} rounds; each round runs every "
               "scenario with no enabled endpoint, then with an enabled endpoint subscribed to every "
               "event whose receiver (on 127.0.0.1, answering 204) is first a lean asyncio server, then "
               "Python's thread-per-connection `http.server`, then the asyncio server answering each "
               f"delivery only 30 s after it arrived (a stuck subscriber); {args.duration} s per "
               "scenario; medians "
               "of the rounds, errors and deliveries summed.\n\n"
               f"Machine: {machine_description(server.kind)}.\n\n" + "\n".join(table) + "\n")
    print(section)
    replace_section(args.output, WEBHOOKS_HEADING, section)


if __name__ == "__main__":
    main()
