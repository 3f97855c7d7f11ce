#!/usr/bin/env bash
# Ingest benchmark. For each scenario: the release server on a fresh temporary
# database, the load generator against it, then the server's peak RSS.
# Usage: scripts/bench.sh [MESSAGES] [CONCURRENCY]   (defaults 200000 64)
# The server's settings come from the environment (e.g. SQLITE_SYNCHRONOUS=NORMAL).
set -euo pipefail
cd "$(dirname "$0")/.."

messages=${1:-200000}
concurrency=${2:-64}
cargo build --release --locked --bin webhook-inbox --example loadgen >&2

export WEBHOOK_SECRET="bench-$RANDOM$RANDOM"
work=$(mktemp -d)
server=""
stop_server() {
    if [ -n "$server" ]; then
        kill -TERM "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        server=""
    fi
}
trap 'stop_server; rm -rf "$work"' EXIT

# Starts the server on a fresh database; sets $server and $port.
start_server() {
    rm -rf "$work/db" && mkdir -p "$work/db"
    HOST=127.0.0.1 PORT=0 DATABASE_URL="sqlite://$work/db/app.db" \
        target/release/webhook-inbox >"$work/server.log" 2>&1 &
    server=$!
    port=""
    for _ in $(seq 1 300); do
        port=$(grep -o '"addr":"127.0.0.1:[0-9]*"' "$work/server.log" | grep -o '[0-9]*"$' | tr -d '"' || true)
        [ -n "$port" ] && return 0
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    echo "the server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
}

scenario() {
    local title=$1
    shift
    echo "== $title"
    start_server
    target/release/examples/loadgen --url "http://127.0.0.1:$port" \
        --messages "$messages" --concurrency "$concurrency" "$@"
    echo "server peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$server/status")"
    stop_server
    echo
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "server: SQLITE_SYNCHRONOUS=${SQLITE_SYNCHRONOUS:-FULL} LOG_LEVEL=${LOG_LEVEL:-INFO}, database on $(df --output=fstype "$work" | tail -1)"
echo
scenario "unique messages" --prefix unique
scenario "10% duplicates" --prefix dup --duplicates 0.1
