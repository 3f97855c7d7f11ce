#!/usr/bin/env bash
# Read benchmark: builds (once, then reuses) a database of MESSAGES messages through
# the real store, serves it with the release binary, and prints p50/p99 per query shape.
# Usage: scripts/bench-queries.sh [MESSAGES]   (default 1000000; 10000000 for the large run)
#
# BACKEND=sqlite (default): the database is target/bench/seed-MESSAGES.db.
# BACKEND=postgres: the database is wi_bench_seed_MESSAGES on the server
#   BENCH_POSTGRES_URL names (see scripts/bench-postgres.sh), reused while it holds
#   exactly MESSAGES messages. Seeded as wi_bench_seed_MESSAGES_partial, then vacuumed
#   and analyzed (as autovacuum would have done on a live database) and renamed.
# REQUESTS=n: requests per query shape (default 200).
# BIN=path/to/webhook-inbox (relative to the repository) measures another build.
# The server runs on a copy of the seeded database (SQLite: beside it in target/bench;
# PostgreSQL: a database made from it as a template), so that a build whose migrations
# change the schema leaves the seed as it was for the next one.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-postgres.sh
source scripts/bench-server.sh

messages=${1:-1000000}
requests=${REQUESTS:-200}
backend=${BACKEND:-sqlite}
bin=${BIN:-target/release/webhook-inbox}
case $backend in
    sqlite | postgres) ;;
    *) echo "BACKEND must be sqlite or postgres, not '$backend'" >&2 && exit 2 ;;
esac
if ! [[ $messages =~ ^[1-9][0-9]*$ ]]; then
    echo "MESSAGES must be a positive number, not '$messages'" >&2
    exit 2
fi
[ "$backend" = postgres ] && pg_require
cargo build --release --locked --bin webhook-inbox --example seed --example querybench >&2

if [ "$backend" = postgres ]; then
    name="wi_bench_seed_$messages"
    stored=""
    if pg_exists "$name"; then
        stored=$(pg_psql_on "$name" -c "SELECT count(*) FROM messages" 2>/dev/null || true)
    fi
    if [ "$stored" != "$messages" ]; then
        if pg_exists "$name"; then
            echo "$name holds ${stored:-no} messages, not $messages: seeding it again" >&2
            pg_drop "$name"
        fi
        pg_drop "${name}_partial"
        pg_create "${name}_partial"
        target/release/examples/seed --database "$(pg_url "${name}_partial")" --messages "$messages"
        started=$EPOCHREALTIME
        pg_psql_on "${name}_partial" -c "VACUUM (ANALYZE)"
        awk -v from="$started" -v to="$EPOCHREALTIME" \
            'BEGIN { printf "VACUUM (ANALYZE) took %.1f s\n", to - from }' >&2
        pg_psql -c "ALTER DATABASE \"${name}_partial\" RENAME TO \"$name\""
    fi
    size=$(pg_psql -c "SELECT pg_database_size('$name') / 1048576")
else
    database=$(seeded_sqlite "$messages")
    size=$(du -m "$database" | cut -f1)
fi

mkdir -p target/bench
work=$(mktemp -d "$PWD/target/bench/run.XXXXXX")
server=""
copy="wi_bench_queries_$$"
trap '[ -n "$server" ] && { kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true; }
    [ "$backend" = postgres ] && { pg_drop "$copy" || true; }
    rm -rf "$work"' EXIT
if [ "$backend" = postgres ]; then
    pg_psql -c "CREATE DATABASE \"$copy\" TEMPLATE \"$name\"" >/dev/null
    # The copy passes through the server's cache and leaves it full of dirty pages,
    # which a running server's checkpoints would have written long ago: the first
    # reads would each wait for one to be written first.
    pg_psql -c "CHECKPOINT" >/dev/null
    url=$(pg_url "$copy")
else
    cp --reflink=auto "$database" "$work/app.db"
    url="sqlite://$work/app.db"
fi
log="$work/server.log"
WEBHOOK_SECRET="bench-$RANDOM" HOST=127.0.0.1 PORT=0 LOG_LEVEL=INFO \
    DATABASE_URL="$url" "$bin" >"$log" 2>&1 &
server=$!
port=$(listening_port "$log" "$server")

echo "machine: $(nproc) cores; backend: $backend; database: $messages messages, $size MiB; $requests requests per query"
target/release/examples/querybench --url "http://127.0.0.1:$port" --requests "$requests"
