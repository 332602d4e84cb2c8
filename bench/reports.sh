#!/usr/bin/env bash
# bench/reports.sh: the board's reports as the board sees them. Starts the service on its demo
# data, makes a report link for each report (a browser sends no token) and has headless
# Chromium print each page to PDF (A4, as the page's @page rule asks) and take a screenshot;
# each PDF's pages are turned into PNGs (pdftoppm) to be looked at.
#
#   REPORTS   the reports, as report-link bodies' "report/year[/tertial]" (default:
#             "tertial/2022/1 tertial/2022/3 annual/2022")
#   SAMVERKAN_BIN, READY_TIMEOUT, DATABASE_URL as for the other scripts.
#
# Writes bench/results/reports/<name>.pdf, <name>-<page>.png and <name>-screen.png, and prints
# each PDF's page count and size.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
REPORTS=${REPORTS:-"tertial/2022/1 tertial/2022/3 annual/2022"}
OUT="$ROOT/bench/results/reports"
READY_TIMEOUT=${READY_TIMEOUT:-120}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_require curl python3 timeout
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ] || ! command -v pdftoppm >/dev/null 2>&1; then
    log "installing chromium and poppler-utils (pdftoppm)"
    as_root env DEBIAN_FRONTEND=noninteractive timeout 900 \
        sh -c 'apt-get update -qq && apt-get install -y -qq chromium poppler-utils' >/dev/null \
        || die "could not install chromium and poppler-utils"
    CHROMIUM=$(command -v chromium || command -v chromium-browser)
fi

if [ -z "${SAMVERKAN_BIN:-}" ] && [ -x target/release/samverkan ]; then BIN_MODE=existing; else BIN_MODE=build; fi
bench_binary "$BIN_MODE"
bench_workdir
bench_start_service
DATABASE_URL="$DBURL" SAMVERKAN_LOG_LEVEL=warn timeout 120 "$BIN" seed --demo >/dev/null 2>"$WORK/seed.err" ||
    die "could not load the demo data: $(head -c 500 "$WORK/seed.err")"
bench_client_token bench-reports read,write || die "could not create a client: $(head -c 500 "$WORK/clients.err")"
mkdir -p "$OUT"

for spec in $REPORTS; do
    IFS=/ read -r report year tertial <<<"$spec"
    name="$report-$year${tertial:+-$tertial}"
    body=$(python3 -c 'import json, sys
r, y, t = sys.argv[1], int(sys.argv[2]), sys.argv[3]
b = {"report": r, "year": y, "format": "html", "description": "bench/reports.sh"}
if t:
    b["tertial"] = int(t)
print(json.dumps(b))' "$report" "$year" "${tertial:-}")
    url=$(curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d "$body" "$BASE/v1/report-links" | python3 -c 'import json, sys; print(json.load(sys.stdin)["url"])') \
        || die "could not make a link for $spec"
    # The link's path on this service (its URL names SAMVERKAN_PUBLIC_URL, when set).
    path="/${url#*://*/}"
    profile="$WORK/chromium-$name"
    common=(--headless=new --no-sandbox --disable-gpu --no-first-run --disable-extensions
        "--user-data-dir=$profile" --hide-scrollbars)
    timeout 60 "$CHROMIUM" "${common[@]}" --no-pdf-header-footer \
        "--print-to-pdf=$OUT/$name.pdf" "$BASE$path" >/dev/null 2>&1 || die "chromium could not print $spec"
    timeout 60 "$CHROMIUM" "${common[@]}" --window-size=1100,1600 \
        "--screenshot=$OUT/$name-screen.png" "$BASE$path" >/dev/null 2>&1 || die "chromium could not take $spec"
    rm -f "$OUT/$name"-[0-9]*.png
    pdftoppm -r 60 -png "$OUT/$name.pdf" "$OUT/$name"
    pages=$(find "$OUT" -name "$name-[0-9]*.png" | wc -l)
    size=$(python3 -c 'import re, sys
d = open(sys.argv[1], "rb").read()
m = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)", d)
print(f"{float(m[1]) * 25.4 / 72:.0f} x {float(m[2]) * 25.4 / 72:.0f} mm" if m else "size unknown")' "$OUT/$name.pdf")
    log "$spec: $pages pages, $size: $OUT/$name.pdf"
done
