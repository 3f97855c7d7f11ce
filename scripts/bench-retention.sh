#!/usr/bin/env bash
# Expiry benchmark: a database of MESSAGES seeded messages whose older half has expired,
# served with RETENTION while webhooks arrive at a steady RATE per second.
#   1. The sweep: how many messages it deletes per second, and ingest and /stats
#      latency while it does (the newer half is dated in the far future: it is kept).
#   2. The steady state: RETENTION=STEADY_RETENTION for STEADY_SECONDS at RATE, the
#      database's size every 10 s (SQLite: file + WAL; PostgreSQL: pg_database_size),
#      which must stop growing once messages expire as fast as they arrive.
# Usage: scripts/bench-retention.sh [MESSAGES]   (default 10000000)
# BACKEND=sqlite|postgres; RATE=5000; STEADY_RETENTION=30s; STEADY_SECONDS=120;
# BIN=path/to/webhook-inbox measures another build (for a side-by-side comparison).
# On PostgreSQL the steady state's size levels off only with autovacuum on: the
# script says which it is.
# The seeded database is the one `make bench-queries` builds and reuses (copied here).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-postgres.sh
source scripts/bench-server.sh

messages=${1:-10000000}
rate=${RATE:-5000}
steady_retention=${STEADY_RETENTION:-30s}
steady_seconds=${STEADY_SECONDS:-120}
backend=${BACKEND:-sqlite}
bin=${BIN:-target/release/webhook-inbox}
case $backend in
    sqlite | postgres) ;;
    *) echo "BACKEND must be sqlite or postgres, not '$backend'" >&2 && exit 2 ;;
esac
[ "$backend" = postgres ] && pg_require
cargo build --release --locked --bin webhook-inbox --example seed --example loadgen >&2

export WEBHOOK_SECRET="bench-$RANDOM$RANDOM"
work=$(mktemp -d)
server=""
copy="wi_bench_retention_$$"
cleanup() {
    stop_server
    [ "$backend" = postgres ] && { pg_drop "$copy" || true; }
    rm -rf "$work"
}
trap cleanup EXIT

# A copy of the seeded database, its older half stored in 2000, its newer half in 2999.
half=$((messages / 2))
old="2000-01-01T00:00:00.000000Z"
kept="2999-01-01T00:00:00.000000Z"
if [ "$backend" = postgres ]; then
    seeded="wi_bench_seed_$messages"
    if ! pg_exists "$seeded"; then
        echo "no $seeded: run 'BACKEND=postgres MESSAGES=$messages make bench-queries' once first" >&2
        exit 1
    fi
    pg_drop "$copy"
    pg_psql -c "CREATE DATABASE \"$copy\" TEMPLATE \"$seeded\"" >/dev/null
    pg_psql_on "$copy" -c "UPDATE messages SET created_at = CASE WHEN m.n <= $half THEN '$old' ELSE '$kept' END \
        FROM (SELECT message_id, row_number() OVER (ORDER BY created_at, message_id) AS n FROM messages) m \
        WHERE messages.message_id = m.message_id" >/dev/null
    pg_psql_on "$copy" -c "VACUUM (ANALYZE) messages" >/dev/null
    url=$(pg_url "$copy")
    size() { pg_psql -c "SELECT pg_database_size('$copy') / 1048576"; }
    echo "autovacuum: $(pg_psql -c "SHOW autovacuum")"
else
    seeded="target/bench/seed-$messages.db"
    if [ ! -f "$seeded" ]; then
        echo "no $seeded: run 'MESSAGES=$messages make bench-queries' once first" >&2
        exit 1
    fi
    cp --reflink=auto "$seeded" "$work/app.db"
    python3 - "$work/app.db" "$half" "$old" "$kept" <<'PY'
import sqlite3, sys
path, half, old, kept = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
connection = sqlite3.connect(path)
connection.execute("UPDATE messages SET created_at = CASE WHEN seq <= "
                   "(SELECT MIN(seq) FROM messages) + ? - 1 THEN ? ELSE ? END", (half, old, kept))
connection.commit()
connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
PY
    url="sqlite://$work/app.db"
    size() { du -cm "$work"/app.db* | tail -1 | cut -f1; }
fi

# start_server RETENTION: the release server on the copy; sets $server and $port.
start_server() {
    HOST=127.0.0.1 PORT=0 DATABASE_URL="$url" RETENTION="$1" \
        "$bin" >"$work/server.log" 2>&1 &
    server=$!
    port=$(listening_port "$work/server.log" "$server")
}

echo "machine: $(nproc) cores; backend: $backend; $messages messages, $half of them expired; $(size) MiB"
echo
echo "== the sweep of $half expired messages, while webhooks arrive at $rate/s"
start_server 1h
# Enough webhooks to outlast a sweep at 20,000 deletions a second.
load=$((rate * (half / 20000 + 10)))
target/release/examples/loadgen --url "http://127.0.0.1:$port" --messages "$load" \
    --concurrency 64 --rate "$rate" --prefix sweep >"$work/load.txt" &
loadgen=$!
python3 - "$port" "$half" <<'PY'
import http.client, sys, time
port, expired = int(sys.argv[1]), int(sys.argv[2])
connection = http.client.HTTPConnection("127.0.0.1", port)
def get(path):
    connection.request("GET", path)
    response = connection.getresponse()
    return response.read()
def deleted():
    for line in get("/metrics").decode().splitlines():
        if line.startswith("webhook_retention_deleted_total "):
            return int(float(line.split()[1]))
    return 0
started, first = time.monotonic(), deleted()
latencies, checked, done = [], started, first
while done < expired and time.monotonic() - started < 1800:
    sent = time.monotonic()
    get("/stats")
    latencies.append((time.monotonic() - sent) * 1000)
    time.sleep(0.01)
    if time.monotonic() - checked > 0.25:
        checked, done = time.monotonic(), deleted()
took = time.monotonic() - started
latencies.sort()
pick = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]
print(f"deleted: {done - first} in {took:.1f} s after the first poll ({first} before): "
      f"{(done - first) / took:,.0f} messages/s")
if latencies:
    print(f"/stats during the sweep: {len(latencies)} requests, p50 {pick(0.5):.2f} ms, "
          f"p99 {pick(0.99):.2f} ms, max {latencies[-1]:.2f} ms")
else:
    print("/stats during the sweep: none; the sweep was over before the first poll")
PY
wait "$loadgen" || true   # its exactly-once count cannot hold while messages expire
echo "ingest during the sweep (and a little after):"
grep -E "throughput|latency|non-200" "$work/load.txt"
grep '"deleted expired messages"' "$work/server.log" | tail -3
stop_server
echo

echo "== steady state: RETENTION=$steady_retention, $rate webhooks/s for $steady_seconds s"
start_server "$steady_retention"
target/release/examples/loadgen --url "http://127.0.0.1:$port" \
    --messages $((rate * steady_seconds)) --concurrency 64 --rate "$rate" --prefix steady \
    >"$work/steady.txt" &
loadgen=$!
sizes=""
for elapsed in $(seq 0 10 "$steady_seconds"); do
    sizes+="${sizes:+, }${elapsed}s $(size) MiB"
    [ "$elapsed" -lt "$steady_seconds" ] && sleep 10
done
wait "$loadgen" || true
echo "size: $sizes"
grep -E "throughput|latency" "$work/steady.txt"
