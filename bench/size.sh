#!/usr/bin/env bash
# bench/size.sh: the service at real size, side by side with PostgreSQL in one run. Loads the
# service's database to FEEDBACK feedback entries and ASSIGNMENTS assignments (bench/search-data.sql,
# triggers off, then VACUUM ANALYZE as autovacuum would), then measures, for each scenario:
#
#   - the service under wrk (requests/s, p50, p99, its CPU seconds per 1 000 requests, peak RSS);
#   - pgbench running the exact statements the service sent for that request (captured from
#     PostgreSQL's log, bench/statements.py): what the service's SQL costs by itself;
#   - pgbench running the best single statement for the same answer (written here): the
#     ceiling the service is compared with.
#
# Scenarios: GET a feedback entry by id; a filtered list's page 1; a page deep in the same list
# by cursor (`after`); a full-text search; a bulk load of LOAD_ROWS rows through
# POST /v1/imports/feedback against COPY of the same rows into a table of the same columns
# without triggers or indexes (and into the real table); the change feed drained by one client,
# pages of 1 000, against pgbench running the page statement on one connection.
#
# Environment:
#   FEEDBACK        feedback entries to load (default 1000000)
#   ASSIGNMENTS     assignments to load (default 100000)
#   NETWORKS        networks to load (default 10000)
#   LOAD_ROWS       rows of the bulk-load scenario (default 100000)
#   DURATION        length of each measured run (default 10s)
#   WARMUP          seconds of unmeasured load before each (default 2)
#   CONNECTIONS     wrk connections and pgbench clients (default 32)
#   DATABASE_URL    use this PostgreSQL (a superuser: the load sets session_replication_role and
#                   the capture turns on statement logging) instead of the service's own cluster
#   PG_LOG          that server's log file, when PostgreSQL cannot name it
#   SAMVERKAN_BIN, READY_TIMEOUT as for the other scripts
#
# All traffic goes to 127.0.0.1. The result is printed and written to bench/results/size.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

FEEDBACK=${FEEDBACK:-1000000}
ASSIGNMENTS=${ASSIGNMENTS:-100000}
NETWORKS=${NETWORKS:-10000}
LOAD_ROWS=${LOAD_ROWS:-100000}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=2
READY_TIMEOUT=${READY_TIMEOUT:-120}
RESULTS_DIR="$ROOT/bench/results"
for v in FEEDBACK ASSIGNMENTS NETWORKS LOAD_ROWS WARMUP CONNECTIONS; do
    [[ ${!v} =~ ^[1-9][0-9]*$|^0$ ]] || { echo "$v must be a whole number" >&2; exit 1; }
done
((FEEDBACK >= 7000 && NETWORKS >= 1)) || { echo "FEEDBACK must be at least 7000, NETWORKS at least 1" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
SECS=$(duration_secs "$DURATION")

bench_require curl python3 timeout getconf
bench_wrk
PSQL=$(bench_pg_tool psql) || die "psql is required (it comes with PostgreSQL)"
PGBENCH=$(bench_pg_tool pgbench) || die "pgbench is required (it comes with PostgreSQL)"

bench_binary build
bench_workdir
# No webhook dispatcher: its polling would be captured with the requests' statements.
# Tokens for a day: the load alone may outlast the default quarter of an hour.
bench_start_service SAMVERKAN_RATE_LIMIT_WRITES_PER_MINUTE=1000000 SAMVERKAN_WEBHOOKS=off \
    SAMVERKAN_JWT_TTL_SECONDS=86400
bench_client_token bench-size read,write,import || die "could not create a client: $(head -c 500 "$WORK/clients.err")"
AUTH_ARGS=(-H "Authorization: Bearer $TOKEN")
mkdir -p "$RESULTS_DIR"
q() { "$PSQL" "$DBURL" -v ON_ERROR_STOP=1 -At -c "$1"; }
get() { curl -fsS "${AUTH_ARGS[@]}" "$BASE$1"; }
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# ------------------------------------------------------------------------------------ load

log "loading $NETWORKS networks, $ASSIGNMENTS assignments, $FEEDBACK feedback entries"
load_start=$SECONDS
PGOPTIONS="-c session_replication_role=replica" "$PSQL" "$DBURL" -v ON_ERROR_STOP=1 -q \
    -v networks="$NETWORKS" -v assignments="$ASSIGNMENTS" -v feedback="$FEEDBACK" \
    -f "$ROOT/bench/search-data.sql" >/dev/null
LOAD_SECS=$((SECONDS - load_start))
COUNTS=$(q "SELECT (SELECT count(*) FROM feedback) || ' feedback entries, ' ||
    (SELECT count(*) FROM assignments) || ' assignments, ' || (SELECT count(*) FROM networks) || ' networks'")
log "loaded in ${LOAD_SECS}s: $COUNTS"

# The columns the API shows (the search columns are PostgreSQL's own, never sent).
COLS=$(q "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
    WHERE attrelid = 'feedback'::regclass AND attnum > 0 AND NOT attisdropped
      AND attname NOT LIKE 'search%'")
MUNI=2281
LIST="/v1/feedback?municipalityId=$MUNI&limit=50"
ORDER="ORDER BY created_at DESC, id DESC LIMIT 50"

# ----------------------------------------------------------------------------- scenarios

ROWS=()
# NAME PATH BEST_SQL_FILE: wrk, pgbench of the exact SQL, pgbench of the best SQL. A best file
# that does not exist is made of the last statement the service sent (its page statement).
measure() {
    local name=$1 path=$2 best=$3 statements
    preflight "$path"
    capture_sql "$name" "$path"
    if [ ! -e "$best" ]; then
        awk 'BEGIN { RS = ";\n"; ORS = ";\n" } NF { last = $0 } END { print last }' "$WORK/$name.sql" >"$best"
    fi
    statements=$(grep -c ';$' "$WORK/$name.sql" || true)
    cp "$WORK/$name.sql" "$RESULTS_DIR/size-$name-exact.sql"
    cp "$best" "$RESULTS_DIR/size-$name-best.sql"
    WARMUP=$WARMUP run_wrk "$name" "$path"
    local rps=$WRK_RPS p50=$WRK_P50 p99=$WRK_P99 errors=$WRK_ERRORS cpu=$WRK_CPU rss
    rss=$(rss_mib)
    ((errors == 0)) || die "$name: $errors requests failed (bench/results/wrk-$name.txt): no ratio is worth printing"
    run_pgbench "$name-exact" "$WORK/$name.sql"
    local exact=$PG_TPS
    run_pgbench "$name-best" "$best"
    ROWS+=("$name|$rps|$p50|$p99|$errors|$cpu|$statements|$exact|$PG_TPS|$(ratio "$rps" "$exact")|$(ratio "$rps" "$PG_TPS")|$rss|$(peak_rss_mib)")
}

# GET by id: an entry from the middle of the table.
ID=$(q "SELECT id FROM feedback ORDER BY id OFFSET $((FEEDBACK / 2)) LIMIT 1")
echo "SELECT $COLS FROM feedback WHERE id = '$ID';" >"$WORK/by-id-best.sql"
measure by-id "/v1/feedback/$ID" "$WORK/by-id-best.sql"

# Page 1 of one municipality's entries, newest first (the default sort).
echo "SELECT $COLS FROM feedback WHERE municipality_id = '$MUNI' $ORDER;" >"$WORK/page-1-best.sql"
measure page-1 "$LIST" "$WORK/page-1-best.sql"

# A page by cursor, half way into the same list (walked there in pages of 500).
PAGES=$((FEEDBACK / 7 / 500 / 2))
((PAGES > 200)) && PAGES=200
log "walking $PAGES pages of 500 to a deep cursor"
CURSOR="" LAST=""
for ((i = 0; i < PAGES; i++)); do
    read -r CURSOR LAST < <(get "/v1/feedback?municipalityId=$MUNI&limit=500${CURSOR:+&after=$CURSOR}" |
        json 'd["_meta"]["nextCursor"], d["items"][-1]["id"]')
done
DEEP="$LIST&after=$CURSOR"
# The best statement for that page: the rows after the cursor's (the walk's last entry's) key.
KEY=$(q "SELECT created_at || '|' || id FROM feedback WHERE id = '$LAST'")
echo "SELECT $COLS FROM feedback WHERE municipality_id = '$MUNI' AND (created_at, id) < ('${KEY%%|*}', '${KEY##*|}') $ORDER;" \
    >"$WORK/cursor-best.sql"
measure cursor "$DEEP" "$WORK/cursor-best.sql"
DEPTH=$((PAGES * 500))

# Full-text search of the comments (Swedish stemming: "sjukfrånvaron" finds "sjukfrånvaro").
# No hand-written statement gives the same ranked page faster than the service's own page
# statement (ranking every match, as `ORDER BY ts_rank(…)` does, is 50 times slower at a
# million rows): the best single statement is that one alone, without the word lookup and the
# estimate that come before it.
SEARCH="/v1/feedback?q=sjukfr%C3%A5nvaron&limit=50"
measure search "$SEARCH" "$WORK/search-best.sql"

# ------------------------------------------------------------------------------ bulk load

log "bulk load: $LOAD_ROWS rows"
NET=$(q "SELECT id FROM networks ORDER BY id LIMIT 1")
python3 - "$WORK" "$LOAD_ROWS" "$NET" <<'PY'
import json, sys, uuid
work, rows, net = sys.argv[1], int(sys.argv[2]), sys.argv[3]
goals = ["core", "focus", "internal"]
sugg = [{"kind": "development", "text": "Gemensam kompetensförsörjning"}]
with open(f"{work}/load.csv", "w", encoding="utf-8", newline="") as api, \
        open(f"{work}/copy.csv", "w", encoding="utf-8", newline="") as copy:
    api.write("year;goal;networkId;rating;comment;suggestions\r\n")
    for i in range(rows):
        comment = f"Kommentar {i}: stödet har fungerat väl i Ånge och Örnsköldsvik"
        api.write(f"2022;{goals[i % 3]};{net};{1 + i % 5};{comment};development:Gemensam kompetensförsörjning\r\n")
        s = json.dumps(sugg, ensure_ascii=False).replace('"', '""')
        copy.write(f'{uuid.uuid4()},2022,{goals[i % 3]},{net},{1 + i % 5},"{comment}","{s}"\n')
PY
FEED_BEFORE=$(q "SELECT count(*) FROM changes")
secs_of() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
S=$(date +%s.%N)
code=$(curl -sS -o "$WORK/load.json" -w '%{http_code}' "${AUTH_ARGS[@]}" -H 'Content-Type: text/csv' \
    --data-binary "@$WORK/load.csv" "$BASE/v1/imports/feedback")
E=$(date +%s.%N)
[ "$code" = 200 ] || die "the import answered $code: $(head -c 500 "$WORK/load.json")"
T_API=$(secs_of "$S" "$E")
RSS_LOAD=$(peak_rss_mib)
FEED_ROWS=$(($(q "SELECT count(*) FROM changes") - FEED_BEFORE))
q "CREATE UNLOGGED TABLE IF NOT EXISTS bench_plain_feedback (LIKE feedback INCLUDING DEFAULTS)" >/dev/null
q "ALTER TABLE bench_plain_feedback SET LOGGED" >/dev/null
copy_into() {
    local s e
    s=$(date +%s.%N)
    "$PSQL" "$DBURL" -q -v ON_ERROR_STOP=1 -c "\\copy $1 (id, year, goal, network_id, rating, comment, suggestions) FROM '$WORK/copy.csv' WITH (FORMAT csv)"
    e=$(date +%s.%N)
    secs_of "$s" "$e"
}
T_PLAIN=$(copy_into bench_plain_feedback)
T_TABLE=$(copy_into feedback)
q "DROP TABLE bench_plain_feedback" >/dev/null

# ---------------------------------------------------------------------------- change feed

log "draining the change feed in pages of 1000"
python3 - "$BASE" "$TOKEN" >"$WORK/drain.txt" <<'PY'
import http.client, json, sys, time, urllib.parse
base, token = sys.argv[1], sys.argv[2]
after, cursors = "", []
u = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(u.hostname, u.port)
times, items, start = [], 0, time.perf_counter()
while True:
    t = time.perf_counter()
    conn.request("GET", f"/v1/changes?limit=1000{after}", headers={"Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit(f"GET /v1/changes answered {r.status}: {body[:300]!r}")
    page = json.loads(body)
    times.append(time.perf_counter() - t)
    if not page["items"]:
        break
    items += len(page["items"])
    cursors.append(page["nextCursor"])
    after = "&after=" + page["nextCursor"]
total = time.perf_counter() - start
times.sort()
pct = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000
print(items, f"{items / total:.0f}", f"{pct(0.5):.1f}", f"{pct(0.99):.1f}", cursors[len(cursors) // 2])
PY
read -r DRAINED DRAIN_RATE DRAIN_P50 DRAIN_P99 MID <"$WORK/drain.txt"
capture_sql feed "/v1/changes?after=$MID&limit=1000"
cp "$WORK/feed.sql" "$RESULTS_DIR/size-feed-exact.sql"
CONNECTIONS=1 run_pgbench feed-exact "$WORK/feed.sql"
FEED_PG=$(awk -v t="$PG_TPS" 'BEGIN { if (t + 0 > 0) printf "%.0f", t * 1000; else print "n/a" }')
FEED_PG_MS=$PG_AVG

# ---------------------------------------------------------------------------------- report

REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$REV" != unknown ] && [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    REV="$REV (with uncommitted changes)"
fi
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }
{
    echo "# Samverkan API at size"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), revision $REV, $(nproc) CPUs"
    echo "- Data: $COUNTS (loaded in ${LOAD_SECS}s with triggers off, then VACUUM ANALYZE)"
    echo "- Reads: wrk -t$THREADS -c$CONNECTIONS -d${SECS}s --latency after ${WARMUP}s of warm-up; pgbench -n -c$CONNECTIONS -j2 -T$SECS --protocol=prepared"
    echo "- Exact: the statements the service sent for the request, from PostgreSQL's log; best: one statement for the same answer"
    echo "- The cursor page is $DEPTH entries deep"
    echo
    echo "| Scenario | Requests/s | p50 ms | p99 ms | Errors | CPU s / 1 000 req | Statements | pgbench exact tps | pgbench best tps | Service/exact | Service/best | RSS MiB after the load | Peak RSS MiB since start |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for row in "${ROWS[@]}"; do printf '| %s |\n' "${row//|/ | }"; done
    echo
    echo "| Bulk load of $LOAD_ROWS rows | seconds | rows/s | share of COPY without triggers |"
    echo "|---|---:|---:|---:|"
    echo "| POST /v1/imports/feedback, CSV ($FEED_ROWS feed entries written) | $T_API | $(rate "$LOAD_ROWS" "$T_API") | $(ratio "$T_PLAIN" "$T_API") |"
    echo "| COPY into feedback (its triggers and indexes) | $T_TABLE | $(rate "$LOAD_ROWS" "$T_TABLE") | $(ratio "$T_PLAIN" "$T_TABLE") |"
    echo "| COPY into a table of the same columns, no triggers or indexes | $T_PLAIN | $(rate "$LOAD_ROWS" "$T_PLAIN") | 1 |"
    echo
    echo "Peak RSS during the load: $RSS_LOAD MiB."
    echo
    echo "| Change feed, pages of 1 000 | changes | changes/s | p50 ms a page | p99 ms a page |"
    echo "|---|---:|---:|---:|---:|"
    echo "| GET /v1/changes from the start, one client in sequence | $DRAINED | $DRAIN_RATE | $DRAIN_P50 | $DRAIN_P99 |"
    echo "| pgbench, the page statement, one connection | – | $FEED_PG | $FEED_PG_MS | – |"
} | tee "$RESULTS_DIR/size.md"
