#!/usr/bin/env bash
# Contract tests: the release binary on a free port with a temporary database, and
# schemathesis generating requests from the binary's own /openapi.json. Every response
# must be documented (status, content type, schema), none may be a 5xx, and the server
# must still be up and stop cleanly afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."

source scripts/python-venv.sh
venv=target/contract-venv
python_venv tests/contract/requirements.txt "$venv"

cargo build --release --locked --bin webhook-inbox

work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -KILL "$server"; fi
    rm -rf "$work"
}
trap cleanup EXIT

export WEBHOOK_SECRET="contract-$$-$RANDOM"
# The read API closed, as the document declares it: every request carries the token.
export API_TOKENS="contract-token-$$-$RANDOM"
HOST=127.0.0.1 PORT=0 DATABASE_URL="sqlite://$work/app.db" LOG_LEVEL=INFO \
    target/release/webhook-inbox >"$work/log" 2>&1 &
server=$!
for _ in $(seq 100); do
    port=$(grep '"message":"listening"' "$work/log" | sed 's/.*"addr":"[^"]*:\([0-9]*\)".*/\1/' || true)
    [ -n "$port" ] && break
    sleep 0.1
done
if [ -z "${port:-}" ]; then
    echo "the server did not start:" >&2
    cat "$work/log" >&2
    exit 1
fi
base="http://127.0.0.1:$port"
echo "server on $base"

curl -fsS "$base/openapi.json" -o "$work/openapi.json"
"$venv/bin/openapi-spec-validator" --schema 3.1 "$work/openapi.json"

# The checks are in schemathesis.toml. From inside target/, where schemathesis keeps its replay database and the report.
mkdir -p target/contract
hooks="$PWD/tests/contract"
(
    cd target/contract
    PYTHONPATH="$hooks" SCHEMATHESIS_HOOKS=hooks "../../$venv/bin/schemathesis" \
        --config-file "$hooks/schemathesis.toml" run "$base/openapi.json" \
        --max-examples "${CONTRACT_MAX_EXAMPLES:-300}" \
        --seed "${CONTRACT_SEED:-6}" \
        --workers 4 \
        --request-timeout 15 \
        --header "Authorization: Bearer $API_TOKENS" \
        --report junit --report-dir .
)

# What the service answered, per route and status: signed webhooks must have got in.
python3 - "$work/log" <<'PY'
import collections, json, sys
seen = collections.Counter()
for line in open(sys.argv[1]):
    entry = json.loads(line)
    if entry.get("message") == "request":
        seen[(entry["path"], entry["status"], entry.get("result", ""))] += 1
for (path, status, result), count in sorted(seen.items()):
    print(f"{count:6} {path} {status} {result}")
if not any(path == "/webhook" and result == "created" for path, _, result in seen):
    sys.exit("no webhook was stored: is the signing hook working?")
PY

curl -fsS "$base/health/live" >/dev/null
kill -TERM "$server"
status=0
wait "$server" || status=$?
server=""
if [ "$status" -ne 0 ]; then
    echo "the server exited with status $status" >&2
    exit 1
fi
if grep -v '^{' "$work/log" >&2; then
    echo "the server wrote a line that is not JSON" >&2
    exit 1
fi
echo "contract tests passed"
