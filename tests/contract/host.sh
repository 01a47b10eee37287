# Shared by the contract-test scripts (sourced, not run): starts the `spin_host` example
# on a free 127.0.0.1 port with a fresh state directory and a random bootstrap admin key,
# and stops it again.
#
# After `start_host`: BASE_URL (http://127.0.0.1:PORT), ADMIN_KEY, TOKEN_SIGNING_KEY (the
# key access tokens are signed with), HOST_PID, HOST_LOG
# (the host's output: one JSON access-log line per request), STATE_DIR. `stop_host` is
# idempotent and removes STATE_DIR (with HOST_LOG); callers run it from an EXIT trap.
# HOST_EXTRA_VARIABLES, when set, adds `--variable name=value` arguments (space-separated,
# no spaces inside a value).

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The debug example and the release component that `cargo test` builds.
HOST_BIN="${HOST_BIN:-$PROJECT_DIR/target/debug/examples/spin_host}"
COMPONENT="${COMPONENT:-$PROJECT_DIR/target/wasm32-wasip2/release/inventory_api.wasm}"

start_host() {
    if [[ ! -x "$HOST_BIN" || ! -f "$COMPONENT" ]]; then
        echo "host.sh: $HOST_BIN or $COMPONENT is missing; run 'cargo test' first" >&2
        return 1
    fi
    STATE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/contract-host.XXXXXX")"
    HOST_LOG="$STATE_DIR/host.log"
    ADMIN_KEY="ci-admin-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
    TOKEN_SIGNING_KEY="ci-tokens-$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
    # Port 0: the host binds a free port itself and prints it (no probe-then-bind race).
    # Rate limits are set high: one client makes thousands of requests from one address.
    # Webhook endpoints may be loopback http URLs (the tests register
    # http://127.0.0.1:9/..., where nothing listens), and a failed delivery is retried
    # twice, a second apart, then given up, so the tests see every delivery status.
    "$HOST_BIN" --listen 127.0.0.1:0 --state-dir "$STATE_DIR" \
        --component "$COMPONENT" \
        --variable "admin_api_key=$ADMIN_KEY" \
        --variable "token_signing_key=$TOKEN_SIGNING_KEY" \
        ${HOST_EXTRA_VARIABLES:-} \
        --variable rate_limit_per_minute=1000000 \
        --variable auth_failures_per_minute=1000000 \
        --variable webhook_loopback_http=true \
        --variable webhook_retry_delays=1s,1s \
        >"$HOST_LOG" 2>&1 &
    HOST_PID=$!
    # The debug host compiles the component first: ~10-30 s, longer on a busy machine.
    local line="" deadline=$((SECONDS + ${HOST_START_TIMEOUT:-300}))
    while ((SECONDS < deadline)); do
        line="$(grep -m1 -o 'Serving http://[0-9.:]*' "$HOST_LOG" || true)"
        [[ -n "$line" ]] && break
        if ! kill -0 "$HOST_PID" 2>/dev/null; then
            echo "host.sh: the host exited before serving:" >&2
            cat "$HOST_LOG" >&2
            return 1
        fi
        sleep 0.1
    done
    if [[ -z "$line" ]]; then
        echo "host.sh: the host did not print 'Serving' within ${HOST_START_TIMEOUT:-300} s:" >&2
        cat "$HOST_LOG" >&2
        return 1
    fi
    BASE_URL="${line#Serving }"
    echo "host.sh: serving $BASE_URL (pid $HOST_PID, state $STATE_DIR)"
}

stop_host() {
    if [[ -n "${HOST_PID:-}" ]]; then
        kill -TERM "$HOST_PID" 2>/dev/null || true
        wait "$HOST_PID" 2>/dev/null || true
        HOST_PID=""
    fi
    if [[ -n "${STATE_DIR:-}" && -d "$STATE_DIR" ]]; then
        rm -rf "$STATE_DIR"
        STATE_DIR=""
    fi
}
