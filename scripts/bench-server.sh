# Helpers for the benchmarks, sourced by them: the port a server started with PORT=0
# listens on, stopping it, and the seeded SQLite database that several benchmarks share.

# listening_port LOG PID: the port server PID names in its `listening` line in LOG,
# once it does; fails, showing LOG, if the server stops or is not listening in 60 s.
listening_port() {
    local log=$1 pid=$2 port
    for _ in $(seq 1 600); do
        port=$(grep -o '"addr":"127.0.0.1:[0-9]*"' "$log" | grep -o '[0-9]*"$' | tr -d '"' || true)
        [ -n "$port" ] && echo "$port" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "the server did not start:" >&2
    cat "$log" >&2
    return 1
}

# stop_server: stops the server whose pid is in $server (if any) and waits for it.
stop_server() {
    if [ -n "$server" ]; then
        kill -TERM "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        server=""
    fi
}

# seeded_sqlite MESSAGES: the path of target/bench/seed-MESSAGES.db, written through the
# real store by examples/seed (built by the caller) the first time, then reused.
seeded_sqlite() {
    local messages=$1 database="target/bench/seed-$1.db"
    if [ ! -f "$database" ]; then
        mkdir -p target/bench
        rm -f "$database.partial"*
        target/release/examples/seed --database "$database.partial" --messages "$messages" >&2
        # Closing the store folds the WAL into the database file and removes it; a WAL
        # left beside the file would hold the newest messages, which the move would lose.
        if [ -e "$database.partial-wal" ]; then
            echo "the seed left $database.partial-wal: the database file alone is incomplete" >&2
            return 1
        fi
        mv "$database.partial" "$database"
        rm -f "$database.partial.lock"
    fi
    echo "$database"
}
