#!/usr/bin/env bash
# Install (or upgrade) duban as a service on one machine: docs/deploy.md in one script, as root.
#
#   sudo scripts/deploy.sh [options]
#
#   --user NAME        the service account, made if missing                     [duban]
#   --checkout DIR     the checkout to install from (stays root's, read-only)   [this one]
#   --venv DIR         the virtual environment                                  [CHECKOUT/.venv]
#   --python PATH      interpreter for the venv; the service user must be able
#                      to run it (not one under /root, e.g. pyenv's)            [/usr/bin/python3]
#   --state-dir DIR    the database and state, owned by the service user        [/var/lib/duban]
#   --config-dir DIR   duban.env (mode 0600, the token) and tasks.yaml         [/etc/duban]
#   --bin-dir DIR      where the `duban` command for operators goes             [/usr/local/bin]
#   --unit-dir DIR     where duban.service goes ('' for none)                   [/etc/systemd/system]
#   --backup-dir DIR   a backup of the database before the schema is upgraded
#                      ('' for none)                                            [/var/backups/duban]
#
# Run it again to upgrade after `git pull`: it keeps duban.env and tasks.yaml, reinstalls the
# package, backs the database up, upgrades its schema and restarts the service if it is
# running. See docs/deploy.md ("Upgrade", "Rollback").
set -euo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

user=duban
checkout="$(cd "$(dirname "$0")/.." && pwd)"
venv=""
python=/usr/bin/python3
state=/var/lib/duban
config=/etc/duban
bin=/usr/local/bin
units=/etc/systemd/system
backups=/var/backups/duban

while [ $# -gt 0 ]; do
  case "$1" in
    --user) user="$2"; shift 2 ;;
    --checkout) checkout="$2"; shift 2 ;;
    --venv) venv="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --state-dir) state="$2"; shift 2 ;;
    --config-dir) config="$2"; shift 2 ;;
    --bin-dir) bin="$2"; shift 2 ;;
    --unit-dir) units="$2"; shift 2 ;;
    --backup-dir) backups="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "deploy.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
venv="${venv:-$checkout/.venv}"
step() { printf '== %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "deploy.sh: run it as root (sudo): it creates a user and system folders" >&2
  exit 2
fi

upgrade=no
if [ -e "$config/duban.env" ]; then
  upgrade=yes
fi

step "service user $user"
if ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir "$state" --no-create-home \
    --shell /usr/sbin/nologin "$user"
fi

step "state directory $state (the database; only $user may write it)"
install -d -o "$user" -g "$user" -m 0750 "$state"

step "configuration in $config"
install -d -o root -g "$user" -m 0750 "$config"
if [ ! -e "$config/duban.env" ]; then
  cat > "$config/duban.env" <<EOF
# duban's settings (README.md, "Configuration"; .env.example lists them all).
# Mode 0600: it holds the bot token. Restart duban after a change.
TELEGRAM_BOT_TOKEN=
# Telegram user ids of the admins, comma-separated (send /start to the bot to learn yours)
DUBAN_ADMINS=
DUBAN_DATA_DIR=$state
DUBAN_TASKS=$config/tasks.yaml
# PostgreSQL instead of SQLite (docs/deploy.md):
# DATABASE_URL=postgresql+psycopg://$user@/$user
EOF
fi
chown "$user:$user" "$config/duban.env"
chmod 0600 "$config/duban.env"
if [ ! -e "$config/tasks.yaml" ]; then
  # The timetable to edit lives here, outside the checkout: `git pull` never meets local edits.
  install -o root -g "$user" -m 0640 "$checkout/data/tasks.yaml" "$config/tasks.yaml"
fi

step "the Chinese font of the charts (fonts-noto-cjk)"
if [ ! -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; then
  if ! command -v apt-get >/dev/null 2>&1 \
      || ! { apt-get install -y -q fonts-noto-cjk || { apt-get update -q \
             && apt-get install -y -q fonts-noto-cjk; }; } >/dev/null 2>&1; then
    echo "deploy.sh: could not install fonts-noto-cjk: /chart will draw in English until" \
         "it is installed (apt-get install fonts-noto-cjk)" >&2
  fi
fi

step "virtual environment $venv"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet "$checkout"
# the same version number again after a `git pull`: replace the installed copy all the same
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$checkout"
if ! runuser -u "$user" -- "$venv/bin/duban" --help >/dev/null; then
  echo "deploy.sh: user $user cannot run $venv/bin/duban. The venv's interpreter" \
       "($(readlink -f "$venv/bin/python")) and every folder above it and above $checkout" \
       "must be readable by $user: keep the checkout outside /root (e.g. /opt/duban) and make" \
       "the venv with a system Python (--python /usr/bin/python3, then delete $venv and run" \
       "this again)." >&2
  exit 1
fi

step "the duban command ($bin/duban: runs as $user with $config/duban.env)"
install -d -m 0755 "$bin"
cat > "$bin/duban" <<EOF
#!/bin/sh
# duban as the service user, with the service's settings (written by scripts/deploy.sh).
export DUBAN_ENV_FILE=$config/duban.env
if [ "\$(id -u)" = 0 ]; then exec /usr/sbin/runuser -u $user -- $venv/bin/duban "\$@"; fi
exec $venv/bin/duban "\$@"
EOF
chmod 0755 "$bin/duban"

step "timetable and settings"
"$bin/duban" check

setting() {  # the value of a KEY=VALUE line of duban.env, or empty
  sed -n "s/^$1=//p" "$config/duban.env" | tail -n 1
}
database_url="$(setting DATABASE_URL)"
data_dir="$(setting DUBAN_DATA_DIR)"
if [ -n "$backups" ]; then
  if [ -n "$database_url" ] || [ -e "${data_dir:-$state}/duban.sqlite3" ]; then
    step "backup of the database before its schema is upgraded, into $backups"
    install -d -m 0711 "$backups"
    install -d -o "$user" -g "$user" -m 0700 "$backups/pre-upgrade"
    case "$database_url" in
      postgresql*) suffix=pgdump ;;
      *) suffix=sqlite3 ;;
    esac
    copy="$backups/pre-upgrade/duban-$(date +%Y%m%d-%H%M%S).$suffix"
    if ! "$bin/duban" db backup "$copy"; then
      echo "deploy.sh: the backup failed (the line above says why); nothing was upgraded." \
           "Fix it, or give --backup-dir '' to upgrade without a backup." >&2
      exit 1
    fi
  fi
fi

step "database schema"
"$bin/duban" db upgrade

if [ -n "$units" ] && [ -d "$units" ]; then
  step "systemd unit $units/duban.service"
  case "$state" in
    /var/lib/*) writable="StateDirectory=${state#/var/lib/}
StateDirectoryMode=0750" ;;
    *) writable="ReadWritePaths=$state" ;;
  esac
  cat > "$units/duban.service" <<EOF
[Unit]
Description=duban, the work plan's follow-up bot on Telegram
# Start once the network is configured; duban also retries Telegram with back-off at start.
Wants=network-online.target
After=network-online.target
# With PostgreSQL on this machine, add: After=postgresql.service

[Service]
User=$user
Group=$user
Environment=DUBAN_ENV_FILE=$config/duban.env
ExecStart=$venv/bin/duban run
WorkingDirectory=$state
$writable
Restart=on-failure
RestartSec=30
NoNewPrivileges=true
ProtectSystem=full
PrivateTmp=true

[Install]
WantedBy=multi-user.target
EOF
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    if systemctl is-active --quiet duban; then
      systemctl restart duban
    fi
  fi
fi

token="$(setting TELEGRAM_BOT_TOKEN)"
admins="$(setting DUBAN_ADMINS)"
echo
if [ "$upgrade" = yes ]; then
  echo "duban is upgraded; $config/duban.env and $config/tasks.yaml were kept."
else
  echo "duban is installed."
fi
todo=()
if [ -z "$token" ]; then
  todo+=("put the bot token from @BotFather in $config/duban.env: sudoedit $config/duban.env")
fi
if [ -n "$units" ] && [ -d /run/systemd/system ]; then
  if systemctl is-active --quiet duban; then
    echo "The service was restarted with the new version (logs: journalctl -u duban -f)."
  else
    todo+=("start it: systemctl enable --now duban      (logs: journalctl -u duban -f)")
  fi
elif [ -n "$units" ]; then
  todo+=("no systemd here: run '$venv/bin/duban run' as $user under a supervisor (docs/deploy.md, \"Without systemd\")")
fi
if [ -z "$admins" ]; then
  todo+=("once it runs, send /start to the bot: it tells you your Telegram id; put it in DUBAN_ADMINS in $config/duban.env and restart it")
fi
if [ ${#todo[@]} -gt 0 ]; then
  echo "Next:"
  n=1
  for item in "${todo[@]}"; do
    echo "  $n. $item"
    n=$((n + 1))
  done
fi
echo "Operators run '$bin/duban ...' (as $user, with these settings) from any directory."
