#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time: parse_webhook (signature check and
# message parsing over raw bodies) and request_headers (the X-Request-ID rule, paging
# cursors and Standard Webhooks headers). A crash fails the run and leaves its input in
# fuzz/artifacts/. Usage: scripts/fuzz.sh [SECONDS PER TARGET]   (default 60)
#
# cargo-fuzz needs nightly compiler features; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain (the only one these machines have) provide them.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-60}
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
export RUSTC_BOOTSTRAP=1
for target in parse_webhook request_headers; do
    mkdir -p "corpus/$target"
    seeds=()
    [ -d "seeds/$target" ] && seeds+=("seeds/$target")
    dict=()
    [ -f "$target.dict" ] && dict+=("-dict=$target.dict")
    printf '\n==> fuzzing %s for %s s\n' "$target" "$seconds"
    cargo fuzz run --release "$target" "corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 "${dict[@]}" 2>&1 |
        grep -E '^(#[0-9]+ *DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|thread .* panicked|Done [0-9]+ runs)' || true
    # grep hides libFuzzer's progress lines; the exit status is cargo fuzz's own.
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz target $target failed" >&2; exit 1; }
done
