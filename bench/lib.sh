# bench/lib.sh: shared by the benchmark scripts (sourced, never run). Defines functions only;
# nothing happens until a script calls them:
#
#   bench_require CMD...             die unless every command is on PATH
#   bench_wrk                        make sure wrk is installed (apt-get, as root or with sudo)
#   bench_pg_tool NAME               print the path of a PostgreSQL client tool (psql, pgbench)
#   bench_binary build|existing      set BIN: SAMVERKAN_BIN, else target/release/samverkan
#                                    (built first with "build"; must exist with "existing")
#   bench_workdir                    make the private temporary directory WORK (mode 755), set
#                                    SAMVERKAN_DATA_DIR and SERVICE_LOG, install the cleanup traps
#   bench_start_service [VAR=VALUE]...
#                                    start "$BIN serve" on a free 127.0.0.1 port (extra
#                                    environment for the service as arguments), wait for
#                                    /health/ready; set PORT, BASE, SERVER_PID and DBURL
#   bench_client_token NAME SCOPES   create an API client in the database and get a bearer token
#                                    for it; set CLIENT_ID and TOKEN
#   run_child CMD...                 run a command so that Ctrl-C is acted on at once
#   duration_secs D                  print "15s", "15", "1m" or "1h" as whole seconds (or die)
#   preflight PATH                   die unless GET PATH answers 200
#   run_wrk NAME PATH                load GET PATH with wrk; set WRK_RPS, WRK_P50, WRK_P99 (ms),
#                                    WRK_ERRORS, WRK_CPU (the service's CPU seconds per 1 000
#                                    requests of the measured run); keep its output in RESULTS_DIR
#   service_cpu_ticks                the service's user + system CPU time in clock ticks
#   run_pgbench NAME SCRIPT          run the SQL of SCRIPT with pgbench; set PG_TPS, PG_AVG (ms)
#                                    (PGBENCH_PROTOCOL: prepared, the default, or extended, which
#                                    plans every statement each time as the service does for
#                                    statements with literals)
#   capture_sql NAME PATH            GET PATH twice (the second time with PostgreSQL logging
#                                    every statement) and write what the service sent for it, as a
#                                    pgbench script, to WORK/NAME.sql (bench/statements.py)
#   ratio A B                        A / B to three decimals (or n/a)
#   peak_rss_mib                     the service's VmHWM in MiB (or n/a)
#   rss_mib                          the service's VmRSS in MiB now (or n/a)
#
# On exit, Ctrl-C or SIGTERM the cleanup stops the service with SIGTERM (its graceful shutdown
# stops the embedded PostgreSQL; SIGKILL after 45 s), stops a PostgreSQL left behind, shows the
# end of the service log if the script failed, and deletes WORK.
#
# Globals the caller may set first: READY_TIMEOUT (seconds, default 60); for the measurements
# THREADS, CONNECTIONS, SECS, WARMUP, RESULTS_DIR, PGBENCH and AUTH_ARGS (an array).
# shellcheck shell=bash

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
READY_TIMEOUT=${READY_TIMEOUT:-60}
WORK=""
SERVICE_LOG=""
SERVER_PID=""
CHILD_PID=""

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

bench_require() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || die "$c is required"
    done
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        return 1
    fi
}

bench_wrk() {
    command -v wrk >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || die "wrk is not installed and apt-get is not available: install wrk"
    if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
        die "wrk is not installed: run 'apt-get install wrk' as root, then run this script again"
    fi
    log "installing wrk"
    as_root env DEBIAN_FRONTEND=noninteractive timeout 600 \
        sh -c 'apt-get update -qq && apt-get install -y -qq wrk' >/dev/null \
        || die "could not install wrk (apt-get install wrk)"
}

# On PATH, or beside the newest installed PostgreSQL server. Prints nothing (and fails) when absent.
bench_pg_tool() {
    local name=$1 found
    found=$(command -v "$name" 2>/dev/null || true)
    if [ -z "$found" ]; then
        found=$(printf '%s\n' /usr/lib/postgresql/*/bin/"$name" | sort -V | while read -r f; do
            if [ -x "$f" ]; then echo "$f"; fi
        done | tail -n 1)
    fi
    [ -n "$found" ] || return 1
    echo "$found"
}

bench_binary() {
    local mode=$1
    if [ -n "${SAMVERKAN_BIN:-}" ]; then
        BIN=$SAMVERKAN_BIN
    elif [ "$mode" = build ]; then
        command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust or set SAMVERKAN_BIN"
        log "building the release binary (cargo build --release --bin samverkan)"
        (cd "$BENCH_ROOT" && cargo build --release --bin samverkan) >&2
        BIN="${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/release/samverkan"
    else
        BIN="${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/release/samverkan"
        [ -x "$BIN" ] || die "$BIN does not exist: build it (cargo build --release --bin samverkan) or set SAMVERKAN_BIN"
    fi
    [ -x "$BIN" ] || die "$BIN is not an executable"
    case $BIN in /*) ;; *) BIN="$PWD/$BIN" ;; esac
}

# Runs a command in the background and waits for it, so that a signal to this script is acted on
# at once (bash defers traps while a foreground command runs); the cleanup ends it.
run_child() {
    local rc=0
    "$@" &
    CHILD_PID=$!
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=""
    return "$rc"
}

is_postgres_process() {
    [ -r "/proc/$1/comm" ] && grep -q '^postgres' "/proc/$1/comm" 2>/dev/null
}

bench_cleanup() {
    local rc=$? pm i
    set +e
    trap - EXIT INT TERM
    if [ -n "$CHILD_PID" ] && kill -0 "$CHILD_PID" 2>/dev/null; then
        kill -TERM "$CHILD_PID" 2>/dev/null
        wait "$CHILD_PID" 2>/dev/null
    fi
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        # Graceful shutdown includes stopping the embedded PostgreSQL: allow 45 s.
        for ((i = 0; i < 225; i++)); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            log "the service did not stop within 45 s: killing it"
            kill -KILL "$SERVER_PID" 2>/dev/null
        fi
        wait "$SERVER_PID" 2>/dev/null
    fi
    if [ -n "$WORK" ]; then
        # An embedded cluster left behind (the service was killed): stop it before deleting it.
        if [ -f "$WORK/data/pgdata/postmaster.pid" ]; then
            pm=$(head -n 1 "$WORK/data/pgdata/postmaster.pid" 2>/dev/null)
            if [[ $pm =~ ^[0-9]+$ ]] && is_postgres_process "$pm"; then
                kill -QUIT "$pm" 2>/dev/null
                for ((i = 0; i < 50; i++)); do
                    kill -0 "$pm" 2>/dev/null || break
                    sleep 0.2
                done
            fi
        fi
        if [ "$rc" -ne 0 ] && [ -s "$SERVICE_LOG" ]; then
            log "last lines of the service log:"
            tail -n 30 "$SERVICE_LOG" >&2
        fi
        rm -rf "$WORK"
    fi
    exit "$rc"
}

bench_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/samverkan-bench.XXXXXX")
    # When run as root the service runs its PostgreSQL as the postgres user, which must be able
    # to reach the data directory inside.
    chmod 755 "$WORK"
    export SAMVERKAN_DATA_DIR="$WORK/data"
    SERVICE_LOG="$WORK/service.log"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

bench_start_service() {
    local kv url_file deadline
    [ -n "$WORK" ] || die "bench_start_service: call bench_workdir first"
    [[ $READY_TIMEOUT =~ ^[0-9]+$ ]] || die "READY_TIMEOUT must be a whole number of seconds"
    for kv in "$@"; do
        [[ $kv =~ ^[A-Z_][A-Z0-9_]*= ]] || die "bench_start_service: '$kv' is not VAR=VALUE"
    done
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    BASE="http://127.0.0.1:$PORT"

    if [ -n "${DATABASE_URL:-}" ]; then
        log "starting the service on 127.0.0.1:$PORT (database: DATABASE_URL)"
    else
        log "starting the service on 127.0.0.1:$PORT (database: its own private cluster in $SAMVERKAN_DATA_DIR)"
    fi
    # env execs the binary, so $! is the service's own pid.
    # One client drives all the load here, so its share of requests in progress (by default
    # three quarters of the pool) is lifted; arguments may override it.
    env SAMVERKAN_BIND="127.0.0.1:$PORT" SAMVERKAN_LOG_LEVEL=warn SAMVERKAN_REQUESTS_PER_CLIENT=1000 \
        "$@" "$BIN" serve >"$SERVICE_LOG" 2>&1 &
    SERVER_PID=$!

    # Ready, and (embedded cluster) its connection URL written, within READY_TIMEOUT seconds.
    deadline=$((SECONDS + READY_TIMEOUT))
    until curl -fsS -o /dev/null --max-time 2 "$BASE/health/ready" 2>/dev/null; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "the service exited during startup"
        ((SECONDS < deadline)) || die "the service was not ready within ${READY_TIMEOUT}s"
        sleep 0.5
    done

    if [ -n "${DATABASE_URL:-}" ]; then
        DBURL=$DATABASE_URL
    else
        url_file="$SAMVERKAN_DATA_DIR/database-url"
        until [ -s "$url_file" ]; do
            ((SECONDS < deadline)) || die "$url_file did not appear within ${READY_TIMEOUT}s"
            sleep 0.5
        done
        DBURL=$(head -n 1 "$url_file" | tr -d '\r\n')
    fi
    [[ $DBURL =~ ^postgres(ql)?:// ]] || die "the database URL is not a postgres:// URL"
    log "the service is ready (pid $SERVER_PID)"
}

# `clients create` talks to the database directly. It is given the URL rather than the data
# directory, so that it does not adopt (and, on exit, stop) the running embedded cluster.
# Returns 1 when `clients create` fails (its stderr is in $WORK/clients.err); dies when it
# succeeds but no token can be had.
bench_client_token() {
    local name=$1 scopes=$2 creds_json creds token_json
    creds_json=$(DATABASE_URL="$DBURL" SAMVERKAN_LOG_LEVEL=warn timeout 60 \
        "$BIN" clients create --name "$name" --scopes "$scopes" 2>"$WORK/clients.err") || return 1
    creds=$(printf '%s\n' "$creds_json" | python3 -c '
import json, sys
for line in reversed(sys.stdin.read().splitlines()):
    line = line.strip()
    if not line.startswith("{"):
        continue
    try:
        obj = json.loads(line)
    except ValueError:
        continue
    if isinstance(obj, dict) and obj.get("clientId") and obj.get("clientSecret"):
        print(obj["clientId"])
        print(obj["clientSecret"])
        sys.exit(0)
sys.exit(1)
') || die "'clients create' succeeded but printed no {\"clientId\", \"clientSecret\"} object"
    CLIENT_ID=$(sed -n 1p <<<"$creds")
    local secret
    secret=$(sed -n 2p <<<"$creds")
    token_json=$(curl -fsS --max-time 10 -u "$CLIENT_ID:$secret" \
        -d grant_type=client_credentials "$BASE/v1/oauth/token") \
        || die "the token request to $BASE/v1/oauth/token failed"
    # shellcheck disable=SC2034 # for the caller
    TOKEN=$(printf '%s' "$token_json" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') \
        || die "the token response has no access_token"
}

service_cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0
}

# A memory figure of the service's /proc status (VmRSS, VmHWM) in MiB (or n/a).
status_mib() {
    local kb
    kb=$(awk -v field="$1:" '$1 == field { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || true)
    if [ -n "$kb" ]; then awk -v kb="$kb" 'BEGIN { printf "%.1f", kb / 1024 }'; else echo "n/a"; fi
}
rss_mib() { status_mib VmRSS; }
peak_rss_mib() { status_mib VmHWM; }

# ----------------------------------------------------------------------------- measurement

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
    local ticks_before ticks_after requests
    ticks_before=$(service_cpu_ticks)
    run_child timeout $((SECS + 60)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECS}s" --timeout 10s --latency \
        ${AUTH_ARGS[@]+"${AUTH_ARGS[@]}"} "$BASE$path" >"$out" 2>&1 \
        || { cat "$out" >&2; die "wrk failed on $name"; }
    ticks_after=$(service_cpu_ticks)
    requests=$(awk '$2 == "requests" && $3 == "in" { print $1; exit }' "$out")
    WRK_CPU=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$(getconf CLK_TCK)" -v n="${requests:-0}" \
        'BEGIN { if (n > 0) printf "%.3f", t / hz / n * 1000; else print "n/a" }')
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
    local protocol=${PGBENCH_PROTOCOL:-prepared}
    log "pgbench: the equivalent SQL for ${SECS}s ($CONNECTIONS clients, 2 threads, $protocol)"
    if ! run_child timeout $((SECS + 120)) "$PGBENCH" -n -c"$CONNECTIONS" -j2 -T"$SECS" --protocol="$protocol" \
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

# The server log of the database at DBURL: PG_LOG when set, the embedded cluster's, or the one
# PostgreSQL names (pg_current_logfile, with its logging collector on).
bench_pg_log() {
    local file dir
    if [ -n "${PG_LOG:-}" ]; then
        echo "$PG_LOG"
    elif [ -z "${DATABASE_URL:-}" ] && [ -f "$SAMVERKAN_DATA_DIR/postgresql.log" ]; then
        echo "$SAMVERKAN_DATA_DIR/postgresql.log"
    else
        file=$("$PSQL" "$DBURL" -Atc "SELECT pg_current_logfile()" 2>/dev/null || true)
        [ -n "$file" ] || return 1
        case $file in /*) ;; *)
            dir=$("$PSQL" "$DBURL" -Atc "SHOW data_directory") || return 1
            file="$dir/$file" ;;
        esac
        echo "$file"
    fi
}

capture_sql() {
    local name=$1 path=$2 pglog offset
    pglog=$(bench_pg_log) || die "cannot find the PostgreSQL server log: set PG_LOG"
    [ -r "$pglog" ] || die "cannot read the PostgreSQL server log $pglog: set PG_LOG"
    # The first request fills the caches a steady load would have filled.
    curl -fsS -o /dev/null ${AUTH_ARGS[@]+"${AUTH_ARGS[@]}"} "$BASE$path" || die "GET $path failed"
    "$PSQL" "$DBURL" -q -c "ALTER SYSTEM SET log_statement = 'all'" \
        -c "ALTER SYSTEM SET log_line_prefix = '%m [%p] %a: '" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
    offset=$(stat -c %s "$pglog")
    curl -fsS -o /dev/null ${AUTH_ARGS[@]+"${AUTH_ARGS[@]}"} "$BASE$path" || die "GET $path failed"
    sleep 0.2
    "$PSQL" "$DBURL" -q -c "ALTER SYSTEM RESET log_statement" -c "ALTER SYSTEM RESET log_line_prefix" \
        -c "SELECT pg_reload_conf()" >/dev/null
    python3 "$BENCH_ROOT/bench/statements.py" "$pglog" "$offset" >"$WORK/$name.sql" \
        || die "the statements of GET $path were not found in $pglog"
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.3f", a / b; else print "n/a" }'
}
