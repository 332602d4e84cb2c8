#!/usr/bin/env bash
# Where the time of a bulk load goes in PostgreSQL itself: the same ROWS (100 000) feedback rows
# COPYed, each in a transaction that is rolled back, into
#   1. a table of feedback's columns without indexes, constraints or triggers (plain COPY),
#   2. the same with feedback's B-tree indexes (the lists' filters and sorts),
#   3. the same with its foreign keys,
#   4. the same with its change-feed trigger (the feed entries a load must write),
#   5. feedback itself without its change-feed trigger (the search columns and GIN indexes added),
#   6. feedback itself, as a load through the API writes it.
# What separates 4 from 1 is the floor any load through these tables has, whatever the service
# does; 6 is the ceiling of the service's own load (bench/size.sh compares the two).
#   bench/load-floor.sh DATABASE_URL     (a database migrated by the service, with a network and
#                                         the plan of 2022: `samverkan seed --demo` or size.sh's)
set -euo pipefail
DBURL=${1:?DATABASE_URL of a migrated database with the demo data}
ROWS=${ROWS:-100000}
PSQL=${PSQL:-psql}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"; "$PSQL" "$DBURL" -qc "DROP TABLE IF EXISTS bench_floor" >/dev/null 2>&1 || true' EXIT
q() { "$PSQL" "$DBURL" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

NET=$(q "SELECT id FROM networks ORDER BY id LIMIT 1")
[ -n "$NET" ] || { echo "no network: load the demo data first (samverkan seed --demo)" >&2; exit 2; }
python3 - "$WORK/rows.csv" "$ROWS" "$NET" <<'PY'
import json, sys, uuid
path, rows, net = sys.argv[1], int(sys.argv[2]), sys.argv[3]
goals = ["core", "focus", "internal"]
s = json.dumps([{"kind": "development", "text": "Gemensam kompetensförsörjning"}],
               ensure_ascii=False).replace('"', '""')
with open(path, "w", encoding="utf-8", newline="") as f:
    for i in range(rows):
        comment = f"Kommentar {i}: stödet har fungerat väl i Ånge och Örnsköldsvik"
        f.write(f'{uuid.uuid4()},2022,{goals[i % 3]},{net},{1 + i % 5},"{comment}","{s}"\n')
PY

# Seconds a rolled-back COPY into $1 takes, after the statements in $2.
copy_into() {
    cat >"$WORK/run.sql" <<SQL
BEGIN;
$2
\\set t0 \`date +%s.%N\`
\\copy $1 (id, year, goal, network_id, rating, comment, suggestions) FROM '$WORK/rows.csv' WITH (FORMAT csv)
\\set t1 \`date +%s.%N\`
ROLLBACK;
\\echo :t0 :t1
SQL
    "$PSQL" "$DBURL" -qAtX -v ON_ERROR_STOP=1 -f "$WORK/run.sql" |
        awk 'NF == 2 { printf "%.2f", $2 - $1 }'
}

q "DROP TABLE IF EXISTS bench_floor" >/dev/null 2>&1
q "CREATE TABLE bench_floor (LIKE feedback INCLUDING DEFAULTS)" >/dev/null
T1=$(copy_into bench_floor "")
BTREES=$(q "SELECT string_agg(replace(replace(indexdef, ' ON public.feedback ', ' ON bench_floor '), 'INDEX ' || indexname, 'INDEX'), '; ')
            FROM pg_indexes WHERE tablename = 'feedback' AND indexdef LIKE '%USING btree%'")
q "$BTREES" >/dev/null
T2=$(copy_into bench_floor "")
q "ALTER TABLE bench_floor ADD FOREIGN KEY (network_id) REFERENCES networks (id),
     ADD FOREIGN KEY (municipality_id) REFERENCES municipalities (id),
     ADD FOREIGN KEY (year, goal) REFERENCES plan_goals (year, challenge)" >/dev/null
T3=$(copy_into bench_floor "")
# The feed trigger's function names its rows' type: feedback's, whose columns bench_floor shares.
q "CREATE TRIGGER bench_floor_feed AFTER INSERT ON bench_floor REFERENCING NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE FUNCTION feedback_feed()" >/dev/null
T4=$(copy_into bench_floor "")
T5=$(copy_into feedback "ALTER TABLE feedback DISABLE TRIGGER feedback_feed_insert;")
T6=$(copy_into feedback "")

rate() { python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]):,.0f}'.replace(',', ' '))" "$ROWS" "$1"; }
share() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$T1" "$1"; }
echo "| COPY of $ROWS feedback rows into | seconds | rows/s | share of plain COPY |"
echo "|---|---:|---:|---:|"
echo "| 1. feedback's columns, nothing else | $T1 | $(rate "$T1") | 1 |"
echo "| 2. + its B-tree indexes | $T2 | $(rate "$T2") | $(share "$T2") |"
echo "| 3. + its foreign keys | $T3 | $(rate "$T3") | $(share "$T3") |"
echo "| 4. + its change-feed trigger | $T4 | $(rate "$T4") | $(share "$T4") |"
echo "| 5. feedback without the feed trigger (search columns, GIN indexes) | $T5 | $(rate "$T5") | $(share "$T5") |"
echo "| 6. feedback | $T6 | $(rate "$T6") | $(share "$T6") |"
