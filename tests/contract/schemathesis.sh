#!/usr/bin/env bash
# Contract test: schemathesis against swagger.yaml, on a fresh example host.
#
# Needs the debug `spin_host` example and the release component that `cargo test` builds.
# Installs schemathesis and openapi-spec-validator (pinned, tests/contract/install.sh),
# validates swagger.yaml, starts the host on a free 127.0.0.1 port with a fresh state
# directory and a random bootstrap admin key, runs schemathesis with every check, stops
# the host, prints a summary and exits non-zero on any check failure, error or 5xx.
#
# Knobs (environment): ST_MAX_EXAMPLES (default 50, per operation and phase),
# ST_SEED (default 20261126), ST_WORKERS (default 1: with two, one worker's restore of a
# product can look like "use after free" to the other), ST_REPORT_DIR. Arguments are passed
# on to `schemathesis run` (e.g. `--phases stateful`).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=target/contract-venv
REPORT_DIR="${ST_REPORT_DIR:-target/contract/schemathesis}"
tests/contract/install.sh python

echo "== openapi-spec-validator swagger.yaml"
"$VENV/bin/openapi-spec-validator" swagger.yaml

source tests/contract/host.sh
trap stop_host EXIT
start_host

rm -rf "$REPORT_DIR"
mkdir -p "$REPORT_DIR"

echo "== $("$VENV/bin/schemathesis" --version) against $BASE_URL"
status=0
# The hooks (tests/contract/hooks.py) make schema-valid cases also obey the documented
# rules JSON Schema cannot state, and send header values UTF-8 encoded (as Spin needs).
# No example database (and Hypothesis' own files under the report directory): a run
# depends on the seed alone. Output is not sanitized: the key is a throwaway.
SCHEMATHESIS_HOOKS=tests/contract/hooks.py HYPOTHESIS_STORAGE_DIRECTORY="$REPORT_DIR/hypothesis" \
    timeout 900 \
    "$VENV/bin/schemathesis" run swagger.yaml \
    --url "$BASE_URL" \
    --header "X-API-Key: $ADMIN_KEY" \
    --checks all \
    --max-examples "${ST_MAX_EXAMPLES:-50}" \
    --seed "${ST_SEED:-20261126}" \
    --workers "${ST_WORKERS:-1}" \
    --generation-database none \
    --request-timeout 30 \
    --output-sanitize false \
    --no-color \
    --report junit,ndjson \
    --report-dir "$REPORT_DIR" \
    --report-junit-path "$REPORT_DIR/junit.xml" \
    --report-ndjson-path "$REPORT_DIR/events.ndjson" \
    "$@" || status=$?

cp "$HOST_LOG" "$REPORT_DIR/host.log"
stop_host

"$VENV/bin/python" tests/contract/summarize.py "$REPORT_DIR/events.ndjson" "$REPORT_DIR/host.log" ||
    status=$((status == 0 ? 1 : status))
echo "reports: $REPORT_DIR (junit.xml, events.ndjson, host.log)"
if [[ $status -ne 0 ]]; then
    echo "schemathesis: FAILED (exit $status)" >&2
fi
exit "$status"
