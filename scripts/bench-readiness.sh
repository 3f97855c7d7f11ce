#!/usr/bin/env bash
# Readiness under slow searches: the release server on a copy of the seeded database of
# `make bench-queries`, while READERS clients (default 4, DB_READ_CONNECTIONS' default)
# keep asking new 2-character `q` searches, each the slowest kind of first request,
# and a probe asks /health/ready every 100 ms, as Kubernetes would. Prints the
# searches' p50 and the probe's p50, p99 and max.
# Usage: scripts/bench-readiness.sh [MESSAGES] [SECONDS]   (defaults 1000000 20)
# BIN=path/to/webhook-inbox measures another build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-server.sh

messages=${1:-1000000}
seconds=${2:-20}
cargo build --release --locked --bin webhook-inbox --example seed >&2
bin=${BIN:-target/release/webhook-inbox}
seed=$(seeded_sqlite "$messages")

# Beside the seed, not in /tmp (which may be memory): the copy is as large as the seed.
work=$(mktemp -d target/bench/readiness.XXXXXX)
server=""
trap 'stop_server; rm -rf "$work"' EXIT
cp "$seed" "$work/app.db"
WEBHOOK_SECRET=bench HOST=127.0.0.1 PORT=0 DATABASE_URL="sqlite://$PWD/$work/app.db" \
    "$bin" >"$work/server.log" 2>&1 &
server=$!
port=$(listening_port "$work/server.log" "$server")
echo "$bin, $messages messages:"
scripts/readiness-probe.py "$port" "$seconds" "${READERS:-4}"
