#!/usr/bin/env bash
# Contract test: schemathesis against swagger.yaml, on a fresh example host.
#
# Needs the debug `spin_host` example and the release component that `cargo test` builds.
# Installs schemathesis and openapi-spec-validator (pinned, tests/contract/install.sh),
# validates swagger.yaml, starts the host on a free 127.0.0.1 port with a fresh state
# directory and a random bootstrap admin key and token signing key, runs schemathesis
# with every check in two passes, stops the host, prints a summary and exits non-zero on
# any check failure, error or 5xx:
#   1. every operation, authenticated with `X-API-Key` (schemathesis.api-key.toml); the
#      token endpoint included (hooks.py gives its valid cases real client credentials);
#   2. every operation that needs credentials again, authenticated with `Authorization:
#      Bearer` and an access token schemathesis gets from the token endpoint itself
#      (schemathesis.bearer.toml); its `ignored_auth` check also sends them without a
#      token and with a forged one (401 expected). What differs from pass 1 is only how
#      the requests authenticate, so this pass is short: fewer cases per operation, and
#      no coverage phase (pass 1's boundary values, the same whatever the credentials).
#
# Knobs (environment): ST_MAX_EXAMPLES (default 50, per operation and phase; the bearer
# pass: ST_BEARER_MAX_EXAMPLES, default 10), ST_SEED (default 20261126), ST_WORKERS
# (default 1: with two, one worker's restore of a product can look like "use after free"
# to the other), ST_REPORT_DIR. Arguments are passed on to both `schemathesis run`s
# (e.g. `--phases stateful`).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=target/contract-venv
REPORT_DIR="${ST_REPORT_DIR:-target/contract/schemathesis}"
tests/contract/install.sh python

echo "== openapi-spec-validator swagger.yaml"
"$VENV/bin/openapi-spec-validator" swagger.yaml

source tests/contract/host.sh
trap stop_host EXIT
# Tokens outlive the bearer pass's refresh interval (300 s), so none expires in use.
HOST_EXTRA_VARIABLES="--variable token_lifetime_seconds=600" start_host
# The configurations and hooks.py read the bootstrap key from the environment.
export ADMIN_KEY

rm -rf "$REPORT_DIR"
mkdir -p "$REPORT_DIR"

# The hooks (tests/contract/hooks.py) make schema-valid cases also obey the documented
# rules JSON Schema cannot state, and send header values UTF-8 encoded (as Spin needs).
# No example database (and Hypothesis' own files under the report directory): a run
# depends on the seed alone. Output is not sanitized: the key is a throwaway.
run_schemathesis() {
    local config="$1" suffix="$2"
    shift 2
    SCHEMATHESIS_HOOKS=tests/contract/hooks.py HYPOTHESIS_STORAGE_DIRECTORY="$REPORT_DIR/hypothesis" \
        timeout 900 \
        "$VENV/bin/schemathesis" --config-file "$config" run swagger.yaml \
        --url "$BASE_URL" \
        --checks all \
        --seed "${ST_SEED:-20261126}" \
        --workers "${ST_WORKERS:-1}" \
        --generation-database none \
        --request-timeout 30 \
        --output-sanitize false \
        --no-color \
        --report junit,ndjson \
        --report-dir "$REPORT_DIR" \
        --report-junit-path "$REPORT_DIR/junit$suffix.xml" \
        --report-ndjson-path "$REPORT_DIR/events$suffix.ndjson" \
        "$@"
}

status=0
echo "== $("$VENV/bin/schemathesis" --version) against $BASE_URL, pass 1: X-API-Key"
run_schemathesis tests/contract/schemathesis.api-key.toml "" \
    --max-examples "${ST_MAX_EXAMPLES:-50}" "$@" || status=$?
echo "== pass 2: Authorization: Bearer (an access token), the operations that need credentials"
run_schemathesis tests/contract/schemathesis.bearer.toml "-bearer" \
    --max-examples "${ST_BEARER_MAX_EXAMPLES:-10}" --phases examples,fuzzing,stateful \
    --exclude-tag Service --exclude-tag Tokens \
    "$@" || status=$?

cp "$HOST_LOG" "$REPORT_DIR/host.log"
stop_host

"$VENV/bin/python" tests/contract/summarize.py \
    "$REPORT_DIR/events.ndjson" "$REPORT_DIR/events-bearer.ndjson" "$REPORT_DIR/host.log" ||
    status=$((status == 0 ? 1 : status))
echo "reports: $REPORT_DIR (junit.xml, events.ndjson; junit-bearer.xml, events-bearer.ndjson; host.log)"
if [[ $status -ne 0 ]]; then
    echo "schemathesis: FAILED (exit $status)" >&2
fi
exit "$status"
