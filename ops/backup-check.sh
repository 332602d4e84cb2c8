#!/usr/bin/env bash
# ops/backup-check.sh: proves that ops/backup.sh and ops/restore.sh bring everything back. On a
# PostgreSQL where it may create a database (DATABASE_URL, a superuser's; default
# postgres://postgres@127.0.0.1:5432/postgres) it makes a fresh database, runs the service on it
# with the demo data, reads every collection through the API (every page of municipalities,
# areas, plans, networks and each network's members, assignments, progress reports, feedback,
# events and each event's registrations, and the whole change feed) and a checksum of every table; stops the service, backs up, drops
# the database and deletes the signing key, restores both, starts the service again and reads
# everything again with the token it handed out before: every collection and every table must
# be the same. The database is dropped at the end. SAMVERKAN_BIN as for the benchmarks.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
NAME=samverkan_backup_check
READY_TIMEOUT=${READY_TIMEOUT:-120}
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_require curl python3 timeout sha256sum
PSQL=$(bench_pg_tool psql) || die "psql is required"
if [ -z "${SAMVERKAN_BIN:-}" ] && [ -x target/release/samverkan ]; then BIN_MODE=existing; else BIN_MODE=build; fi
bench_binary "$BIN_MODE"
bench_workdir

CHECK_URL=$(python3 -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$ADMIN_URL" "$NAME")
admin() { "$PSQL" "$ADMIN_URL" -v ON_ERROR_STOP=1 -qAtc "$1" >/dev/null; }
fresh_database() { admin "DROP DATABASE IF EXISTS $NAME WITH (FORCE)"; admin "CREATE DATABASE $NAME"; }
trap 'rc=$?; admin "DROP DATABASE IF EXISTS $NAME WITH (FORCE)" || true; (exit $rc); bench_cleanup' EXIT
fresh_database
export DATABASE_URL=$CHECK_URL

stop_service() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# Every collection through the API (sorted by id), then every table's checksum.
snapshot() {
    python3 - "$BASE" "$TOKEN" <<'PY' >"$1.api.json"
import json, sys, urllib.request
base, token = sys.argv[1], sys.argv[2]
def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
def every(path):
    items, page = [], 1
    while True:
        sep = "&" if "?" in path else "?"
        got = get(f"{path}{sep}limit=500&page={page}")["items"]
        items += got
        if len(got) < 500:
            return sorted(items, key=lambda i: str(i.get("id", i.get("year"))))
        page += 1
out = {c: every(f"/v1/{c}") for c in
       ["municipalities", "areas", "plans", "networks", "assignments", "progress-reports", "feedback",
        "events"]}
out["members"] = {n["id"]: every(f"/v1/networks/{n['id']}/members") for n in out["networks"]}
out["registrations"] = {e["id"]: every(f"/v1/events/{e['id']}/registrations") for e in out["events"]}
feed, after = [], ""
while True:
    page = get(f"/v1/changes?limit=1000{after}")
    if not page["items"]:
        break
    feed += page["items"]
    after = "&after=" + page["nextCursor"]
out["changes"] = feed
json.dump(out, sys.stdout, ensure_ascii=False, sort_keys=True, indent=1)
PY
    "$PSQL" "$DATABASE_URL" -qAt -v ON_ERROR_STOP=1 >"$1.tables" <<'SQL'
SELECT format('SELECT %L || '' '' || count(*) || '' '' || coalesce(md5(string_agg(md5(t::text), '''' ORDER BY md5(t::text))), ''-'') FROM %I.%I t;',
              c.relname, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY c.relname
\gexec
SQL
}

log "the service on a fresh database with the demo data"
bench_start_service
DATABASE_URL="$DBURL" SAMVERKAN_LOG_LEVEL=warn timeout 120 "$BIN" seed --demo >/dev/null 2>"$WORK/seed.err" ||
    die "could not load the demo data: $(head -c 500 "$WORK/seed.err")"
bench_client_token backup-check read,write || die "could not create a client"
snapshot "$WORK/before"
stop_service

log "backing up, dropping the database and the signing key, restoring"
SAMVERKAN_DATA_DIR=$SAMVERKAN_DATA_DIR "$ROOT/ops/backup.sh" "$WORK/backup"
fresh_database
rm -f "$SAMVERKAN_DATA_DIR/jwt-ed25519.pem"
"$ROOT/ops/restore.sh" "$WORK/backup"

log "the service again, with the token from before the backup"
bench_start_service
snapshot "$WORK/after"
stop_service

cmp -s "$WORK/before.tables" "$WORK/after.tables" ||
    { diff "$WORK/before.tables" "$WORK/after.tables" >&2; die "a table differs after the restore"; }
cmp -s "$WORK/before.api.json" "$WORK/after.api.json" ||
    { diff "$WORK/before.api.json" "$WORK/after.api.json" | head -40 >&2; die "a collection differs after the restore"; }
python3 - "$WORK/after.api.json" "$WORK/after.tables" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
counts = {k: (sum(len(v) for v in d[k].values()) if isinstance(d[k], dict) else len(d[k])) for k in sorted(d)}
tables = sum(1 for _ in open(sys.argv[2]))
print("backup-check: the same after backup, wipe and restore: " +
      ", ".join(f"{k} {n}" for k, n in counts.items()) + f"; {tables} tables by checksum")
PY
