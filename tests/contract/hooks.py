"""Schemathesis hooks for tests/contract/schemathesis.sh.

JSON Schema describes each parameter on its own, so a few documented rules of
swagger.yaml cannot be written into the schemas: rules that relate two parameters, or
a parameter to the server's state or configuration. A case schemathesis generates as
*positive* can break one of them, and the service then rightly answers 400/412/422,
which the `positive_data_acceptance` check reports as "schema-valid request rejected".

These hooks make positive cases obey those rules, each named below with the sentence
of swagger.yaml it comes from, and let positive cases name reservations that exist
(below); nothing else. Apart from the header encoding below (which keeps every value's
characters), they never touch a negative case; they never change a check and never
drop a failure: every check runs as schemathesis ships it, on every request.

Reservation ids (`_issued_reservation`, positive cases). A reservation id is 128 random
bits: one drawn from the pattern names no reservation, and the answer is a 404 (which
a positive case may get), so the success paths of `GET`/`DELETE
/api/v1/reservations/{id}` and of an order from `reservation_id` would be reached only
by the stateful phase's links. So a positive case that names a reservation the run has
not seen made gets the id of one it has (from a 201 of `POST /api/v1/reservations`),
picked by the drawn id, when there is one. The case stays positive (the id still
matches its pattern); what it then meets (200; 204 or 201; 409 `RESERVATION_NOT_ACTIVE`
or `PRODUCT_UNAVAILABLE`) is whatever the run did to that reservation and its products
before.

Header encoding (`_send_as_utf8`, every case). Schemathesis draws header values from
Latin-1 and `requests` sends them Latin-1 encoded, so a character from U+0080..U+00FF
goes out as one byte that is not UTF-8. Spin copies every request header into the
component as a UTF-8 string and answers a header that is not valid UTF-8 with an empty
500 before the component runs (spin-trigger-http `prepare_request_headers`;
tests/spin_host does the same): no component can answer such a request. So header values
are sent UTF-8 encoded: the component receives exactly the characters schemathesis drew
(and rejects them, for a negative case, as before).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl, urlsplit

import schemathesis

# Webhook URLs the contract host accepts and can call: loopback http (host.sh sets
# `webhook_loopback_http=true`), to a port where nothing listens, so every delivery fails
# fast and is retried on the short schedule host.sh sets.
_LOOPBACK_URL = re.compile(r"^http://127\.0\.0\.1:9/[!\"$-~]{0,2000}$")
_WEBHOOK_WRITES = ("POST /api/v1/webhooks", "PATCH /api/v1/webhooks/{id}")

# The client credentials of the token endpoint's positive cases: the bootstrap admin key
# (id 0), which schemathesis.sh exports from host.sh.
_TOKEN_CLIENT = ("0", os.environ.get("ADMIN_KEY", ""))

# Cursors the API issued (in `Link: <...>; rel="next"`), by list: path and the other
# query parameters (limit aside, which does not change the list).
_issued_cursors: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
# Ids of the reservations the run made (201 of `POST /api/v1/reservations`), in order.
_issued_reservations: list[str] = []
_RESERVATION_ID = re.compile(r"^res_[0-9a-f]{32}$")
_RESERVATION_PATH = "/api/v1/reservations/{id}"
_lock = threading.Lock()


def _is_positive(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _list_key(path: str, pairs) -> tuple[str, tuple[tuple[str, str], ...]]:
    others = sorted((str(name), str(value)) for name, value in pairs if name not in ("cursor", "limit"))
    return path, tuple(others)


def _instant(text):
    """An RFC 3339 date-time as an aware datetime; None when it does not parse."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.upper().replace(" ", "T").replace("Z", "+00:00"))
    except ValueError:
        return None


def _amount(text):
    try:
        return Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None


def _order_bounds(query: dict, low: str, high: str, parse) -> None:
    """Swaps two bounds that are the wrong way round (both must parse)."""
    if not query.get(low) or not query.get(high):
        return
    low_value, high_value = parse(query[low]), parse(query[high])
    if low_value is not None and high_value is not None and low_value > high_value:
        query[low], query[high] = query[high], query[low]


def _align_series(query: dict) -> None:
    """Moves a sales series' bounds onto its bucket grid, in order, at most 1000 buckets
    apart (both bounds and the bucket must parse)."""
    width = {"hour": timedelta(hours=1), "day": timedelta(days=1)}.get(query.get("bucket"))
    low, high = _instant(query.get("from")), _instant(query.get("to"))
    if width is None or low is None or high is None or low.tzinfo is None or high.tzinfo is None:
        return
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    floor = lambda instant: epoch + ((instant.astimezone(timezone.utc) - epoch) // width) * width
    low, high = sorted((floor(low), floor(high)))
    try:
        high = min(max(high, low + width), low + 1000 * width)
    except OverflowError:
        low = high - width
    query["from"], query["to"] = (instant.isoformat().replace("+00:00", "Z") for instant in (low, high))


def _issued_reservation(drawn):
    """`drawn` when it names a reservation the run made (or is no id at all, or the run
    made none yet), else the id of one the run made, picked by `drawn`."""
    if not isinstance(drawn, str) or not _RESERVATION_ID.match(drawn):
        return drawn
    with _lock:
        if not _issued_reservations or drawn in _issued_reservations:
            return drawn
        digest = int(hashlib.sha256(drawn.encode()).hexdigest()[:8], 16)
        return _issued_reservations[digest % len(_issued_reservations)]


def _send_as_utf8(headers) -> None:
    for name, value in list(headers.items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # A header is text on the wire. The stateful phase can fill a header from a
            # JSON number of an earlier response (it infers `X-Request-Id` <- `id`), which
            # `requests` refuses to send.
            headers[name] = value = str(value)
        if isinstance(value, str) and not value.isascii():
            # `requests` encodes str values as Latin-1: this str's Latin-1 bytes are the
            # UTF-8 encoding of the original value.
            headers[name] = value.encode("utf-8").decode("latin-1")


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.headers:
        _send_as_utf8(case.headers)
    if not _is_positive(case):
        return
    operation = f"{case.method.upper()} {case.path}"
    query = case.query

    # Reports: "a `from` later than `to`" is 400 (ReportFrom). The bounds are swapped.
    if operation in ("GET /api/v1/reports/sales-summary", "GET /api/v1/reports/top-products") and query:
        _order_bounds(query, "from", "to", _instant)

    # Sales series: "`from` and `to` must fall on bucket boundaries (a whole UTC hour; for
    # `bucket=day` a UTC midnight), `from` must be before `to`, and a window holds at most
    # 1000 buckets" (getSalesSeries). The bounds are moved onto that grid.
    if operation == "GET /api/v1/reports/sales-series" and query:
        _align_series(query)

    # Products: "a `min_price` greater than `max_price`" is 400 (MinPrice). Swapped too.
    if operation == "GET /api/v1/products" and query:
        _order_bounds(query, "min_price", "max_price", _amount)

    # Webhook endpoints: a URL "with a host (and, if any, a numeric port) ... without user
    # information ... The scheme ... must be `https`; `http` is accepted only when the
    # host is `127.0.0.1` or `localhost` and the Spin variable `webhook_loopback_http` is
    # `true`" (WebhookUrl). A URL the pattern admits but these rules refuse (most
    # generated ones), and any URL that would make the host call a real address, becomes
    # a loopback URL derived from it, so the endpoint is created.
    if operation in _WEBHOOK_WRITES and isinstance(case.body, dict):
        url = case.body.get("url")
        if isinstance(url, str) and not _LOOPBACK_URL.match(url):
            digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            case.body["url"] = f"http://127.0.0.1:9/hook/{digest}"

    # Access tokens: "`client_id` is the key's `id` ... and `client_secret` is the key
    # itself" (issueAccessToken): a client is a key the service knows. Generated
    # credentials become the bootstrap key's, so the token is issued; a case without them
    # (the client would use HTTP Basic) stays as drawn and is answered 401.
    if operation == "POST /api/v1/auth/token" and isinstance(case.body, dict):
        if "client_id" in case.body or "client_secret" in case.body:
            case.body["client_id"], case.body["client_secret"] = _TOKEN_CLIENT

    # Reservation ids: one the run made instead of one drawn (see the module's docstring).
    if case.path == _RESERVATION_PATH and case.path_parameters:
        case.path_parameters["id"] = _issued_reservation(case.path_parameters.get("id"))
    if operation == "POST /api/v1/orders" and isinstance(case.body, dict) and "reservation_id" in case.body:
        case.body["reservation_id"] = _issued_reservation(case.body["reservation_id"])

    # Lists: the cursor is "an opaque token taken from the previous page's `Link`"; "a
    # token this API did not issue for this kind of list is 400" (Cursor). A generated
    # token is replaced by one the API issued for the same list, or else left out.
    if query and query.get("cursor"):
        key = _list_key(case.formatted_path, query.items())
        with _lock:
            issued = _issued_cursors.get(key)
        if issued is not None:
            query["cursor"] = issued
        else:
            del query["cursor"]

    headers = case.headers
    if not headers:
        return

    # Conditional writes: `If-Match` succeeds only with the product's *current* ETag,
    # else 412 (IfMatch). The current version is not knowable when the case is drawn
    # (other requests change it), so the tag becomes `*`, which matches any version.
    if "If-Match" in headers and headers["If-Match"] != "*":
        headers["If-Match"] = "*"

    # Orders: "the same key with a different body" is 422 IDEMPOTENCY_KEY_REUSED
    # (IdempotencyKey). The key gets a suffix from the body, so different bodies never
    # share a key while a repeated body still replays (201, Idempotent-Replayed).
    if operation == "POST /api/v1/orders" and headers.get("Idempotency-Key"):
        body = json.dumps(case.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(body.encode()).hexdigest()[:16]
        headers["Idempotency-Key"] = f"{headers['Idempotency-Key'][:238]}.{digest}"


@schemathesis.hook
def after_call(context, case, response):
    if f"{case.method.upper()} {case.path}" == "POST /api/v1/reservations" and response.status_code == 201:
        try:
            made = response.json().get("id")
        except (ValueError, AttributeError):
            made = None
        if isinstance(made, str) and _RESERVATION_ID.match(made):
            with _lock:
                _issued_reservations.append(made)
    links = response.headers.get("link") or []
    for link in links:
        target, _, params = link.partition(";")
        if 'rel="next"' not in params:
            continue
        url = urlsplit(target.strip().strip("<>"))
        pairs = parse_qsl(url.query, keep_blank_values=True)
        cursor = dict(pairs).get("cursor")
        if cursor:
            with _lock:
                _issued_cursors[_list_key(url.path, pairs)] = cursor
