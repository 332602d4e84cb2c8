#!/usr/bin/env bash
# bench/run.sh: load-test two read endpoints of Samverkan API with wrk and compare them with
# pgbench running the equivalent SQL against the same database (the ceiling the service could
# reach if HTTP, JSON and the pool cost nothing). See bench/README.md.
#
# Environment:
#   DURATION        length of each measured run: 15s (default), 30, 1m, ...
#   WARMUP          seconds of unmeasured load before each wrk run (default 2; 0 disables)
#   DATABASE_URL    use this PostgreSQL instead of the service's own private cluster
#   SAMVERKAN_BIN   use this binary instead of building target/release/samverkan
#   READY_TIMEOUT   seconds to wait for the service to become ready (default 60)
#   LONG_POLLS      idle change-feed long polls held open during the second round (default 500;
#                   0 skips that round)
#
# All HTTP traffic goes to 127.0.0.1. The result is printed and written to
# bench/results/latest.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

THREADS=2
CONNECTIONS=32
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-2}
READY_TIMEOUT=${READY_TIMEOUT:-60}
LONG_POLLS=${LONG_POLLS:-500}
RESULTS_DIR="$ROOT/bench/results"

# log, die, the service's start-up and clean-up, the token, peak_rss_mib.
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

SECS=$(duration_secs "$DURATION")
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number of seconds (got '$WARMUP')"
[[ $READY_TIMEOUT =~ ^[0-9]+$ ]] || die "READY_TIMEOUT must be a whole number of seconds"

# ---------------------------------------------------------------------------------- tools

bench_require curl python3 timeout
bench_wrk

# pgbench: on PATH, or beside the newest installed PostgreSQL server.
PGBENCH=$(bench_pg_tool pgbench || true)
[ -n "$PGBENCH" ] || log "warning: pgbench not found (it comes with PostgreSQL): the ceiling columns will be n/a"

# ------------------------------------------------------------------- binary and service

bench_binary build
bench_workdir
# One client holds all the long polls of the second round, so its per-client limit is raised.
bench_start_service SAMVERKAN_LONG_POLLS_PER_CLIENT=$((LONG_POLLS + 10))

# ------------------------------------------------------------------------------ bearer token

AUTH_ARGS=()
TOKEN_NOTE="none (the command 'clients create' is not available)"
if bench_client_token bench read; then
    AUTH_ARGS=(-H "Authorization: Bearer $TOKEN")
    TOKEN_NOTE="bearer token of a client with scope read"
    log "using a bearer token (client $CLIENT_ID)"
else
    log "'clients create' is not available: running without a token"
fi

# ----------------------------------------------------------------------------- measurement

mkdir -p "$RESULTS_DIR"

COLUMNS_SQL="id, name, official_name, county_code, organisation_number, version, created_at, updated_at"
cat >"$WORK/single.sql" <<EOF
SELECT $COLUMNS_SQL FROM municipalities WHERE id = '2281';
EOF
cat >"$WORK/list.sql" <<EOF
SELECT count(*) FROM municipalities;
SELECT $COLUMNS_SQL FROM municipalities ORDER BY name, id LIMIT 20 OFFSET 0;
EOF

SCENARIOS=(
    "single|/v1/municipalities/2281|$WORK/single.sql"
    "list|/v1/municipalities?limit=20&sort=name|$WORK/list.sql"
)
for s in "${SCENARIOS[@]}"; do
    IFS='|' read -r _ path _ <<<"$s"
    preflight "$path"
done

ROWS=()
declare -A P99_PLAIN=()
for s in "${SCENARIOS[@]}"; do
    IFS='|' read -r name path sql <<<"$s"
    run_wrk "$name" "$path"
    P99_PLAIN[$name]=$WRK_P99
    run_pgbench "$name" "$sql"
    ROWS+=("GET $path|$WRK_RPS|$WRK_P50|$WRK_P99|$WRK_ERRORS|$PG_TPS|$PG_AVG|$(ratio "$WRK_RPS" "$PG_TPS")|$(peak_rss_mib)")
done

# Second round: the same reads while LONG_POLLS idle long polls of the change feed are open
# (what hundreds of mirroring systems do). They must hold no database connection: the reads'
# p99 should barely move.
POLL_ROWS=()
if ((LONG_POLLS > 0)) && [ -n "${TOKEN:-}" ]; then
    log "opening $LONG_POLLS idle long polls of the change feed"
    python3 "$ROOT/bench/longpolls.py" "$BASE" "$TOKEN" "$LONG_POLLS" "$WORK/polls-ready" \
        2>"$WORK/longpolls.log" &
    POLLS_PID=$!
    deadline=$((SECONDS + 60))
    until [ -s "$WORK/polls-ready" ]; do
        kill -0 "$POLLS_PID" 2>/dev/null || { cat "$WORK/longpolls.log" >&2; die "longpolls.py exited"; }
        ((SECONDS < deadline)) || die "the long polls were not all open within 60 s"
        sleep 0.5
    done
    log "$(cat "$WORK/polls-ready") long polls open"
    for s in "${SCENARIOS[@]}"; do
        IFS='|' read -r name path sql <<<"$s"
        run_wrk "$name-longpolls" "$path"
        POLL_ROWS+=("GET $path|${P99_PLAIN[$name]}|$WRK_P99|$(ratio "$WRK_P99" "${P99_PLAIN[$name]}")|$WRK_RPS|$WRK_ERRORS")
    done
    kill "$POLLS_PID" 2>/dev/null || true
    wait "$POLLS_PID" 2>/dev/null || true
    tail -n 1 "$WORK/longpolls.log" >&2 || true
fi

# ---------------------------------------------------------------------------------- report

HEADER="Scenario|Requests/s|p50 ms|p99 ms|Errors|pgbench tps|pgbench avg ms|Service/pgbench|Peak RSS MiB"
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$REV" != unknown ] && [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    REV="$REV (with uncommitted changes)"
fi
if [ -n "${DATABASE_URL:-}" ]; then DB_NOTE="DATABASE_URL"; else DB_NOTE="the service's private PostgreSQL cluster"; fi
PG_VERSION=""
if [ -n "$PGBENCH" ]; then PG_VERSION=$("$PGBENCH" --version 2>/dev/null | head -n 1 || true); fi

{
    echo "# Samverkan API benchmark"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- Revision: $REV"
    echo "- Machine: $(nproc 2>/dev/null || echo '?') CPUs, $(uname -sm)"
    echo "- Load: wrk -t$THREADS -c$CONNECTIONS -d${SECS}s --latency (after ${WARMUP}s warm-up); pgbench -n -c$CONNECTIONS -j2 -T$SECS --protocol=prepared${PG_VERSION:+ ($PG_VERSION)}"
    echo "- Database: $DB_NOTE"
    echo "- Authentication: $TOKEN_NOTE"
    echo
    printf '| %s |\n' "${HEADER//|/ | }"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for row in "${ROWS[@]}"; do
        printf '| %s |\n' "${row//|/ | }"
    done
    echo
    if ((${#POLL_ROWS[@]} > 0)); then
        echo "With $LONG_POLLS idle long polls (\`GET /v1/changes?after=<head>&wait=25\`) open:"
        echo
        echo "| Scenario | p99 ms alone | p99 ms with long polls | ratio | Requests/s | Errors |"
        echo "|---|---:|---:|---:|---:|---:|"
        for row in "${POLL_ROWS[@]}"; do
            printf '| %s |\n' "${row//|/ | }"
        done
        echo
    fi
    echo "Service/pgbench: the service's requests per second over pgbench's transactions per second"
    echo "for the same SQL. Peak RSS: the service's VmHWM after the scenario (cumulative)."
    echo "Errors: non-2xx responses plus socket errors seen by wrk. pgbench avg ms: its"
    echo "\"latency average\" (pgbench gives no percentiles). Raw outputs: wrk-*.txt, pgbench-*.txt."
} >"$RESULTS_DIR/latest.md"

echo
{
    echo "$HEADER"
    printf '%s\n' "${ROWS[@]}"
} | if command -v column >/dev/null 2>&1; then column -t -s '|'; else tr '|' '\t'; fi
if ((${#POLL_ROWS[@]} > 0)); then
    echo
    {
        echo "With $LONG_POLLS long polls|p99 alone|p99 with|ratio|Requests/s|Errors"
        printf '%s\n' "${POLL_ROWS[@]}"
    } | if command -v column >/dev/null 2>&1; then column -t -s '|'; else tr '|' '\t'; fi
fi
echo
log "written to bench/results/latest.md"
