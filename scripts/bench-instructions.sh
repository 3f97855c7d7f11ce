#!/usr/bin/env bash
# What each part of the SQLite schema costs ingest, in instructions: unlike requests/s,
# the count is the same from one run to the next, whatever else the machine runs.
# examples/schemacost inserts messages like the load generator's, in exact batches of
# BATCH, into a fresh database per variant (parts of the schema dropped first, as in
# scripts/bench-schema.sh), under valgrind's callgrind. Printed: the instructions spent
# inside sqlite3_step per message (less the same program inserting nothing), and the
# WAL frames written per message, which cost time that instructions do not show.
# Usage: scripts/bench-instructions.sh [MESSAGES] [BATCH]   (defaults 10000 22)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/schema-variants.sh

messages=${1:-10000}
batch=${2:-22}
command -v valgrind >/dev/null || { echo "needs valgrind (Debian: apt-get install valgrind)" >&2; exit 1; }
cargo build --release --locked --example schemacost >&2

variants=("${schema_variants[@]}" "${schema_single_indexes[@]}")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# step_instructions COUNT SETUP: the instructions spent inside sqlite3_step (callers
# included) when schemacost inserts COUNT messages after SETUP; its output line goes to
# $work/line.
step_instructions() {
    local count=$1 setup=$2
    rm -rf "$work/db" && mkdir "$work/db"
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
        target/release/examples/schemacost --database "$work/db/app.db" \
        --messages "$count" --batch "$batch" --setup "$setup" 2>/dev/null >"$work/line"
    callgrind_annotate --inclusive=yes "$work/callgrind.out" 2>/dev/null |
        awk 'NF >= 2 && !found && ($NF ~ /:sqlite3_step$/ || $(NF - 1) ~ /:sqlite3_step$/) {
            gsub(",", "", $1); print $1; found = 1 }'
}

echo "machine: $(nproc) cores; $messages messages in batches of $batch; instructions in sqlite3_step"
for variant in "${variants[@]}"; do
    name=${variant%%|*}
    setup=${variant#*|}
    empty=$(step_instructions 0 "$setup")
    full=$(step_instructions "$messages" "$setup")
    frames=$(grep -o '[0-9.]* WAL frames per message' "$work/line" | cut -d' ' -f1)
    awk -v name="$name" -v full="$full" -v empty="$empty" -v n="$messages" -v frames="$frames" \
        'BEGIN { printf "%-52s %6.1fk instructions, %s WAL frames per message\n", name, (full - empty) / n / 1000, frames }'
done
