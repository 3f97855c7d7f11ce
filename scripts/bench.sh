#!/usr/bin/env bash
# Ingest benchmark. For each scenario: the release server on a fresh database, the load
# generator against it, then the server's CPU per request by thread, the time its threads
# waited for a core, and its peak RSS.
# Usage: scripts/bench.sh [MESSAGES] [CONCURRENCY]   (defaults 200000 64)
#
# BACKEND=sqlite (default): a fresh SQLite file in a temporary folder per scenario.
# BACKEND=postgres: a fresh, uniquely named database per scenario on the server
#   BENCH_POSTGRES_URL names (see scripts/bench-postgres.sh), dropped afterwards.
# REPLICAS=n (postgres only; default 1): n servers on the one database, the load
#   generator's connections spread over all of them; /stats of the first checks that
#   every accepted message is stored exactly once. Peak RSS is printed per server.
# SIGNATURES=x-signature (default) | standard | both: how the load generator signs;
#   both: the unique-messages scenario with each, alternately, twice, side by side.
# The servers' settings come from the environment (e.g. SQLITE_SYNCHRONOUS=NORMAL).
# BASELINE=path/to/webhook-inbox [ROUNDS=3]: unique messages only, rounds alternating
#   between that build and this one, for a comparison side by side in one run; the
#   summary gives each round, the means, and the median of the rounds' differences.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-postgres.sh
source scripts/bench-server.sh
source scripts/thread-cpu.sh

messages=${1:-200000}
concurrency=${2:-64}
backend=${BACKEND:-sqlite}
replicas=${REPLICAS:-1}
case $backend in
    sqlite | postgres) ;;
    *) echo "BACKEND must be sqlite or postgres, not '$backend'" >&2 && exit 2 ;;
esac
if ! [[ $replicas =~ ^[1-9][0-9]*$ ]]; then
    echo "REPLICAS must be a positive number, not '$replicas'" >&2
    exit 2
fi
if [ "$backend" = sqlite ] && [ "$replicas" != 1 ]; then
    echo "REPLICAS=$replicas needs BACKEND=postgres: a SQLite file serves one process" >&2
    exit 2
fi
[ "$backend" = postgres ] && pg_require
cargo build --release --locked --bin webhook-inbox --example loadgen >&2

# A whsec_ secret serves both schemes (X-Signature keys it as written).
export WEBHOOK_SECRET="whsec_$(head -c 24 /dev/urandom | base64)"
work=$(mktemp -d)
servers=()
ports=()
database=""   # the PostgreSQL database of the running scenario
scenarios=0
stop_servers() {
    local server
    for server in "${servers[@]}"; do
        kill -TERM "$server" 2>/dev/null || true
    done
    for server in "${servers[@]}"; do
        wait "$server" 2>/dev/null || true
    done
    servers=()
    ports=()
    if [ -n "$database" ]; then
        pg_drop "$database" || echo "could not drop database $database" >&2
        database=""
    fi
}
trap 'stop_servers; rm -rf "$work"' EXIT

# Starts the servers on a fresh database; sets $servers and $ports.
start_servers() {
    local url index port
    scenarios=$((scenarios + 1))
    if [ "$backend" = postgres ]; then
        database="wi_bench_$$_$scenarios"
        pg_drop "$database"
        pg_create "$database"
        url=$(pg_url "$database")
    else
        rm -rf "$work/db" && mkdir -p "$work/db"
        url="sqlite://$work/db/app.db"
    fi
    # All at once: replicas starting together share the migration (an advisory lock).
    for index in $(seq 1 "$replicas"); do
        HOST=127.0.0.1 PORT=0 DATABASE_URL="$url" \
            "$bin" >"$work/server-$index.log" 2>&1 &
        servers+=($!)
    done
    for index in $(seq 1 "$replicas"); do
        port=$(listening_port "$work/server-$index.log" "${servers[$((index - 1))]}")
        ports+=("$port")
    done
}

# Peak RSS of each server, comma-separated.
peak_rss() {
    local server shown=""
    for server in "${servers[@]}"; do
        shown+="${shown:+, }$(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$server/status")"
    done
    echo "$shown"
}

scenario() {
    local title=$1 port urls=()
    shift
    echo "== $title"
    start_servers
    for port in "${ports[@]}"; do
        urls+=(--url "http://127.0.0.1:$port")
    done
    target/release/examples/loadgen "${urls[@]}" \
        --messages "$messages" --concurrency "$concurrency" "$@" | tee "$work/loadgen.out"
    for server in "${servers[@]}"; do
        echo "server CPU per request, by thread: $(thread_cpu "$server" "$((messages / replicas))")"
        echo "waiting for a core per request, by thread: $(thread_wait "$server" "$((messages / replicas))")"
        echo "in the kernel per request, by thread: $(thread_kernel "$server" "$((messages / replicas))")"
    done
    if [ "$replicas" = 1 ]; then
        echo "server peak RSS: $(peak_rss)"
    else
        echo "server peak RSS: $(peak_rss) ($replicas replicas)"
    fi
    stop_servers
    echo
}

[ "$replicas" = 1 ] && servers_shown="1 replica" || servers_shown="$replicas replicas"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"
if [ "$backend" = postgres ]; then
    echo "server: postgres, $servers_shown, LOG_LEVEL=${LOG_LEVEL:-INFO}, $(pg_describe)"
else
    echo "server: sqlite, $servers_shown, LOG_LEVEL=${LOG_LEVEL:-INFO}, SQLITE_SYNCHRONOUS=${SQLITE_SYNCHRONOUS:-FULL}, database on $(df --output=fstype "$work" | tail -1)"
fi
echo
bin=target/release/webhook-inbox
if [ -n "${BASELINE:-}" ]; then
    # Side by side: rounds alternate between another build and this one.
    for round in $(seq 1 "${ROUNDS:-3}"); do
        bin=$BASELINE scenario "unique messages, baseline $BASELINE (round $round)" --prefix "b$round"
        awk '/^throughput:/ {print $2}' "$work/loadgen.out" >> "$work/baseline.rates"
        bin=target/release/webhook-inbox scenario "unique messages, this build (round $round)" --prefix "t$round"
        awk '/^throughput:/ {print $2}' "$work/loadgen.out" >> "$work/this.rates"
    done
    # Rounds drift with the machine's other load: the median of the rounds' own
    # differences says more than the difference of the means when one round is off.
    echo "== side by side, requests/s: baseline → this build"
    paste "$work/baseline.rates" "$work/this.rates" | awk '
        { printf "round %d: %d → %d (%+.1f%%)\n", NR, $1, $2, ($2 - $1) / $1 * 100
          base += $1; this += $2 }
        END { printf "mean: %d → %d (%+.1f%%)\n", base / NR, this / NR, (this - base) / base * 100 }'
    paste "$work/baseline.rates" "$work/this.rates" | awk '{ print ($2 - $1) / $1 * 100 }' |
        sort -g | awk '{ change[NR] = $1 }
        END { middle = NR % 2 ? change[(NR + 1) / 2] : (change[NR / 2] + change[NR / 2 + 1]) / 2
              printf "median of the rounds: %+.1f%%\n", middle }'
    exit 0
fi
case ${SIGNATURES:-x-signature} in
    x-signature)
        scenario "unique messages" --prefix unique
        scenario "10% duplicates" --prefix dup --duplicates 0.1
        ;;
    standard)
        scenario "unique messages, Standard Webhooks" --prefix unique --standard
        scenario "10% duplicates, Standard Webhooks" --prefix dup --duplicates 0.1 --standard
        ;;
    both)
        for round in 1 2; do
            scenario "unique messages, X-Signature (round $round)" --prefix "x$round"
            scenario "unique messages, Standard Webhooks (round $round)" --prefix "s$round" --standard
        done
        ;;
    *) echo "SIGNATURES must be x-signature, standard or both" >&2 && exit 2 ;;
esac
