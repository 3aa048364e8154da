"""No module of duban imports itself back through others, parent packages included.

import-linter's ``acyclic_siblings`` contract (pyproject.toml, run by .ci/run) sees cycles between
siblings only; a package and one of its own modules importing each other (``bot.handlers`` and
``bot.handlers.contact``) slips past it. grimp, import-linter's own graph, finds those here.
"""

from __future__ import annotations

import grimp

PACKAGES = ("bot", "storage", "schedules", "bot_api_standin")


def cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """Each direct import a -> b for which b also reaches a: the shortest way back."""
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if imported.split(".")[0] not in PACKAGES:
                continue
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                found.append((importer, *back))
    return found


def test_no_module_imports_itself_back() -> None:
    assert cycles(grimp.build_graph(*PACKAGES)) == []


def test_the_check_sees_a_package_and_its_module_importing_each_other() -> None:
    graph = grimp.build_graph(*PACKAGES)
    graph.add_import(importer="bot.handlers.contact", imported="bot.handlers")
    assert ("bot.handlers.contact", "bot.handlers", "bot.handlers.contact") in cycles(graph)
