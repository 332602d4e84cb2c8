#!/usr/bin/env bash
# bench/feed.sh: how fast a mirror can drain the change feed (changes/s for 100 000 changes, at
# limit=1000 and limit=100), and what Idempotency-Key and If-Match cost on writes (requests/s,
# p50, p99). bench/feed.py does the measuring; this script runs the service around it. See
# bench/README.md.
#
# Environment:
#   CHANGES         changes to generate and drain (default 100000)
#   WRITES          requests per write scenario (default 2000)
#   CONCURRENCY     client threads, one keep-alive connection each (default 8)
#   WARMUP_WRITES   unmeasured POST /v1/areas before the write scenarios (default 200)
#   PHASE_TIMEOUT   seconds any one phase (drain, insert, write scenario) may take (default 600)
#   FEED_TIMEOUT    seconds the whole measurement may take (default 1800)
#   DATABASE_URL    use this PostgreSQL instead of the service's own private cluster (the run
#                   adds CHANGES networks, 4 x WRITES areas and CONCURRENCY assignments to it)
#   SAMVERKAN_BIN   use this binary instead of target/release/samverkan (never built here)
#   READY_TIMEOUT   seconds to wait for the service to become ready (default 60)
#
# All HTTP traffic goes to 127.0.0.1. The result is printed and written to
# bench/results/feed-latest.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CHANGES=${CHANGES:-100000}
WRITES=${WRITES:-2000}
CONCURRENCY=${CONCURRENCY:-8}
WARMUP_WRITES=${WARMUP_WRITES:-200}
PHASE_TIMEOUT=${PHASE_TIMEOUT:-600}
FEED_TIMEOUT=${FEED_TIMEOUT:-1800}
READY_TIMEOUT=${READY_TIMEOUT:-60}
RESULTS_DIR="$ROOT/bench/results"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

for var in CHANGES WRITES CONCURRENCY PHASE_TIMEOUT FEED_TIMEOUT READY_TIMEOUT; do
    if ! [[ ${!var} =~ ^[0-9]+$ ]] || ((10#${!var} < 1)); then
        die "$var must be a whole number of at least 1 (got '${!var}')"
    fi
done
[[ $WARMUP_WRITES =~ ^[0-9]+$ ]] || die "WARMUP_WRITES must be a whole number (got '$WARMUP_WRITES')"

bench_require curl python3 timeout
PSQL=$(bench_pg_tool psql) || die "psql is required (it comes with PostgreSQL)"
bench_binary existing
bench_workdir
bench_start_service \
    SAMVERKAN_RATE_LIMIT_WRITES_PER_MINUTE=100000000 \
    SAMVERKAN_RATE_LIMIT_TOKENS_PER_MINUTE=1000

bench_client_token feedbench read,write,admin ||
    die "'samverkan clients create' failed: $(head -c 500 "$WORK/clients.err" 2>/dev/null)"
log "using a bearer token (client $CLIENT_ID, scopes read,write,admin)"

REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$REV" != unknown ] && [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    REV="$REV (with uncommitted changes)"
fi
if [ -n "${DATABASE_URL:-}" ]; then DB_NOTE="DATABASE_URL"; else DB_NOTE="the service's private PostgreSQL cluster"; fi
META="- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- Revision: $REV
- Machine: $(nproc 2>/dev/null || echo '?') CPUs, $(uname -sm); client, service and PostgreSQL share it
- Database: $DB_NOTE ($("$PSQL" --version 2>/dev/null | head -n 1))"

mkdir -p "$RESULTS_DIR"
# The token travels in the environment, not on a command line that ps shows.
run_child env \
    FEED_BASE="$BASE" FEED_TOKEN="$TOKEN" FEED_DB_URL="$DBURL" FEED_PSQL="$PSQL" \
    FEED_PID="$SERVER_PID" FEED_OUT="$RESULTS_DIR/feed-latest.md" FEED_META="$META" \
    CHANGES="$CHANGES" WRITES="$WRITES" CONCURRENCY="$CONCURRENCY" \
    WARMUP_WRITES="$WARMUP_WRITES" PHASE_TIMEOUT="$PHASE_TIMEOUT" \
    timeout "$FEED_TIMEOUT" python3 "$ROOT/bench/feed.py" ||
    die "the measurement failed or took longer than FEED_TIMEOUT=${FEED_TIMEOUT}s"

kill -0 "$SERVER_PID" 2>/dev/null || die "the service is no longer running"
# Anything the service logged at warn level or above (it logs at warn) is worth a look.
if [ -s "$SERVICE_LOG" ]; then
    n=$(wc -l <"$SERVICE_LOG")
    log "the service logged $n line(s) at warn level or above; the first ones:"
    head -n 10 "$SERVICE_LOG" | cut -c1-400 >&2
fi
log "written to bench/results/feed-latest.md"
