# Shared by the benchmark scripts: starts the release binary on a free 127.0.0.1 port with a
# private database in a temporary directory (or DATABASE_URL), waits until it is ready, and
# stops it (and so its PostgreSQL) on exit. Sets URL, DB_URL, SERVER_PID, WORK, BIN, PSQL.
# shellcheck shell=bash

BIN=${SAMVERKAN_BIN:-target/release/samverkan}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PSQL=$(command -v psql || echo "$PG_BIN/psql")

log() { printf 'bench: %s\n' "$*" >&2; }
[ -x "$BIN" ] || { log "building the release binary"; cargo build --release --bin samverkan >&2; }

WORK=$(mktemp -d)
chmod 755 "$WORK"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 90); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.5; done
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
export SAMVERKAN_DATA_DIR="$WORK/data"
SAMVERKAN_BIND="127.0.0.1:$PORT" SAMVERKAN_LOG_LEVEL=warn SAMVERKAN_RATE_LIMIT_WRITES_PER_MINUTE=1000000 \
    "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 120); do
    curl -fsS "$URL/health/ready" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.5
done
curl -fsS "$URL/health/ready" >/dev/null
DB_URL=${DATABASE_URL:-$(cat "$SAMVERKAN_DATA_DIR/database-url")}


# Creates an API client with the scopes $1 (comma-separated) and prints an access token for it.
bench_token() {
    local creds id secret
    creds=$(DATABASE_URL="$DB_URL" SAMVERKAN_LOG_LEVEL=error "$BIN" clients create --name "bench-$1" --scopes "$1")
    id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["clientId"])' "$creds")
    secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["clientSecret"])' "$creds")
    curl -fsS -u "$id:$secret" -d grant_type=client_credentials "$URL/v1/oauth/token" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
