#!/usr/bin/env bash
# Ingest benchmark: the release server on a fresh temporary database, the load
# generator against it (unique messages, then 10% duplicates), the server's peak RSS.
# Usage: scripts/bench.sh [MESSAGES] [CONCURRENCY]   (defaults 200000 64)
set -euo pipefail
cd "$(dirname "$0")/.."

messages=${1:-200000}
concurrency=${2:-64}
cargo build --release --locked --bin webhook-inbox --example loadgen >&2

work=$(mktemp -d)
export WEBHOOK_SECRET="bench-$RANDOM$RANDOM"
HOST=127.0.0.1 PORT=0 DATABASE_URL="sqlite://$work/app.db" LOG_LEVEL="${LOG_LEVEL:-INFO}" \
    target/release/webhook-inbox >"$work/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT

port=""
for _ in $(seq 1 300); do
    port=$(grep -o '"addr":"127.0.0.1:[0-9]*"' "$work/server.log" | grep -o '[0-9]*"$' | tr -d '"' || true)
    [ -n "$port" ] && break
    kill -0 $server 2>/dev/null || { cat "$work/server.log"; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { echo "server did not start" >&2; exit 1; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "server: SQLITE_SYNCHRONOUS=${SQLITE_SYNCHRONOUS:-FULL}, LOG_LEVEL=${LOG_LEVEL:-INFO}, database on $(df --output=fstype "$work" | tail -1)"
echo
echo "== unique messages"
target/release/examples/loadgen --url "http://127.0.0.1:$port" --messages "$messages" \
    --concurrency "$concurrency" --prefix unique
echo
echo "== 10% duplicates"
target/release/examples/loadgen --url "http://127.0.0.1:$port" --messages "$messages" \
    --concurrency "$concurrency" --duplicates 0.1 --prefix dup
echo
echo "server peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$server/status)"
