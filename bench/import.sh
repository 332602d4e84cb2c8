#!/usr/bin/env bash
# Bulk-load benchmark: ROWS feedback rows (default 100 000) loaded through
# POST /v1/imports/feedback as CSV and as NDJSON, against psql's \copy of the same rows into the
# same table as the ceiling, in one run; then a ~100 MB file (dry run) to show that the service's
# memory stays flat. Prints rows/s, the ratio to \copy and the service's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-100000}
BIG_MB=${BIG_MB:-100}
# shellcheck source=bench/lib.sh
. bench/lib.sh

bench_require curl python3 timeout
PSQL=$(bench_pg_tool psql) || die "psql is required (it comes with PostgreSQL)"
if [ -z "${SAMVERKAN_BIN:-}" ] && [ -x target/release/samverkan ]; then BIN_MODE=existing; else BIN_MODE=build; fi
bench_binary "$BIN_MODE"
bench_workdir
bench_start_service SAMVERKAN_RATE_LIMIT_WRITES_PER_MINUTE=1000000
URL=$BASE
DB_URL=$DBURL
bench_client_token bench-import import,read,write ||
    die "'samverkan clients create' failed: $(head -c 500 "$WORK/clients.err")"
NET=$(curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"name": "Benchnätverket", "kind": "management"}' "$URL/v1/networks" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

log "generating $ROWS rows"
python3 - "$WORK" "$ROWS" "$NET" "$BIG_MB" <<'PY'
import json, sys, uuid
work, rows, net, big_mb = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
goals = ["core", "focus", "internal"]
def row(i):
    return (2022, goals[i % 3], net, 1 + i % 5, f"Kommentar {i}: stödet har fungerat väl i Ånge och Örnsköldsvik",
            "development:Gemensam kompetensförsörjning|advocacy:Nära vård")
with open(f"{work}/feedback.csv", "w", encoding="utf-8-sig", newline="") as f:
    f.write("year;goal;networkId;rating;comment;suggestions\r\n")
    for i in range(rows):
        f.write(";".join(str(x) for x in row(i)) + "\r\n")
# As Swedish Excel's "CSV (semikolonavgränsad)" saves it: Windows-1252, no BOM.
with open(f"{work}/feedback-1252.csv", "w", encoding="cp1252", newline="") as f:
    f.write("year;goal;networkId;rating;comment;suggestions\r\n")
    for i in range(rows):
        f.write(";".join(str(x) for x in row(i)) + "\r\n")
with open(f"{work}/feedback.ndjson", "w", encoding="utf-8") as f:
    for i in range(rows):
        y, g, n, r, c, s = row(i)
        f.write(json.dumps({"year": y, "goal": g, "networkId": n, "rating": r, "comment": c,
            "suggestions": [{"kind": "development", "text": "Gemensam kompetensförsörjning"}, {"kind": "advocacy", "text": "Nära vård"}]}, ensure_ascii=False) + "\n")
with open(f"{work}/copy.csv", "w", encoding="utf-8", newline="") as f:
    for i in range(rows):
        y, g, n, r, c, s = row(i)
        sugg = json.dumps([{"kind": "development", "text": "Gemensam kompetensförsörjning"}, {"kind": "advocacy", "text": "Nära vård"}], ensure_ascii=False).replace('"', '""')
        f.write(f'{uuid.uuid4()},{y},{g},{n},{r},"{c}","{sugg}"\n')
# A ~BIG_MB file for the memory check (long comments).
target = big_mb * 1024 * 1024
with open(f"{work}/big.csv", "w", encoding="utf-8", newline="") as f:
    f.write("year;goal;networkId;rating;comment\n")
    i, size, filler = 0, 0, "lång kommentar om samverkan " * 30
    while size < target:
        line = f"2022;{goals[i % 3]};{net};{1 + i % 5};{filler}{i}\n"
        f.write(line); size += len(line.encode()); i += 1
PY

rss() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$SERVER_PID/status"; }
clear_feedback() { "$PSQL" -q "$DB_URL" -c "DELETE FROM feedback" >/dev/null; }
load() { # $1 content type, $2 file, $3 query
    local start end code
    start=$(date +%s.%N)
    code=$(curl -sS -o "$WORK/answer.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        -H "Content-Type: $1" --data-binary "@$2" "$URL/v1/imports/feedback$3")
    end=$(date +%s.%N)
    [ "$code" = 200 ] || { log "load answered $code: $(head -c 500 "$WORK/answer.json")"; tail -5 "$SERVICE_LOG" >&2; exit 1; }
    python3 -c "print(f'{$end - $start:.2f}')"
}

RSS0=$(rss)
clear_feedback; T_CSV=$(load text/csv "$WORK/feedback.csv" ""); RSS_CSV=$(rss)
clear_feedback; T_1252=$(load text/csv "$WORK/feedback-1252.csv" "")
# The round trip: export what was loaded, load the export back (every row unchanged).
S=$(date +%s.%N)
curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Accept: text/csv' "$URL/v1/feedback" > "$WORK/export.csv"
E=$(date +%s.%N)
T_EXPORT=$(python3 -c "print(f'{$E - $S:.2f}')")
T_BACK=$(load text/csv "$WORK/export.csv" "")
UNCHANGED=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["unchanged"])' "$WORK/answer.json")
clear_feedback; T_ND=$(load application/x-ndjson "$WORK/feedback.ndjson" ""); RSS_ND=$(rss)
clear_feedback
S=$(date +%s.%N)
"$PSQL" -q "$DB_URL" -c "\\copy feedback (id, year, goal, network_id, rating, comment, suggestions) FROM '$WORK/copy.csv' WITH (FORMAT csv)"
E=$(date +%s.%N)
T_COPY=$(python3 -c "print(f'{$E - $S:.2f}')")
BIG_SIZE=$(du -m "$WORK/big.csv" | cut -f1)
T_BIG=$(load text/csv "$WORK/big.csv" "?dryRun=true"); RSS_BIG=$(rss)

OUT=bench/results/import-latest.md
mkdir -p bench/results
python3 - "$ROWS" "$T_CSV" "$T_ND" "$T_COPY" "$RSS0" "$RSS_CSV" "$RSS_ND" "$BIG_SIZE" "$T_BIG" "$RSS_BIG" "$T_1252" "$T_EXPORT" "$T_BACK" "$UNCHANGED" <<'PY' | tee "$OUT"
import sys
rows, t_csv, t_nd, t_copy, rss0, rss_csv, rss_nd, big, t_big, rss_big, t_1252, t_export, t_back, unchanged = sys.argv[1:]
rows = int(rows); t_csv, t_nd, t_copy, t_1252 = float(t_csv), float(t_nd), float(t_copy), float(t_1252)
t_export, t_back = float(t_export), float(t_back)
print(f"| load ({rows} feedback rows) | seconds | rows/s | share of \\copy | service peak RSS (MiB) |")
print("|---|---|---|---|---|")
print(f"| POST /v1/imports/feedback, CSV UTF-8 | {t_csv:.2f} | {rows / t_csv:,.0f} | {t_copy / t_csv:.0%} | {rss_csv} |")
print(f"| POST /v1/imports/feedback, CSV Windows-1252 | {t_1252:.2f} | {rows / t_1252:,.0f} | {t_copy / t_1252:.0%} | – |")
print(f"| POST /v1/imports/feedback, NDJSON | {t_nd:.2f} | {rows / t_nd:,.0f} | {t_copy / t_nd:.0%} | {rss_nd} |")
print(f"| psql \\copy (ceiling) | {t_copy:.2f} | {rows / t_copy:,.0f} | 100% | – |")
print()
print(f"Round trip: the export of the {rows} rows took {t_export:.2f} s; loading it back {t_back:.2f} s ({unchanged} rows unchanged, nothing written).")
print(f"Memory: peak RSS {rss0} MiB before the loads; {rss_big} MiB after a {big} MB CSV (dry run, {float(t_big):.1f} s).")
PY
