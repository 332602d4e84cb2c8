#!/usr/bin/env bash
# Reads a running service's calendar feed with Mozilla's ical.js (the parser of Thunderbird)
# and compares every event's start, end, title and cancellation with the API's own records.
# The tests read the feeds with Python's icalendar; this is a second, independent library.
#   bench/calendar/run.sh BASE_URL TOKEN      (e.g. http://127.0.0.1:8080, a `read` token)
set -euo pipefail
base=${1:?BASE_URL}; token=${2:?TOKEN}
dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
(cd "$work" && npm install --silent ical.js@2 >/dev/null)
curl -sf -H "Authorization: Bearer $token" "$base/v1/events/calendar" -o "$work/feed.ics"
curl -sf -H "Authorization: Bearer $token" -H 'Accept: application/x-ndjson' "$base/v1/events" -o "$work/events.ndjson"
cp "$dir/check.mjs" "$work/" && (cd "$work" && node check.mjs feed.ics events.ndjson)
