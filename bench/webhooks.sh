#!/usr/bin/env bash
# bench/webhooks.sh: webhook delivery. Starts the service with its dispatcher allowed to call
# 127.0.0.1 and a fast local receiver (bench/webhook_receiver.py), subscribes SUBSCRIBERS
# subscriptions to it, then
#   1. a burst: EVENTS changes in one statement (EVENTS x SUBSCRIBERS deliveries); measures the
#      deliveries per second from the commit to the last arrival, and the lag of each;
#   2. a steady stream: one change every 20 ms for DURATION; measures the lag from each change
#      (its `timestamp`, taken in the writing transaction) to its arrival, p50 and p99;
# beside the receiver's own capacity for the same requests (wrk POSTing to it directly).
#
# Environment: EVENTS (default 2000), SUBSCRIBERS (default 5), DURATION (default 10s),
# DATABASE_URL, SAMVERKAN_BIN, READY_TIMEOUT. Only 127.0.0.1 is used. The result is printed and
# written to bench/results/webhooks.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

EVENTS=${EVENTS:-2000}
SUBSCRIBERS=${SUBSCRIBERS:-5}
DURATION=${DURATION:-10s}
READY_TIMEOUT=${READY_TIMEOUT:-120}
RESULTS_DIR="$ROOT/bench/results"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
SECS=$(duration_secs "$DURATION")
[[ $EVENTS =~ ^[1-9][0-9]*$ ]] || die "EVENTS must be a whole number from 1"
[[ $SUBSCRIBERS =~ ^[1-9][0-9]*$ ]] || die "SUBSCRIBERS must be a whole number from 1"

bench_require curl python3 timeout wrk
PSQL=$(bench_pg_tool psql) || die "psql is required"

bench_binary build
bench_workdir
bench_start_service SAMVERKAN_WEBHOOK_ALLOWED_NETWORKS=127.0.0.1/32
bench_client_token bench read,write || { cat "$WORK/clients.err" >&2; die "could not create a client"; }
AUTH_ARGS=(-H "Authorization: Bearer $TOKEN")
mkdir -p "$RESULTS_DIR"

ARRIVALS="$WORK/arrivals.txt"
: >"$ARRIVALS"
python3 "$ROOT/bench/webhook_receiver.py" "$ARRIVALS" >"$WORK/receiver.out" 2>&1 &
RECEIVER_PID=$!
trap 'kill "$RECEIVER_PID" 2>/dev/null; bench_cleanup' EXIT
for _ in $(seq 1 50); do
    grep -q '^port ' "$WORK/receiver.out" 2>/dev/null && break
    sleep 0.1
done
RPORT=$(awk '/^port / { print $2; exit }' "$WORK/receiver.out")
[ -n "$RPORT" ] || die "the receiver did not start"
HOOK="http://127.0.0.1:$RPORT/hook"

log "subscribing $SUBSCRIBERS subscriptions to $HOOK"
for _ in $(seq 1 "$SUBSCRIBERS"); do
    code=$(curl -sS -o "$WORK/sub.json" -w '%{http_code}' "${AUTH_ARGS[@]}" \
        -H 'Content-Type: application/json' -d "{\"url\": \"$HOOK\", \"eventTypes\": [\"area.created\"]}" \
        "$BASE/v1/webhooks")
    [ "$code" = 201 ] || { cat "$WORK/sub.json" >&2; die "subscribing answered $code"; }
done

# Waits until N deliveries have arrived (or 300 s); prints the seconds waited.
wait_for() {
    local n=$1 start=$SECONDS
    while [ "$(wc -l <"$ARRIVALS")" -lt "$n" ]; do
        ((SECONDS - start < 300)) || die "only $(wc -l <"$ARRIVALS") of $n deliveries arrived in 300 s"
        sleep 0.05
    done
}

# p50, p99 and max of the lags (ms) of the arrival lines from line FROM on.
lags() {
    tail -n +"$1" "$ARRIVALS" | python3 -c '
import sys
from datetime import datetime
lags = []
for line in sys.stdin:
    arrived, _, stamp = line.split(" ", 2)
    made = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00")).timestamp()
    lags.append((float(arrived) - made) * 1000)
lags.sort()
pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
print(f"{pick(0.5):.1f} {pick(0.99):.1f} {lags[-1]:.1f}")'
}

TOTAL=$((EVENTS * SUBSCRIBERS))
log "burst: $EVENTS changes in one statement, $TOTAL deliveries"
start=$(date +%s.%N)
"$PSQL" "$DBURL" -q -c "INSERT INTO areas (id, name, description)
    SELECT gen_random_uuid(), 'Område ' || g, 'Webhook-mätning.' FROM generate_series(1, $EVENTS) g" >/dev/null
wait_for "$TOTAL"
end=$(date +%s.%N)
BURST_SECS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
BURST_RATE=$(awk -v n="$TOTAL" -v s="$BURST_SECS" 'BEGIN { printf "%.0f", n / s }')
read -r BURST_P50 BURST_P99 BURST_MAX < <(lags 1)
DUPLICATES=$(awk '{ print $2 }' "$ARRIVALS" | sort | uniq -d | wc -l)

log "steady: one change every 20 ms for ${SECS}s"
from=$(($(wc -l <"$ARRIVALS") + 1))
n=0
deadline=$((SECONDS + SECS))
while ((SECONDS < deadline)); do
    "$PSQL" "$DBURL" -q -c "INSERT INTO areas (id, name, description)
        VALUES (gen_random_uuid(), 'Ström ' || clock_timestamp(), 'Webhook-mätning.')" >/dev/null
    n=$((n + 1))
    sleep 0.02
done
wait_for $((TOTAL + n * SUBSCRIBERS))
read -r STEADY_P50 STEADY_P99 STEADY_MAX < <(lags "$from")

log "the receiver alone: wrk POSTing the same requests to it for ${SECS}s"
cat >"$WORK/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["webhook-id"] = "msg_bench"
wrk.body = '{"type": "area.created", "timestamp": "2026-01-01T00:00:00Z", "data": {}}'
EOF
RECEIVER_RPS=$(wrk -t2 -c16 -d"${SECS}s" -s "$WORK/post.lua" "$HOOK" | awk '/^Requests\/sec:/ { printf "%.0f", $2 }')

REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
    echo "# Webhook benchmark"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), revision $REV, $(nproc) CPUs"
    echo "- $SUBSCRIBERS subscriptions to one receiver on 127.0.0.1 (bench/webhook_receiver.py), the service's defaults (16 attempts in flight)"
    echo
    echo "| Measurement | Deliveries | Deliveries/s | Lag p50 ms | Lag p99 ms | Lag max ms |"
    echo "|---|---:|---:|---:|---:|---:|"
    echo "| burst: $EVENTS changes in one statement | $TOTAL | $BURST_RATE | $BURST_P50 | $BURST_P99 | $BURST_MAX |"
    echo "| steady: a change every 20 ms for ${SECS} s | $((n * SUBSCRIBERS)) | – | $STEADY_P50 | $STEADY_P99 | $STEADY_MAX |"
    echo
    echo "- Delivered twice: $DUPLICATES (a duplicate comes only from a retry or a lease that ran out)"
    echo "- The receiver alone (wrk -t2 -c16 POSTing to it): $RECEIVER_RPS requests/s; the burst reached $(ratio "$BURST_RATE" "$RECEIVER_RPS") of it"
    echo "- Service peak RSS: $(peak_rss_mib) MiB"
} | tee "$RESULTS_DIR/webhooks.md"
