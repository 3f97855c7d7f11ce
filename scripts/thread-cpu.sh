# Sourced by the benchmark scripts.

# thread_cpu PID REQUESTS: the CPU each kind of thread of server PID has used since it
# started, in µs per request, busiest first (from /proc/PID/task/*/schedstat). Shows
# where a run's time went: the HTTP workers, SQLite's write thread, the writer, the
# WAL sync, the log writer.
thread_cpu() {
    thread_schedstat "$1" "$2" 1
}

# thread_wait PID REQUESTS: the time each kind of thread of server PID has spent ready
# to run but waiting for a core, in µs per request. On SQLite's thread this time is part
# of every commit.
thread_wait() {
    thread_schedstat "$1" "$2" 2
}

# thread_kernel PID REQUESTS: of the CPU each kind of thread of server PID has used, the
# time in the kernel, in µs per request (from /proc/PID/task/*/stat, counted in clock
# ticks, 10 ms here: read it over runs of a few seconds or more). On SQLite's thread it is mostly
# writing WAL frames (two pwrite calls each), which instruction counts do not show.
thread_kernel() {
    local pid=$1 requests=$2 task stat
    local tick_ns=$((1000000000 / $(getconf CLK_TCK)))
    for task in /proc/"$pid"/task/*; do
        stat=$(cat "$task/stat" 2>/dev/null) || continue
        # After the thread's name, which is in parentheses: the 13th field is stime.
        printf '%s\t%s\n' "$(cat "$task/comm" 2>/dev/null)" "$(echo "${stat##*) }" | cut -d' ' -f13)"
    done | thread_kinds "$requests" "$tick_ns"
}

# thread_schedstat PID REQUESTS FIELD: field FIELD of each thread's schedstat (1: ns on
# a core, 2: ns waiting for one), summed by kind of thread, in µs per request.
thread_schedstat() {
    local pid=$1 requests=$2 field=$3 task
    for task in /proc/"$pid"/task/*; do
        printf '%s\t%s\n' "$(cat "$task/comm" 2>/dev/null)" \
            "$(cut -d' ' -f"$field" "$task/schedstat" 2>/dev/null)"
    done | thread_kinds "$requests" 1
}

# thread_kinds REQUESTS NS_PER_UNIT: lines of "thread name<TAB>amount" on stdin, summed
# by kind of thread and printed in µs per request, busiest first.
thread_kinds() {
    awk -F'\t' -v requests="$1" -v unit="$2" '
        $2 == "" { next }
        {
            kind = $1
            if (kind == "tokio-rt-worker") kind = "HTTP"
            else if (kind == "sqlx-sqlite-wor") kind = "SQLite"
            else if (kind == "webhook-writer") kind = "writer"
            else if (kind == "webhook-wal-syn") kind = "WAL sync"
            else if (kind == "webhook-log") kind = "log"
            else if (kind == "webhook-inbox") kind = "main"
            ns[kind] += $2 * unit
        }
        END {
            for (kind in ns) {
                us = ns[kind] / 1000 / requests
                if (us >= 0.05) printf "%.1f\t%s\n", us, kind
            }
        }' | sort -rn | awk -F'\t' '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 } END { print " µs" }'
}
