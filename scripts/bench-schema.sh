#!/usr/bin/env bash
# What each part of the SQLite schema costs ingest. For each variant, ROUNDS times: the
# release server on a fresh database, the variant's statements run on that database
# right after startup (dropping part of the schema), then the load generator.
# Usage: scripts/bench-schema.sh [MESSAGES] [CONCURRENCY]   (defaults 100000 64)
# ROUNDS=2 by default; variants are interleaved so that drift on a shared machine
# spreads over all of them. Only a measurement: the dropped parts make /stats,
# totals and search wrong on those throwaway databases.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/thread-cpu.sh
source scripts/schema-variants.sh

messages=${1:-100000}
concurrency=${2:-64}
rounds=${ROUNDS:-2}
cargo build --release --locked --bin webhook-inbox --example loadgen >&2

variants=("${schema_variants[@]}")

export WEBHOOK_SECRET="bench-$RANDOM$RANDOM"
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

echo "machine: $(nproc) cores; $messages requests over $concurrency connections, $rounds rounds"
for round in $(seq 1 "$rounds"); do
    for variant in "${variants[@]}"; do
        name=${variant%%|*}
        statements=${variant#*|}
        rm -rf "$work/db" && mkdir "$work/db"
        log="$work/server.log"
        HOST=127.0.0.1 PORT=0 LOG_LEVEL=INFO DATABASE_URL="sqlite://$work/db/app.db" \
            target/release/webhook-inbox >"$log" 2>&1 &
        server=$!
        port=""
        for _ in $(seq 1 300); do
            port=$(grep -o '"addr":"127.0.0.1:[0-9]*"' "$log" | grep -o '[0-9]*"$' | tr -d '"' || true)
            [ -n "$port" ] && break
            sleep 0.1
        done
        [ -n "$port" ] || { cat "$log" >&2; exit 1; }
        if [ -n "$statements" ]; then
            python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=10); c.executescript(sys.argv[2]); c.close()' \
                "$work/db/app.db" "$statements"
        fi
        # Without the aggregates the load generator's exactly-once check through
        # /stats fails, as it should; only its throughput line is wanted here.
        throughput=$( (target/release/examples/loadgen --url "http://127.0.0.1:$port" \
            --messages "$messages" --concurrency "$concurrency" || true) | grep '^throughput')
        printf 'round %s  %-52s %s\n' "$round" "$name" "$throughput"
        printf '         %-52s server CPU per request: %s\n' "" "$(thread_cpu "$server" "$messages")"
        kill -TERM "$server" && wait "$server" 2>/dev/null || true
        server=""
    done
done
