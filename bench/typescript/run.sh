#!/usr/bin/env bash
# The typed-client check: generates TypeScript types from openapi/openapi.json
# (openapi-typescript), proves that requests the server refuses on their shape do not compile
# (refused.ts: each `@ts-expect-error` must be needed), and runs typed calls against a live
# service (client.ts). Usage: run.sh BASE_URL TOKEN   (a token with read, write and admin)
set -euo pipefail
cd "$(dirname "$0")"
base=${1:?base URL, e.g. http://127.0.0.1:18080}
token=${2:?a bearer token with read, write and admin}
npm install --no-audit --no-fund --silent
npx openapi-typescript ../../openapi/openapi.json -o schema.d.ts --silent
npx tsc -p .
echo "types: generated and checked (client.ts compiles, every refused request in refused.ts is a type error)"
BASE_URL="$base" TOKEN="$token" node out/client.js
