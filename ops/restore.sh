#!/usr/bin/env bash
# ops/restore.sh DIR: restore a backup made by ops/backup.sh into DATABASE_URL's database, which
# must exist and should be empty (a new one, or the old one after DROP SCHEMA public CASCADE;
# CREATE SCHEMA public), and put the signing key back where the service reads it
# (SAMVERKAN_JWT_KEY_FILE, else SAMVERKAN_DATA_DIR/jwt-ed25519.pem; an existing different key
# is kept beside it as .replaced). Stop the service first; start it after. The files are checked
# against the backup's MANIFEST before anything is written. One transaction: all or nothing.
set -euo pipefail
DIR=${1:?usage: ops/restore.sh DIR}
URL=${DATABASE_URL:?restore: set DATABASE_URL to the database to restore into}
DATA_DIR=${SAMVERKAN_DATA_DIR:-./.samverkan}
KEY=${SAMVERKAN_JWT_KEY_FILE:-$DATA_DIR/jwt-ed25519.pem}
tool() { command -v "$1" 2>/dev/null || ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1; }
PG_RESTORE=$(tool pg_restore)
[ -n "$PG_RESTORE" ] || { echo "restore: pg_restore not found (postgresql-client)" >&2; exit 2; }
(cd "$DIR" && grep -E '^[0-9a-f]{64}  ' MANIFEST | sha256sum --check --quiet) ||
    { echo "restore: $DIR does not match its MANIFEST" >&2; exit 1; }

"$PG_RESTORE" --no-owner --no-privileges --single-transaction --exit-on-error --dbname="$URL" "$DIR/samverkan.dump"
umask 077
mkdir -p "$(dirname "$KEY")"
if [ -e "$KEY" ] && ! cmp -s "$KEY" "$DIR/jwt-ed25519.pem"; then mv "$KEY" "$KEY.replaced"; fi
cp "$DIR/jwt-ed25519.pem" "$KEY"
echo "restore: the database and the signing key ($KEY) are back" >&2
