#!/usr/bin/env bash
# ops/replicas-check.sh: runs what docker-compose.yml's `replicas` profile runs, without Docker,
# and checks it as an operations team would: one service that makes the signing key, three more
# replicas sharing its data directory (the compose volume) on 127.0.0.2–4:8080, and nginx in
# front with ops/nginx.conf itself (only its upstream's addresses and its port replaced). Through
# the proxy it checks that requests are spread over the replicas, that a token from one is good
# on all, that an Idempotency-Key retry is replayed by another replica, that a long poll of the
# change feed is woken by a write through another, that a bulk load streams through, and that
# with one replica killed every request still succeeds. Needs nginx (apt-get install nginx) and
# a PostgreSQL where it may create a database (DATABASE_URL, a superuser's; default
# postgres://postgres@127.0.0.1:5432/postgres). SAMVERKAN_BIN as for the benchmarks.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
NAME=samverkan_replicas_check
READY_TIMEOUT=${READY_TIMEOUT:-120}
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_require curl python3 nginx
PSQL=$(bench_pg_tool psql) || die "psql is required"
if [ -z "${SAMVERKAN_BIN:-}" ] && [ -x target/release/samverkan ]; then BIN_MODE=existing; else BIN_MODE=build; fi
bench_binary "$BIN_MODE"
bench_workdir
REPLICA_PIDS=()
NGINX_PID=""
admin() { "$PSQL" "$ADMIN_URL" -v ON_ERROR_STOP=1 -qAtc "$1" >/dev/null; }
finish() {
    local rc=$?
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null
    for pid in "${REPLICA_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    admin "DROP DATABASE IF EXISTS $NAME WITH (FORCE)" || true
    (exit $rc)
    bench_cleanup
}
trap finish EXIT
admin "DROP DATABASE IF EXISTS $NAME WITH (FORCE)"
admin "CREATE DATABASE $NAME"
DATABASE_URL=$(python3 -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$ADMIN_URL" "$NAME")
export DATABASE_URL

# `api`: migrates, seeds and makes the signing key in the shared data directory.
bench_start_service SAMVERKAN_WEBHOOKS=off
bench_client_token replicas-check read,write,import
# The three replicas, as compose's `replica` service (logging every request, to count them).
for i in 2 3 4; do
    env SAMVERKAN_BIND="127.0.0.$i:8080" SAMVERKAN_LOG_LEVEL=info SAMVERKAN_LOG_FORMAT=json \
        SAMVERKAN_TRUSTED_PROXIES=127.0.0.1/32 SAMVERKAN_WEBHOOKS=off \
        "$BIN" serve >"$WORK/replica-$i.log" 2>&1 &
    REPLICA_PIDS+=($!)
done
for i in 2 3 4; do
    deadline=$((SECONDS + READY_TIMEOUT))
    until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.$i:8080/health/ready" 2>/dev/null; do
        ((SECONDS < deadline)) || die "replica 127.0.0.$i was not ready"
        sleep 0.5
    done
done
# nginx with ops/nginx.conf, placed where the nginx image includes it (inside `http`).
PROXY_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s|server replica:8080 \(.*\);|server 127.0.0.2:8080 \1; server 127.0.0.3:8080 \1; server 127.0.0.4:8080 \1;|" \
    -e "s|listen 8081;|listen 127.0.0.1:$PROXY_PORT;|" ops/nginx.conf >"$WORK/default.conf"
grep -q "127.0.0.4:8080" "$WORK/default.conf" || die "ops/nginx.conf's upstream is not the expected one"
cat >"$WORK/nginx.conf" <<EOF
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events {}
http {
    access_log $WORK/nginx-access.log;
    client_body_temp_path $WORK/nginx-body;
    proxy_temp_path $WORK/nginx-proxy;
    include $WORK/default.conf;
}
EOF
nginx -t -c "$WORK/nginx.conf" -g 'daemon off;' 2>"$WORK/nginx-test.log" || { cat "$WORK/nginx-test.log" >&2; die "nginx refuses ops/nginx.conf"; }
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
PROXY="http://127.0.0.1:$PROXY_PORT"
until curl -fsS -o /dev/null --max-time 2 "$PROXY/health/ready"; do sleep 0.2; done
auth=(-H "Authorization: Bearer $TOKEN")
ok() { printf 'replicas: %s\n' "$*"; }

# 1. Spread: 60 reads through the proxy reach every replica.
for _ in $(seq 60); do curl -fsS -o /dev/null "${auth[@]}" "$PROXY/v1/municipalities/2281"; done
counts=$(for i in 2 3 4; do grep -c '"route":"/v1/municipalities/{municipalityId}"' "$WORK/replica-$i.log" || true; done | paste -sd' ')
for n in $counts; do [ "$n" -gt 0 ] || die "a replica got none of 60 reads: $counts"; done
ok "60 reads through nginx, per replica: $counts (the token of one replica is good on all)"

# 2. An Idempotency-Key retry through the proxy is replayed, whichever replica takes it.
body='{"name":"Nätverk via proxyn","kind":"staff","municipalityIds":["2281"]}'
post() { curl -fsS -D "$WORK/headers-$1" -o "$WORK/body-$1" "${auth[@]}" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: proxy-check-1" -d "$body" "$PROXY/v1/networks"; }
post 1; post 2
grep -qi '^idempotent-replayed: true' "$WORK/headers-2" || die "the retry was not replayed"
cmp -s "$WORK/body-1" "$WORK/body-2" || die "the replayed answer differs"
ok "an Idempotency-Key retry through nginx is replayed byte for byte"

# 3. A long poll through the proxy is woken by a write through the proxy.
cursor=$(curl -fsS "${auth[@]}" "$PROXY/v1/changes?limit=1000" | python3 -c 'import json,sys; print(json.load(sys.stdin)["nextCursor"])')
start=$SECONDS
curl -fsS -o "$WORK/poll" "${auth[@]}" "$PROXY/v1/changes?after=$cursor&wait=25" &
poll=$!
sleep 2
curl -fsS -o /dev/null "${auth[@]}" -H 'Content-Type: application/json' \
    -d '{"name":"Väcker lyssnaren","kind":"staff","municipalityIds":["2281"]}' "$PROXY/v1/networks"
wait "$poll"
waited=$((SECONDS - start))
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert any(c["type"]=="network" for c in d["items"]), d' "$WORK/poll" \
    || die "the long poll did not return the change"
[ "$waited" -lt 20 ] || die "the long poll waited ${waited}s for a write made after 2s"
ok "a long poll through nginx returned the write of another request after ${waited}s"

# 4. A bulk load streams through the proxy.
python3 - "$WORK/networks.csv" <<'PY'
import sys
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write("name;kind;municipalityIds;externalSystem;externalId\n")
    for i in range(5000):
        f.write(f"Nätverk via proxyn {i};staff;2281|2262;proxy-check;N-{i}\n")
PY
curl -fsS -o "$WORK/import" "${auth[@]}" -H 'Content-Type: text/csv' --data-binary "@$WORK/networks.csv" "$PROXY/v1/imports/networks"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["created"]==5000, d' "$WORK/import" || die "the bulk load failed"
ok "a bulk load of 5 000 rows through nginx: created 5000"

# 5. One replica killed: every request still succeeds (nginx tries the next one).
{ kill -KILL "${REPLICA_PIDS[0]}" && wait "${REPLICA_PIDS[0]}"; } 2>/dev/null || true
failed=0
for _ in $(seq 60); do
    code=$(curl -sS -o /dev/null -w '%{http_code}' "${auth[@]}" "$PROXY/v1/municipalities/2281")
    [ "$code" = 200 ] || failed=$((failed + 1))
done
[ "$failed" -eq 0 ] || die "$failed of 60 requests failed with a replica down"
ok "with 127.0.0.2 killed, 60 of 60 reads through nginx succeeded"
