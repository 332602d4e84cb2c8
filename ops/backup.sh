#!/usr/bin/env bash
# ops/backup.sh DIR: back up Samverkan API into DIR (created; mode 700): the database with
# pg_dump (custom format: compressed, restorable table by table) and the token signing key.
# Both are needed: without the key, every token and every report link handed out stops working.
#
# The database: DATABASE_URL, else the embedded cluster's URL in SAMVERKAN_DATA_DIR
# (default ./.samverkan) while the service runs. The key: SAMVERKAN_JWT_KEY_FILE, else
# SAMVERKAN_DATA_DIR/jwt-ed25519.pem. Keep DIR as secret as the key: it holds personal data and
# the key that signs tokens.
set -euo pipefail
DIR=${1:?usage: ops/backup.sh DIR}
DATA_DIR=${SAMVERKAN_DATA_DIR:-./.samverkan}
URL=${DATABASE_URL:-}
if [ -z "$URL" ] && [ -s "$DATA_DIR/database-url" ]; then URL=$(head -n 1 "$DATA_DIR/database-url"); fi
[ -n "$URL" ] || { echo "backup: set DATABASE_URL (or run the service on its embedded cluster)" >&2; exit 2; }
KEY=${SAMVERKAN_JWT_KEY_FILE:-$DATA_DIR/jwt-ed25519.pem}
[ -r "$KEY" ] || { echo "backup: the signing key $KEY cannot be read" >&2; exit 2; }
tool() { command -v "$1" 2>/dev/null || ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1; }
PG_DUMP=$(tool pg_dump)
[ -n "$PG_DUMP" ] || { echo "backup: pg_dump not found (postgresql-client)" >&2; exit 2; }

umask 077
mkdir -p "$DIR"
"$PG_DUMP" --format=custom --compress=6 --no-owner --no-privileges --file="$DIR/samverkan.dump" "$URL"
cp "$KEY" "$DIR/jwt-ed25519.pem"
{
    echo "made: $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
    echo "pg_dump: $("$PG_DUMP" --version)"
    (cd "$DIR" && sha256sum samverkan.dump jwt-ed25519.pem)
} >"$DIR/MANIFEST"
echo "backup: $DIR ($(du -sh "$DIR" | cut -f1))" >&2
