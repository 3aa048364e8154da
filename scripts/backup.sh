#!/usr/bin/env bash
# Back up what a duban server cannot get back from anywhere else, into one dated archive:
# the database (a consistent copy, safe while the bot runs), duban.env (the token) and the
# timetable. Evidence files stay on Telegram's servers; the database keeps their file ids.
#
#   scripts/backup.sh [--config-dir /etc/duban] [--keep-days 30] DEST_DIR
#
# The database is copied by `duban db backup` (SQLite's online backup, or pg_dump in custom
# format), run as the user that owns CONFIG_DIR/duban.env (the service user), so that it reads
# the same settings as the bot and, on PostgreSQL, logs in as the same role. The archive also
# holds duban.env and the timetable (DUBAN_TASKS). Archives older than --keep-days are removed.
# Restore: see docs/deploy.md (`duban db restore`).
set -euo pipefail
# cron gives a bare PATH (/usr/bin:/bin): runuser and friends live in the sbin folders
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

config=/etc/duban
keep=30
dest=""
while [ $# -gt 0 ]; do
  case "$1" in
    --config-dir) config="$2"; shift 2 ;;
    --keep-days) keep="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
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
tasks="$(setting DUBAN_TASKS)"
duban="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/duban"
owner="$(stat -c %U "$config/duban.env")"

stamp="$(date +%Y%m%d-%H%M%S)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 0711 "$work"
out="$work/duban-$stamp"
install -d -m 0700 -o "$owner" "$out"  # the service user writes the database's copy here

case "$url" in
  postgresql*) copy="$out/duban.pgdump" ;;
  *) copy="$out/duban.sqlite3" ;;
esac
as_owner=()
if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then
  as_owner=(runuser -u "$owner" --)
fi
(cd / && "${as_owner[@]}" env DUBAN_ENV_FILE="$(realpath "$config")/duban.env" \
  "$duban" db backup "$copy" >/dev/null)
cp -p "$config/duban.env" "$out/duban.env"
if [ -n "$tasks" ] && [ -f "$tasks" ]; then
  cp -p "$tasks" "$out/tasks.yaml"
fi

install -d -m 0700 "$dest"
tar -C "$work" -czf "$dest/duban-$stamp.tar.gz" "duban-$stamp"
chmod 0600 "$dest/duban-$stamp.tar.gz"
find "$dest" -maxdepth 1 -name 'duban-*.tar.gz' -mtime +"$keep" -delete
echo "$dest/duban-$stamp.tar.gz"
