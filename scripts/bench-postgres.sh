# PostgreSQL helpers for the benchmarks, sourced by them.
#
# BENCH_POSTGRES_URL names the server (and a database on it to connect to for
# administration); default postgres://postgres@127.0.0.1:5432/postgres. Its role must be
# allowed to create and drop databases. The benchmarks' own databases are created on the
# same server, with the same user and query parameters. Needs psql (PostgreSQL 13+ for
# DROP DATABASE … WITH (FORCE)).

pg_admin_url=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

# pg_url NAME: the URL of database NAME on the benchmark server.
pg_url() {
    local base=${pg_admin_url%%\?*} query=""
    case $pg_admin_url in *\?*) query="?${pg_admin_url#*\?}" ;; esac
    local scheme=${base%%://*} rest=${base#*://}
    echo "$scheme://${rest%%/*}/$1$query"
}

# pg_shown URL: URL without its password, for messages.
pg_shown() {
    echo "$1" | sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#'
}

# pg_psql ARGS…: psql on the administration database, unaligned, quiet, stopping on errors.
pg_psql() {
    PGOPTIONS="-c client_min_messages=warning" psql "$pg_admin_url" -X -v ON_ERROR_STOP=1 -Atq "$@"
}

# pg_psql_on NAME ARGS…: the same on database NAME.
pg_psql_on() {
    local name=$1
    shift
    PGOPTIONS="-c client_min_messages=warning" psql "$(pg_url "$name")" -X -v ON_ERROR_STOP=1 -Atq "$@"
}

# Fails with a readable message when psql or the server is missing.
pg_require() {
    if ! command -v psql >/dev/null 2>&1; then
        echo "BACKEND=postgres needs psql (apt-get install postgresql-client)" >&2
        exit 1
    fi
    if ! pg_psql -c 'SELECT 1' >/dev/null; then
        echo "cannot reach PostgreSQL at $(pg_shown "$pg_admin_url") (BENCH_POSTGRES_URL)" >&2
        exit 1
    fi
}

pg_exists() {
    [ "$(pg_psql -c "SELECT 1 FROM pg_database WHERE datname = '$1'")" = 1 ]
}

pg_create() {
    pg_psql -c "CREATE DATABASE \"$1\""
}

# Drops database NAME if it exists, disconnecting whoever is still connected.
pg_drop() {
    pg_psql -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"
}

# One line describing the server and the settings that decide write throughput.
pg_describe() {
    local version settings directory filesystem="unknown"
    version=$(pg_psql -c "SHOW server_version" | cut -d' ' -f1)
    settings=$(pg_psql -c "SELECT string_agg(name || '=' || current_setting(name), ' ')
        FROM unnest(ARRAY['fsync', 'synchronous_commit', 'shared_buffers']) AS name")
    # Readable by superusers and pg_read_all_settings; local servers only.
    directory=$(pg_psql -c "SHOW data_directory" 2>/dev/null || true)
    if [ -n "$directory" ] && [ -d "$directory" ]; then
        filesystem=$(df --output=fstype "$directory" | tail -1)
    fi
    echo "PostgreSQL $version ($settings), data on $filesystem"
}
