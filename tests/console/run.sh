#!/usr/bin/env bash
# Runs the console's browser tests (pytest + Playwright driving Debian's chromium).
#
# By default against a fresh local host: the debug `spin_host` example (the one
# `cargo test` builds) serving the release builds of both components, on a free port
# with a fresh state directory and a random admin key (tests/contract/host.sh). With
# APP_BASE_URL and APP_ADMIN_KEY set, against that server instead (e.g. `spin up`); the
# webhook tests then need it on this machine with `webhook_loopback_http=true`, since
# their receiver listens on 127.0.0.1.
# Screenshots land in target/console-screenshots/. Extra arguments go to pytest.
# Needs tests/console/install.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=target/console-venv
if [[ ! -x "$VENV/bin/python" ]]; then
    echo "run.sh: $VENV is missing; run tests/console/install.sh first" >&2
    exit 1
fi

if [[ -z "${APP_BASE_URL:-}" ]]; then
    # Both are no-ops when up to date (after `cargo test`, as in CI).
    cargo build --quiet --example spin_host
    cargo build --quiet --target wasm32-wasip2 --release -p inventory-api -p inventory-console
    # shellcheck source=../contract/host.sh
    source tests/contract/host.sh
    show_host_log_on_failure() {
        local status=$?
        if ((status != 0)) && [[ -n "${HOST_LOG:-}" && -f "$HOST_LOG" ]]; then
            echo "run.sh: the host's last log lines:" >&2
            tail -n 30 "$HOST_LOG" >&2
        fi
        stop_host
    }
    trap show_host_log_on_failure EXIT
    # The webhook tests receive deliveries on http://127.0.0.1:<port>/hook, which the API
    # accepts only with this variable (given as Spin's environment provider, which the
    # host reads like `--variable webhook_loopback_http=true`).
    export SPIN_VARIABLE_WEBHOOK_LOOPBACK_HTTP=true
    start_host
    export APP_BASE_URL="$BASE_URL" APP_ADMIN_KEY="$ADMIN_KEY"
fi

"$VENV/bin/python" -m pytest tests/console -q -p no:cacheprovider "$@"
