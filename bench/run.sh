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

# "15s", "15", "1m", "1h" -> whole seconds.
duration_secs() {
    local d=$1 n
    [[ $d =~ ^([0-9]+)([smh]?)$ ]] || die "DURATION must look like 15s, 30, 2m or 1h (got '$d')"
    n=$((10#${BASH_REMATCH[1]}))
    case ${BASH_REMATCH[2]} in
        m) n=$((n * 60)) ;;
        h) n=$((n * 3600)) ;;
    esac
    ((n >= 1)) || die "DURATION must be at least one second"
    echo "$n"
}
SECS=$(duration_secs "$DURATION")
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number of seconds (got '$WARMUP')"
[[ $READY_TIMEOUT =~ ^[0-9]+$ ]] || die "READY_TIMEOUT must be a whole number of seconds"

# ---------------------------------------------------------------------------------- tools

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        return 1
    fi
}

bench_require curl python3 timeout

if ! command -v wrk >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "wrk is not installed and apt-get is not available: install wrk"
    if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
        die "wrk is not installed: run 'apt-get install wrk' as root, then run this script again"
    fi
    log "installing wrk"
    as_root env DEBIAN_FRONTEND=noninteractive timeout 600 \
        sh -c 'apt-get update -qq && apt-get install -y -qq wrk' >/dev/null \
        || die "could not install wrk (apt-get install wrk)"
fi

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

# wrk prints times as 512.00us, 1.23ms, 2.00s or 1.50m: print them in milliseconds.
to_ms() {
    awk -v t="$1" 'BEGIN {
        if (t == "") { print "n/a"; exit }
        v = t + 0; u = t; sub(/^[0-9.]+/, "", u)
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000;
        else if (u == "m") v *= 60000; else if (u == "h") v *= 3600000;
        printf "%.2f", v }'
}

# One request first: a scenario that does not answer 200 is not worth measuring.
preflight() {
    local path=$1 code
    code=$(curl -sS -o "$WORK/preflight.body" -w '%{http_code}' --max-time 10 \
        ${AUTH_ARGS[@]+"${AUTH_ARGS[@]}"} "$BASE$path") || die "GET $path failed"
    if [ "$code" != 200 ]; then
        log "GET $path answered $code:"
        head -c 600 "$WORK/preflight.body" >&2
        echo >&2
        die "GET $path must answer 200 to be measured"
    fi
}

# Sets WRK_RPS, WRK_P50, WRK_P99 (ms) and WRK_ERRORS.
run_wrk() {
    local name=$1 path=$2 out="$WORK/wrk-$1.txt" non2xx sock
    if ((WARMUP > 0)); then
        run_child timeout $((WARMUP + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" \
            ${AUTH_ARGS[@]+"${AUTH_ARGS[@]}"} "$BASE$path" >/dev/null 2>&1 || true
    fi
    log "wrk: GET $path for ${SECS}s ($THREADS threads, $CONNECTIONS connections)"
    run_child timeout $((SECS + 60)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECS}s" --timeout 10s --latency \
        ${AUTH_ARGS[@]+"${AUTH_ARGS[@]}"} "$BASE$path" >"$out" 2>&1 \
        || { cat "$out" >&2; die "wrk failed on $name"; }
    cp "$out" "$RESULTS_DIR/wrk-$name.txt"
    WRK_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
    WRK_P50=$(to_ms "$(awk '$1 == "50%" { print $2; exit }' "$out")")
    WRK_P99=$(to_ms "$(awk '$1 == "99%" { print $2; exit }' "$out")")
    non2xx=$(awk -F: '/Non-2xx or 3xx responses/ { gsub(/ /, "", $2); print $2 }' "$out")
    sock=$(awk '/Socket errors:/ { n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i + 0; print n }' "$out")
    WRK_ERRORS=$((${non2xx:-0} + ${sock:-0}))
    [ -n "$WRK_RPS" ] || { cat "$out" >&2; die "could not read Requests/sec from wrk's output"; }
    if ((WRK_ERRORS > 0)); then
        log "warning: $name: $WRK_ERRORS failed requests (non-2xx or socket errors): see bench/results/wrk-$name.txt"
    fi
}

# Sets PG_TPS and PG_AVG (ms); n/a when pgbench is missing or fails. pgbench gives no latency
# percentiles, and the per-transaction times of its --log are too coarse for sub-millisecond
# transactions (most are logged as 0 us), so only the average is reported.
run_pgbench() {
    local name=$1 script=$2 out="$WORK/pgbench-$1.txt"
    PG_TPS=n/a PG_AVG=n/a
    [ -n "$PGBENCH" ] || return 0
    log "pgbench: the equivalent SQL for ${SECS}s ($CONNECTIONS clients, 2 threads, prepared)"
    if ! run_child timeout $((SECS + 120)) "$PGBENCH" -n -c"$CONNECTIONS" -j2 -T"$SECS" --protocol=prepared \
        --report-per-command -f "$script" "$DBURL" >"$out" 2>&1; then
        log "warning: pgbench failed on $name:"
        tail -n 20 "$out" >&2
        return 0
    fi
    cp "$out" "$RESULTS_DIR/pgbench-$name.txt"
    PG_TPS=$(awk '/^tps = .*without initial connection time/ { printf "%.0f", $3 }' "$out")
    PG_AVG=$(awk '/^latency average = / { printf "%.2f", $4 }' "$out")
    : "${PG_TPS:=n/a}" "${PG_AVG:=n/a}"
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.3f", a / b; else print "n/a" }'
}

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
