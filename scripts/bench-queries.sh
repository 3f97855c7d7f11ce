#!/usr/bin/env bash
# Read benchmark: builds (once, then reuses) a database of MESSAGES messages through
# the real store, serves it with the release binary, and prints p50/p99 per query shape.
# Usage: scripts/bench-queries.sh [MESSAGES]   (default 1000000; 10000000 for the large run)
set -euo pipefail
cd "$(dirname "$0")/.."

messages=${1:-1000000}
requests=${REQUESTS:-200}
cargo build --release --locked --bin webhook-inbox --example seed --example querybench >&2

database="target/bench/seed-$messages.db"
if [ ! -f "$database" ]; then
    mkdir -p target/bench
    rm -f "$database.partial"*
    target/release/examples/seed --database "$database.partial" --messages "$messages"
    mv "$database.partial" "$database"
fi

log=$(mktemp)
WEBHOOK_SECRET="bench-$RANDOM" HOST=127.0.0.1 PORT=0 LOG_LEVEL=INFO \
    DATABASE_URL="sqlite://$database" target/release/webhook-inbox >"$log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -f "$log"' EXIT
port=""
for _ in $(seq 1 600); do
    port=$(grep -o '"addr":"127.0.0.1:[0-9]*"' "$log" | grep -o '[0-9]*"$' | tr -d '"' || true)
    [ -n "$port" ] && break
    kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { echo "the server did not start" >&2; exit 1; }

echo "machine: $(nproc) cores; database: $messages messages, $(du -h "$database" | cut -f1); $requests requests per query"
target/release/examples/querybench --url "http://127.0.0.1:$port" --requests "$requests"
