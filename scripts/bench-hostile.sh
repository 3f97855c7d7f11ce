#!/usr/bin/env bash
# What hostile clients cost: the release server on a fresh database, attacked by
# examples/attack.rs in three scenarios (1,000 connections of unsigned 1 MiB bodies on
# the defaults, the same with MAX_BODY_BYTES=1048576, and 2,000 idle connections),
# while a probe measures /health/live and signed webhooks. Prints peak RSS and p99s.
# Usage: scripts/bench-hostile.sh [CONNECTIONS] [ROUNDS]   (defaults 1000 3)
# BIN=path/to/webhook-inbox measures another build (for a side-by-side comparison).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-server.sh

connections=${1:-1000}
rounds=${2:-3}
cargo build --release --locked --bin webhook-inbox --example attack >&2
bin=${BIN:-target/release/webhook-inbox}

export WEBHOOK_SECRET="bench-$RANDOM$RANDOM"
work=$(mktemp -d)
server=""
trap 'stop_server; rm -rf "$work"' EXIT

# scenario NAME [VAR=value ...] -- ATTACK FLAGS...
scenario() {
    local name=$1 port
    shift
    local settings=()
    while [ "$1" != -- ]; do settings+=("$1"); shift; done
    shift
    rm -rf "$work/db" && mkdir -p "$work/db"
    env "${settings[@]}" HOST=127.0.0.1 PORT=0 DATABASE_URL="sqlite://$work/db/app.db" \
        "$bin" >"$work/server.log" 2>&1 &
    server=$!
    port=$(listening_port "$work/server.log" "$server")
    printf '\n== %s (%s)\n' "$name" "${settings[*]:-defaults}"
    target/release/examples/attack --url "http://127.0.0.1:$port" --pid "$server" "$@" || true
    stop_server
}

scenario "unsigned 1 MiB bodies" -- --connections "$connections" --rounds "$rounds"
scenario "unsigned 1 MiB bodies" MAX_BODY_BYTES=1048576 -- --connections "$connections" --rounds "$rounds"
scenario "idle connections" -- --idle 2000
