#!/usr/bin/env bash
# Refresh the translation catalogs: extract messages, merge them into each language, compile.
#   scripts/i18n.sh            extract + update + compile
#   scripts/i18n.sh compile    compile only (what the installer and CI need)
set -euo pipefail
cd "$(dirname "$0")/.."
locales=bot/locales
if [ "${1:-}" != "compile" ]; then
  pybabel extract -F babel.cfg -k N_ --no-location --sort-output \
    --project duban --copyright-holder "duban authors" -o "$locales/messages.pot" .
  for lang in zh_Hans en; do
    if [ -f "$locales/$lang/LC_MESSAGES/messages.po" ]; then
      pybabel update --no-fuzzy-matching --ignore-obsolete -i "$locales/messages.pot" -d "$locales" -l "$lang"
    else
      pybabel init -i "$locales/messages.pot" -d "$locales" -l "$lang"
    fi
  done
  python scripts/fill_en.py bot/locales/en/LC_MESSAGES/messages.po
fi
pybabel compile --statistics -d "$locales"
