"""The optional-looking packages the reports need, and what to say when one is missing.

A virtual environment made by an older duban may lack a package the reports added later
(matplotlib for the charts, icalendar for the calendar files, openpyxl for the ledger):
``duban check`` names it, and the commands and the bot say which one and how to install it
instead of failing with a traceback.
"""

from __future__ import annotations

import importlib

from bot.i18n import N_, Translator

__all__ = ["REPORT_PACKAGES", "missing_package_text", "missing_packages"]

REPORT_PACKAGES: dict[str, str] = {
    "openpyxl": N_("the ledger (/export, duban export)"),
    "matplotlib": N_("the progress charts (/chart, duban chart)"),
    "icalendar": N_("the calendar files (/calendar, duban ics)"),
}
"""Import name -> what it makes (a msgid); the names are also the names on PyPI."""


def missing_packages(*modules: str) -> list[str]:
    """Those of ``modules`` (import names; all of :data:`REPORT_PACKAGES` when none are given)
    that cannot be imported, in the order given."""
    missing = []
    for module in modules or tuple(REPORT_PACKAGES):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    return missing


def missing_package_text(t: Translator, module: str) -> str:
    """One sentence: which package is missing, what it makes, and how to install it."""
    return t.gettext(
        "The Python package {package} is not installed, so {what} cannot be made. Install "
        "duban's dependencies again: 'pip install -e .' in the checkout with duban's "
        "virtual environment (scripts/run-bot does it too).").format(
        package=module, what=t.gettext(REPORT_PACKAGES[module]))
