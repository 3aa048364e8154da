#!/usr/bin/env bash
# Back up what a duban server cannot get back from anywhere else, into one dated archive:
# the database (a consistent copy, safe while the bot runs), duban.env (the token) and the
# timetable. Evidence files stay on Telegram's servers; the database keeps their file ids.
#
#   scripts/backup.sh [--config-dir /etc/duban] [--keep-days 30] DEST_DIR
#
# Reads DATABASE_URL / DUBAN_DATA_DIR / DUBAN_TASKS from CONFIG_DIR/duban.env: SQLite is copied
# with SQLite's online backup, PostgreSQL with pg_dump (custom format). Archives older than
# --keep-days are removed. Restore: see docs/deploy.md.
set -euo pipefail

config=/etc/duban
keep=30
dest=""
while [ $# -gt 0 ]; do
  case "$1" in
    --config-dir) config="$2"; shift 2 ;;
    --keep-days) keep="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "backup.sh: unknown option $1" >&2; exit 2 ;;
    *) dest="$1"; shift ;;
  esac
done
if [ -z "$dest" ]; then
  echo "backup.sh: give the folder to write the backup to (see --help)" >&2
  exit 2
fi

setting() {  # the value of a KEY=VALUE line of duban.env, or empty
  sed -n "s/^$1=//p" "$config/duban.env" | tail -n 1
}
url="$(setting DATABASE_URL)"
data_dir="$(setting DUBAN_DATA_DIR)"
tasks="$(setting DUBAN_TASKS)"

stamp="$(date +%Y%m%d-%H%M%S)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/duban-$stamp"
out="$work/duban-$stamp"

case "$url" in
  postgresql*)
    pg_dump --format=custom --file="$out/duban.pgdump" "${url/+psycopg/}" ;;
  *)
    database="${url#sqlite:///}"
    [ -n "$url" ] || database="${data_dir:-var}/duban.sqlite3"
    python3 - "$database" "$out/duban.sqlite3" <<'EOF'
import sqlite3
import sys

source = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
target = sqlite3.connect(sys.argv[2])
source.backup(target)
target.close()
source.close()
EOF
    ;;
esac
cp -p "$config/duban.env" "$out/duban.env"
if [ -n "$tasks" ] && [ -f "$tasks" ]; then
  cp -p "$tasks" "$out/tasks.yaml"
fi

install -d -m 0700 "$dest"
tar -C "$work" -czf "$dest/duban-$stamp.tar.gz" "duban-$stamp"
chmod 0600 "$dest/duban-$stamp.tar.gz"
find "$dest" -maxdepth 1 -name 'duban-*.tar.gz' -mtime +"$keep" -delete
echo "$dest/duban-$stamp.tar.gz"
