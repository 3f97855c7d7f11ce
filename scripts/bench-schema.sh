#!/usr/bin/env bash
# What each part of the SQLite schema costs ingest. For each variant, ROUNDS times: the
# release server on a fresh database, the variant's statements run on that database
# right after startup (dropping part of the schema), then the load generator.
# Usage: scripts/bench-schema.sh [MESSAGES] [CONCURRENCY]   (defaults 100000 64)
# ROUNDS=2 by default; variants are interleaved, in reverse order every other round,
# so that drift on a shared machine spreads over all of them. VARIANTS='as
# shipped,primary key only' runs only the variants named (comma-separated). At the end:
# each variant's mean requests/s, and its cost against the primary key alone, the mean
# of the rounds' costs with a 95% confidence interval (the target: at most 20%
# for the whole schema). Only a measurement: the dropped parts make /stats, totals and
# search wrong on those throwaway databases.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/thread-cpu.sh
source scripts/schema-variants.sh

messages=${1:-100000}
concurrency=${2:-64}
rounds=${ROUNDS:-2}
cargo build --release --locked --bin webhook-inbox --example loadgen >&2

variants=()
for variant in "${schema_variants[@]}"; do
    if [ -z "${VARIANTS:-}" ] || [[ ",$VARIANTS," == *",${variant%%|*},"* ]]; then
        variants+=("$variant")
    fi
done
[ ${#variants[@]} -gt 0 ] || { echo "VARIANTS names none of the variants" >&2; exit 2; }

export WEBHOOK_SECRET="bench-$RANDOM$RANDOM"
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

echo "machine: $(nproc) cores; $messages requests over $concurrency connections, $rounds rounds"
results="$work/results"
for round in $(seq 1 "$rounds"); do
    order=("${variants[@]}")
    if [ $((round % 2)) = 0 ]; then
        for ((i = ${#variants[@]} - 1, j = 0; i >= 0; i--, j++)); do order[j]=${variants[i]}; done
    fi
    for variant in "${order[@]}"; do
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
        printf '%s\t%s\t%s\n' "$round" "$name" "$(echo "$throughput" | grep -o '[0-9]* requests/s' | cut -d' ' -f1)" >>"$results"
        printf '         %-52s server CPU per request: %s\n' "" "$(thread_cpu "$server" "$messages")"
        printf '         %-52s of which in the kernel: %s\n' "" "$(thread_kernel "$server" "$messages")"
        kill -TERM "$server" && wait "$server" 2>/dev/null || true
        server=""
    done
done

echo "mean requests/s, and the cost against the primary key alone (mean of the rounds, 95% CI):"
awk -F'\t' '
    $3 != "" { rate[$1, $2] = $3; sum[$2] += $3; n[$2]++; if (!($2 in seen)) { seen[$2] = 1; names[++count] = $2 } }
    END {
        base = "primary key only"
        for (v = 1; v <= count; v++) {
            name = names[v]; k = 0; s = 0; ss = 0
            for (key in rate) {
                split(key, part, SUBSEP)
                if (part[2] == name && ((part[1], base) in rate)) {
                    cost = 1 - rate[key] / rate[part[1], base]; k++; s += cost; ss += cost * cost
                }
            }
            line = sprintf("  %-52s %8.0f/s", name, sum[name] / n[name])
            if (name != base && k > 0) {
                mean = s / k
                half = (k > 1) ? (1.96 + 2.4 / (k - 1)) * sqrt((ss - k * mean * mean) / (k - 1) / k) : 0
                line = line sprintf("   cost %5.1f%% [%.1f, %.1f] over %d rounds", 100 * mean, 100 * (mean - half), 100 * (mean + half), k)
            }
            print line
        }
    }' "$results"
