#!/usr/bin/env bash
# Runs schemathesis (all phases, positive data) against a running service and counts the
# findings of each kind. Usage: run.sh BASE_URL TOKEN [SPEC]   (SPEC defaults to the served one)
# The measurement behind the OpenAPI document's "states exactly what the server enforces".
set -euo pipefail
base=${1:?base URL, e.g. http://127.0.0.1:18080}
token=${2:?a bearer token with every scope}
spec=${3:-$base/v1/openapi.json}
out=${OUT:-/tmp/schemathesis-report}
mkdir -p "$out"
# Operations that would end the run's own access are left out: disabling a client (the run's
# client among them) and the token endpoint (its budget is counted per address). No text may
# contain NUL (U+0000), which PostgreSQL cannot store; the document says so once, in its
# description, rather than on every string, so NUL is not generated.
st run "$spec" --url "$base" \
  -H "Authorization: Bearer $token" \
  --phases examples,coverage,fuzzing,stateful \
  --mode positive \
  --generation-allow-x00 false \
  --exclude-operation-id disableClient --exclude-operation-id createToken \
  --request-timeout 35 \
  --max-examples "${MAX_EXAMPLES:-25}" \
  --workers 2 \
  --report-json-path "$out/run.json" \
  > "$out/output.txt" 2>&1 || true
grep -E "^(FAILURES|SUMMARY)|schema-valid|Failures|rejected|Undocumented|Server error|failures" "$out/output.txt" | head -40 || true
