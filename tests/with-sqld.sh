#!/usr/bin/env bash
# Runs a command with a fresh libSQL server: starts `sqld` (from PATH, or $SQLD) on a
# free loopback port with an empty database directory, exports SQLD_URL for the command,
# and stops the server when the command ends. The command's exit status is returned.
#
#   tests/with-sqld.sh cargo test --test api     # the integration suite on libSQL
#
# No registry ships sqld; it builds from source (libsql-server v0.24.33, see README).
set -euo pipefail

sqld="${SQLD:-$(command -v sqld || true)}"
if [[ -z "$sqld" || ! -x "$sqld" ]]; then
    echo "with-sqld.sh: sqld is not on PATH (or set SQLD=/path/to/sqld)" >&2
    exit 1
fi
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
data_dir="$(mktemp -d "${TMPDIR:-/tmp}/sqld.XXXXXX")"
"$sqld" --db-path "$data_dir/db" --http-listen-addr "127.0.0.1:$port" >"$data_dir/sqld.log" 2>&1 &
sqld_pid=$!
trap 'kill "$sqld_pid" 2>/dev/null || true; wait "$sqld_pid" 2>/dev/null || true; rm -rf "$data_dir"' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
done
export SQLD_URL="http://127.0.0.1:$port"
echo "with-sqld.sh: SQLD_URL=$SQLD_URL"
"$@"
