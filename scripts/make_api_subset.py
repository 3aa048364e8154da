"""Write ``bot_api_standin/api_subset.json``: the part of the Bot API spec the stand-in serves.

The full machine-readable spec (``api.json``, keys ``methods`` and ``types``) lives outside the
product, so this script copies the methods the stand-in implements and every type their
parameters need for validation (the closure over field types and subtypes) into the package.
Output is deterministic (sorted keys, indent 1) so the generated file can be committed.

Usage::

    python scripts/make_api_subset.py [--spec PATH] [--out PATH] [--check]

``--check`` exits with status 1 when the committed file differs from what would be written.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = REPO_ROOT.parent / "shared" / "telegram-bot-api" / "api.json"
DEFAULT_OUT = REPO_ROOT / "bot_api_standin" / "api_subset.json"

# Keep in step with the handlers in bot_api_standin/server.py.
SUPPORTED_METHODS: tuple[str, ...] = (
    "answerCallbackQuery",
    "close",
    "deleteMessage",
    "deleteMyCommands",
    "deleteWebhook",
    "editMessageReplyMarkup",
    "editMessageText",
    "getChat",
    "getChatMenuButton",
    "getFile",
    "getMe",
    "getMyCommands",
    "getUpdates",
    "getWebhookInfo",
    "logOut",
    "sendChatAction",
    "sendDocument",
    "sendMessage",
    "sendPhoto",
    "setChatMenuButton",
    "setMyCommands",
    "setWebhook",
)

_ARRAY_PREFIX = "Array of "
# "Scope type, must be chat" / "Type of the button, must be commands"
_DISCRIMINATOR = re.compile(r"must be (?:\"|“)?([a-z_]+)(?:\"|”)?\s*$")


def _type_names(field_types: list[str], known: dict[str, Any]) -> list[str]:
    """Return the object type names mentioned by a field's ``types`` list."""
    names: list[str] = []
    for declared in field_types:
        name = declared
        while name.startswith(_ARRAY_PREFIX):
            name = name[len(_ARRAY_PREFIX) :]
        if name in known:
            names.append(name)
    return names


def _slim(entry: dict[str, Any]) -> dict[str, Any]:
    """Drop documentation links; keep names, fields, descriptions and type relations."""
    return {key: value for key, value in entry.items() if key != "href"}


def _discriminator(type_entry: dict[str, Any]) -> dict[str, str] | None:
    """Return ``{"field": "type", "value": ...}`` for a subtype whose ``type`` is fixed."""
    for field in type_entry.get("fields", []):
        if field["name"] != "type":
            continue
        match = _DISCRIMINATOR.search(field["description"])
        if match:
            return {"field": "type", "value": match.group(1)}
    return None


def build_subset(spec: dict[str, Any], methods: tuple[str, ...] = SUPPORTED_METHODS) -> dict:
    """Build the subset document from the full spec.

    Args:
        spec: The parsed full ``api.json``.
        methods: Names of the methods to keep.

    Returns:
        A JSON-ready dict with ``source``, ``methods`` and ``types``.

    Raises:
        KeyError: If a method is not in the spec.
    """
    all_types: dict[str, Any] = spec["types"]
    kept_methods = {name: _slim(spec["methods"][name]) for name in methods}

    pending: list[str] = []
    for method in kept_methods.values():
        for field in method.get("fields", []):
            pending.extend(_type_names(field["types"], all_types))
    kept_types: dict[str, Any] = {}
    while pending:
        name = pending.pop()
        if name in kept_types:
            continue
        entry = _slim(all_types[name])
        discriminator = _discriminator(entry) if entry.get("subtype_of") else None
        if discriminator:
            entry["discriminator"] = discriminator
        kept_types[name] = entry
        for field in entry.get("fields", []):
            pending.extend(_type_names(field["types"], all_types))
        pending.extend(entry.get("subtypes", []))

    return {
        "source": {
            "version": spec.get("version", ""),
            "release_date": spec.get("release_date", ""),
            "generated_by": "scripts/make_api_subset.py",
        },
        "methods": kept_methods,
        "types": kept_types,
    }


def render(subset: dict[str, Any]) -> str:
    """Serialise deterministically (sorted keys, indent 1, trailing newline)."""
    return json.dumps(subset, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--spec",
        type=Path,
        default=Path(os.environ.get("DUBAN_BOT_API_SPEC", DEFAULT_SPEC)),
        help="full api.json (default: %(default)s or $DUBAN_BOT_API_SPEC)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    parser.add_argument("--check", action="store_true", help="fail if --out is out of date")
    args = parser.parse_args(argv)

    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    text = render(build_subset(spec))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date; run scripts/make_api_subset.py", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(spec['methods'])} -> {len(SUPPORTED_METHODS)} methods")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
