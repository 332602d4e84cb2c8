#!/usr/bin/env bash
# bench/search.sh: search at scale. Loads 10 000 networks, 100 000 assignments and 100 000
# feedback comments (bench/search-data.sql; SCALE=10 for ten times as many) into the service's
# database, then measures `q` on collections and `GET /v1/search` with wrk (p50, p99) side by
# side with pgbench running the statements the service sent to PostgreSQL for the same request
# (captured from PostgreSQL's log, bench/statements.py). See bench/README.md.
#
# Environment: DURATION (default 10s), WARMUP (default 2), CONNECTIONS (default "2 16": each
# scenario is measured at each number of connections), SCALE (default 1), DATABASE_URL (a
# PostgreSQL whose role may create extensions and change the server's logging; the data load
# disables triggers with session_replication_role: a superuser), PG_LOG (that server's log file,
# when PostgreSQL cannot name it), SAMVERKAN_BIN, READY_TIMEOUT.
#
# All HTTP traffic goes to 127.0.0.1. The result is printed and written to
# bench/results/search.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

THREADS=2
LEVELS=${CONNECTIONS:-2 16}
SCALE=${SCALE:-1}
[[ $SCALE =~ ^[1-9][0-9]*$ ]] || { echo "SCALE must be a whole number from 1" >&2; exit 1; }
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2}
READY_TIMEOUT=${READY_TIMEOUT:-120}
RESULTS_DIR="$ROOT/bench/results"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
SECS=$(duration_secs "$DURATION")

bench_require curl python3 timeout wrk
PSQL=$(bench_pg_tool psql) || die "psql is required"
PGBENCH=$(bench_pg_tool pgbench || true)

bench_binary build
bench_workdir
# No webhook dispatcher: its polling would be captured with the requests' statements.
bench_start_service SAMVERKAN_WEBHOOKS=off
bench_client_token bench read || die "could not create a client"
AUTH_ARGS=(-H "Authorization: Bearer $TOKEN")
mkdir -p "$RESULTS_DIR"

log "loading $((SCALE * 10000)) networks, $((SCALE * 100000)) assignments, $((SCALE * 100000)) feedback comments"
load_start=$SECONDS
PGOPTIONS="-c session_replication_role=replica" "$PSQL" "$DBURL" -v ON_ERROR_STOP=1 -q \
    -v scale="$SCALE" -f "$ROOT/bench/search-data.sql" >/dev/null
LOAD_SECS=$((SECONDS - load_start))
COUNTS=$("$PSQL" "$DBURL" -At -c "SELECT (SELECT count(*) FROM networks) || ' networks, ' ||
    (SELECT count(*) FROM assignments) || ' assignments, ' || (SELECT count(*) FROM feedback) ||
    ' feedback entries'")
log "loaded in ${LOAD_SECS}s: $COUNTS"

# name|collection or "all"|q. Words as people type them: a compound's part, an inflection,
# a typo, two words.
SCENARIOS=(
    "assignments-part|assignments|familjehem"
    "assignments-typo|assignments|familjhemsstöd"
    "networks-part|networks|skolchef"
    "feedback-two-words|feedback|sjukfrånvaron verksamheter"
    "search-name|all|Digitaliseringsnätverket"
    "search-part|all|klimatstrategi"
    "search-typo|all|kvalitetsuppfölning"
)

enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }

ROWS=()
for s in "${SCENARIOS[@]}"; do
    IFS='|' read -r name collection q <<<"$s"
    if [ "$collection" = all ]; then path="/v1/search?q=$(enc "$q")"; else path="/v1/$collection?q=$(enc "$q")"; fi
    preflight "$path"
    hits=$(curl -sS "${AUTH_ARGS[@]}" "$BASE$path" | python3 -c '
import json, sys
meta = json.load(sys.stdin)["_meta"]
print(("~" if meta["totalRecordsIsEstimate"] else "") + str(meta["totalRecords"]))')
    capture_sql "$name" "$path"
    statements=$(grep -c ';$' "$WORK/$name.sql" || true)
    for CONNECTIONS in $LEVELS; do
        run_wrk "$name-c$CONNECTIONS" "$path"
        run_pgbench "$name-c$CONNECTIONS" "$WORK/$name.sql"
        ROWS+=("GET $path|$hits|$statements|$CONNECTIONS|$WRK_RPS|$WRK_P50|$WRK_P99|$WRK_ERRORS|$PG_TPS|$PG_AVG|$(ratio "$WRK_RPS" "$PG_TPS")")
    done
done

REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
    echo "# Search benchmark"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), revision $REV, $(nproc) CPUs"
    echo "- Data: $COUNTS (loaded in ${LOAD_SECS}s, triggers off)"
    echo "- Load: wrk -t$THREADS -c<connections> -d${SECS}s --latency (after ${WARMUP}s warm-up); pgbench -n -c<connections> -j2 -T$SECS --protocol=prepared, running the statements the service sent for the request (captured from PostgreSQL's log; prepared, so planned once, as the service's page statement is, though its word lookup and counts are planned per request)"
    echo "- Hits: \`_meta.totalRecords\` (~ an estimate); Statements: what one request sends"
    echo
    echo "| Request | Hits | Statements | Connections | Requests/s | p50 ms | p99 ms | Errors | pgbench tps | pgbench avg ms | Service/pgbench |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for row in "${ROWS[@]}"; do printf '| %s |\n' "${row//|/ | }"; done
} | tee "$RESULTS_DIR/search.md"
