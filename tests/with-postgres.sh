#!/usr/bin/env bash
# Runs a command with a fresh PostgreSQL: creates a throwaway cluster (Debian's
# `postgresql` package, version 15 by default) in a new temporary directory, listening on
# a free loopback port only, with a user `inventory` (random password, CREATEDB) owning an
# empty database `inventory`; exports POSTGRES_URL for the command, then stops the
# cluster and deletes its directory when the command ends, fails or is interrupted. The
# command's exit status is returned.
#
#   tests/with-postgres.sh cargo test --test api     # the integration suite on PostgreSQL
#
# Never touches the system's clusters (`15 main`). As root, the server runs as the
# `postgres` OS user (PostgreSQL refuses to run as root). Durability is off (fsync,
# synchronous_commit): the data is thrown away anyway. max_connections is 300: two hosts
# with Spin's 64-connection pools each, plus the tests' own connections.
set -euo pipefail

pg_bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [[ -z "$pg_bin" || ! -x "$pg_bin/initdb" || ! -x "$pg_bin/pg_ctl" || ! -x "$pg_bin/psql" ]]; then
    echo "with-postgres.sh: PostgreSQL is missing (Debian: apt-get install postgresql;" \
        "or set PG_BIN=/path/to/bin)" >&2
    exit 1
fi

cluster_dir="$(mktemp -d "${TMPDIR:-/tmp}/postgres.XXXXXX")"
run_as_owner() {
    # From the cluster's own directory: the postgres user may not be able to enter ours.
    if [[ "$(id -u)" == 0 ]]; then
        (cd "$cluster_dir" && runuser -u postgres -- "$@")
    else
        (cd "$cluster_dir" && "$@")
    fi
}
started=false
cleanup() {
    if [[ "$started" == true ]]; then
        run_as_owner "$pg_bin/pg_ctl" -D "$cluster_dir/data" -m immediate -w stop \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$cluster_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ "$(id -u)" == 0 ]]; then
    chown postgres: "$cluster_dir"
fi
chmod 700 "$cluster_dir"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"

# The superuser `postgres` may only connect through the cluster's own socket (trust);
# TCP connections need a password (scram-sha-256).
run_as_owner "$pg_bin/initdb" -D "$cluster_dir/data" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$cluster_dir/initdb.log" 2>&1 || {
    cat "$cluster_dir/initdb.log" >&2
    exit 1
}
started=true
run_as_owner "$pg_bin/pg_ctl" -D "$cluster_dir/data" -l "$cluster_dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$cluster_dir'" \
    -o "-c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || {
    cat "$cluster_dir/server.log" >&2
    exit 1
}
run_as_owner "$pg_bin/psql" -h "$cluster_dir" -p "$port" -U postgres -d postgres -qAt \
    -v ON_ERROR_STOP=1 -v password="$password" <<'SQL'
CREATE ROLE inventory LOGIN CREATEDB PASSWORD :'password';
CREATE DATABASE inventory OWNER inventory;
SQL

export POSTGRES_URL="postgres://inventory:$password@127.0.0.1:$port/inventory"
echo "with-postgres.sh: POSTGRES_URL=postgres://inventory:***@127.0.0.1:$port/inventory"
"$@"
