"""WSGI entry point of the original service (Revanth-0405/ecommerce-api) for the benchmark.

The original hard-codes its configuration in `app/config.py` (a class read when the app
is created and, for the rate limit, on every request) and offers no environment
variables for it, so this module sets the two values the benchmark needs on that class
before the original's own `run.py` builds the app. Nothing else of the original is
touched; its code is imported from the checkout gunicorn runs in (`--chdir`).

    ORIGINAL_DATABASE  absolute path of its SQLite file (the original: instance/products.db)
    ORIGINAL_RATE_LIMIT  requests per key per minute (the original: 60)

Its orders file already comes from the environment (`ORDERS_FILE`), read by the
original itself.
"""

import os

from app.config import Config

Config.SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.path.abspath(os.environ["ORIGINAL_DATABASE"])
# The benchmark sends far more than 60 requests a minute with one key; a limit this
# high never rejects one. The original still records every request's time and scans
# the last minute's on each request, as the app still counts each request.
Config.RATE_LIMIT = int(os.environ.get("ORIGINAL_RATE_LIMIT", "1000000000000"))

from run import app  # noqa: E402,F401  (gunicorn serves `app`; it must be built after the above)
