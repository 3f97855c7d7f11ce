#!/usr/bin/env bash
# Console benchmark: serves a database of MESSAGES seeded messages (the file that
# `make bench-queries` builds and reuses, target/bench/seed-MESSAGES.db) with the release
# binary, and measures in headless Chromium how fast the console shows rows: first rows
# after navigation and after a filter change (examples/consolebench.rs).
# Usage: scripts/bench-console.sh [MESSAGES]   (default 1000000); RUNS=n (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/chromedriver.sh
source scripts/bench-server.sh

messages=${1:-1000000}
runs=${RUNS:-10}
if ! [[ $messages =~ ^[1-9][0-9]*$ ]]; then
    echo "MESSAGES must be a positive number, not '$messages'" >&2
    exit 2
fi
chromium_require
cargo build --release --locked --bin webhook-inbox --example seed --example consolebench >&2

database=$(seeded_sqlite "$messages")

log=$(mktemp)
WEBHOOK_SECRET="bench-$RANDOM" HOST=127.0.0.1 PORT=0 LOG_LEVEL=INFO \
    DATABASE_URL="sqlite://$database" target/release/webhook-inbox >"$log" 2>&1 &
server=$!
chromedriver_start
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -f "$log";
      kill "$CHROMEDRIVER_PID" 2>/dev/null || true' EXIT
port=$(listening_port "$log" "$server")
until curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; do
    kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
done
echo "machine: $(nproc) cores; $(chromium --version 2>/dev/null | head -n 1); database: $messages messages, $(du -m "$database" | cut -f1) MiB"
target/release/examples/consolebench --url "http://127.0.0.1:$port/" --webdriver "$WEBDRIVER_URL" --runs "$runs"
