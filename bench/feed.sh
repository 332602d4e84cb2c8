#!/usr/bin/env bash
# Change-feed drain rate for 100 000 changes, and the cost of Idempotency-Key and If-Match on
# writes (bench/feed.py does the measuring). Traffic only to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

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

CREDS=$(DATABASE_URL="$DB_URL" SAMVERKAN_LOG_LEVEL=error "$BIN" clients create --name feed-bench --scopes read,write,admin)
ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["clientId"])' "$CREDS")
SECRET=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["clientSecret"])' "$CREDS")
TOKEN=$(curl -fsS -u "$ID:$SECRET" -d grant_type=client_credentials "$URL/v1/oauth/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
mkdir -p bench/results

python3 bench/feed.py "$URL" "$TOKEN" "$DB_URL" "$PSQL" | tee bench/results/feed-latest.md
echo "peak RSS of the service: $(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SERVER_PID/status") MiB"
