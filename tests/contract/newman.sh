#!/usr/bin/env bash
# Contract test: the Postman collection (tests/contract/postman_collection.json), run by
# newman against a fresh example host.
#
# Needs the debug `spin_host` example and the release component that `cargo test` builds.
# Installs newman (pinned, tests/contract/install.sh) under target/, starts the host on a
# free 127.0.0.1 port with a fresh state directory, a random bootstrap admin key and a
# random token signing key (the collection gets access tokens and runs its orders folder
# on one), runs the collection with the environment pointed at it, stops the host and
# exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

NEWMAN=target/contract-node/node_modules/.bin/newman
REPORT_DIR="${NEWMAN_REPORT_DIR:-target/contract/newman}"
tests/contract/install.sh node

source tests/contract/host.sh
trap stop_host EXIT
start_host

rm -rf "$REPORT_DIR"
mkdir -p "$REPORT_DIR"

echo "== newman $("$NEWMAN" --version) against $BASE_URL"
status=0
timeout 300 "$NEWMAN" run tests/contract/postman_collection.json \
    --environment tests/contract/postman_environment.json \
    --env-var "base_url=$BASE_URL" \
    --env-var "admin_api_key=$ADMIN_KEY" \
    --bail failure \
    --timeout-request 30000 \
    --color off \
    --reporters cli,junit \
    --reporter-junit-export "$REPORT_DIR/junit.xml" || status=$?

cp "$HOST_LOG" "$REPORT_DIR/host.log"
stop_host
if [[ $status -ne 0 ]]; then
    echo "newman: FAILED (exit $status); host log: $REPORT_DIR/host.log" >&2
fi
exit "$status"
