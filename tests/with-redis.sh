#!/usr/bin/env bash
# Runs a command with a fresh Redis: starts Debian's `redis-server` on a free loopback
# port (no persistence), empties it (FLUSHALL), exports REDIS_URL for the command, and
# stops the server when the command ends. The command's exit status is returned.
#
#   tests/with-redis.sh cargo test --test api     # the integration suite, counters on Redis
set -euo pipefail

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "with-redis.sh: redis-server is missing (Debian: apt-get install redis-server)" >&2
    exit 1
fi
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no >/dev/null &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -p "$port" flushall >/dev/null
export REDIS_URL="redis://127.0.0.1:$port"
echo "with-redis.sh: REDIS_URL=$REDIS_URL"
"$@"
