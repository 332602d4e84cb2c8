#!/usr/bin/env bash
# Lints openapi/openapi.json with DIGG's own linter for its REST API profile, RAP-LP
# (github.com/diggsweden/rest-api-profil-lint-processor). It is published only to GitHub
# Packages, so it is built here from a checkout of its source (or of its CI mirror,
# diggsweden/rest-api-profil-lint-processor-ci):
#   bench/digg/run.sh PATH_TO_CHECKOUT_OR_BARE_CLONE [DOCUMENT]
# DOCUMENT is a file or the URL of a served document (http://127.0.0.1:8080/v1/openapi.json);
# by default the committed openapi/openapi.json.
# Prints the findings by rule and severity, and every error with its path.
set -euo pipefail
src=${1:?path to a checkout of rest-api-profil-lint-processor}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
if git -C "$src" rev-parse --is-bare-repository 2>/dev/null | grep -q true; then
    git -C "$src" archive HEAD | tar x -C "$work"      # a bare clone or mirror
else
    cp -r "$src"/. "$work/"
fi
rm -f "$work/.npmrc"   # it points @diggsweden at GitHub Packages; no dependency needs it
(cd "$work" && npm ci --ignore-scripts --silent && npx tsc -p tsconfig.json)
mkdir "$work/run"
doc=${2:-$root/openapi/openapi.json}
case $doc in
    http://* | https://*) curl -sSf "$doc" -o "$work/run/openapi.json"; doc=$work/run/openapi.json ;;
esac
(cd "$work/run" && node ../dist/cli.js -f "$doc" -l result.json -d diag.json >/dev/null || true)
python3 - "$work/run/result.json" <<'PY'
import collections, json, sys
found = json.load(open(sys.argv[1]))[0]["errors"]
by = collections.Counter((f["id"], f["allvarlighetsgrad"]) for f in found)
errors = sum(n for (_, s), n in by.items() if s == "ERROR")
print(f"{errors} errors, {len(found) - errors} warnings")
for (rule, severity), n in sorted(by.items()):
    print(f"  {rule} {severity}: {n}")
for f in found:
    if f["allvarlighetsgrad"] == "ERROR":
        print("  error", f["id"], ".".join(map(str, f["sökväg"])))
PY
