"""Keep the Chinese catalog whole while several branches add messages.

    python scripts/catalog.py missing            list msgids with no Chinese yet (JSON on stdout)
    python scripts/catalog.py fill FILE.json     write {msgid: 中文} into the Chinese catalog
    python scripts/catalog.py resolve            during a git merge that conflicts in the
                                                 catalogs: keep both sides' translations,
                                                 re-extract, refill, recompile, stage

Plural messages are keyed by their singular msgid and take a list of strings.
Run from the checkout with the project's virtualenv first on PATH (pybabel).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
ZH = ROOT / "bot/locales/zh_Hans/LC_MESSAGES/messages.po"
LOCALES = ["bot/locales/messages.pot", *(f"bot/locales/{lang}/LC_MESSAGES/messages.{ext}"
           for lang in ("zh_Hans", "en") for ext in ("po", "mo"))]


def _key(message_id: str | tuple[str, ...]) -> str:
    return message_id[0] if isinstance(message_id, tuple) else message_id


def _translations(data: bytes) -> dict[str, object]:
    catalog = read_po(io.BytesIO(data), locale="zh_Hans")
    found: dict[str, object] = {}
    for message in catalog:
        if not message.id:
            continue
        string = message.string
        if isinstance(string, tuple):
            if all(string):
                found[_key(message.id)] = list(string)
        elif string:
            found[_key(message.id)] = string
    return found


def fill(translations: dict[str, object]) -> list[str]:
    """Write ``translations`` into the Chinese catalog; return the msgids still empty."""
    catalog = read_po(ZH.open("rb"), locale="zh_Hans")
    missing = []
    for message in catalog:
        if not message.id:
            continue
        key = _key(message.id)
        if key in translations:
            value = translations[key]
            message.string = tuple(value) if isinstance(message.id, tuple) else value  # type: ignore[assignment]
            message.flags.discard("fuzzy")
        string = message.string
        if not all(string) if isinstance(string, tuple) else not string:
            missing.append(key)
    with ZH.open("wb") as handle:
        write_po(handle, catalog)
    return missing


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True).stdout


def resolve() -> list[str]:
    """Union the translations of both sides of a conflicted merge, then regenerate everything."""
    rel = str(ZH.relative_to(ROOT))
    union: dict[str, object] = {}
    for stage in ("3", "2"):  # theirs first, ours overrides
        with contextlib.suppress(subprocess.CalledProcessError):
            union.update(_translations(_git("show", f":{stage}:{rel}")))
    _git("checkout", "--ours", "--", *LOCALES)
    subprocess.run(["bash", "scripts/i18n.sh"], cwd=ROOT, check=True, capture_output=True)
    missing = fill(union)
    subprocess.run(["pybabel", "compile", "-d", "bot/locales"], cwd=ROOT, check=True,
                   capture_output=True)
    _git("add", "--", *LOCALES)
    return missing


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"missing", "fill", "resolve"}:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "missing":
        missing = fill({})
    elif argv[0] == "fill":
        missing = fill(json.loads(Path(argv[1]).read_text(encoding="utf-8")))
        subprocess.run(["pybabel", "compile", "-d", "bot/locales"], cwd=ROOT, check=True,
                       capture_output=True)
    else:
        missing = resolve()
    print(json.dumps(missing, ensure_ascii=False, indent=1))
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
