#!/usr/bin/env bash
# Change-feed drain rate for 100 000 changes, and the cost of Idempotency-Key and If-Match on
# writes (bench/feed.py does the measuring). Traffic only to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=bench/lib.sh
. bench/lib.sh

TOKEN=$(bench_token read,write,admin)
mkdir -p bench/results

python3 bench/feed.py "$URL" "$TOKEN" "$DB_URL" "$PSQL" | tee bench/results/feed-latest.md
echo "peak RSS of the service: $(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SERVER_PID/status") MiB"
