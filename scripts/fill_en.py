"""Fill the English catalog: message ids are English, so each empty msgstr takes its msgid.

Run by scripts/i18n.sh after ``pybabel update``; keeps translations someone wrote by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po


def fill(path: Path) -> int:
    """Copy msgid to every empty msgstr of ``path``; return how many were filled."""
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    filled = 0
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            if not any(message.string):
                message.string = message.id
                filled += 1
        elif not message.string:
            message.string = message.id
            filled += 1
        message.flags.discard("fuzzy")
    with path.open("wb") as handle:
        write_po(handle, catalog, width=99, omit_header=False, sort_output=True)
    return filled


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bot/locales/en/LC_MESSAGES/messages.po")
    print(f"{fill(target)} English messages filled in {target}")
