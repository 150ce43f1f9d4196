"""Each panel the runbook (or the README) tells on-call to open exists, under that title, on that
dashboard.

A reference is written in bold as the dashboard's title, `` › `` (U+203A, spaced), and the
panel's title: ``**Glassbox service overview › Error ratio by route**``. Any bold text with
`` › `` in it is a reference, so a renamed panel fails here.
"""

from __future__ import annotations

import re

from tests.support.dashboards import dashboards, panels
from tests.support.processes import ROOT

SEPARATOR = " › "
REFERENCE = re.compile(r"\*\*([^*\n]+?" + SEPARATOR + r"[^*\n]+?)\*\*")
DOCUMENTS = [ROOT / "monitoring" / "runbook.md", ROOT / "README.md"]


def references(text: str) -> list[tuple[str, str]]:
    """(dashboard title, panel title) of every reference in ``text``."""
    out = []
    for found in REFERENCE.finditer(text):
        board, _, panel = found.group(1).partition(SEPARATOR)
        out.append((board.strip(), panel.strip()))
    return out


def missing(refs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    titles = {
        board["title"]: {p["title"] for p in panels(board)} for board in dashboards().values()
    }
    return [(board, panel) for board, panel in refs if panel not in titles.get(board, set())]


def test_every_panel_named_in_the_runbook_and_the_readme_exists() -> None:
    refs = [ref for path in DOCUMENTS for ref in references(path.read_text())]
    assert refs, "no panel reference found: the README names one as an example"
    assert not missing(refs)


def test_the_reference_check_sees_a_wrong_panel_or_dashboard() -> None:
    text = (
        f"open **Glassbox model health{SEPARATOR}Model age**, then "
        f"**Glassbox model health{SEPARATOR}Model ages** and "
        f"**Glassbox{SEPARATOR}Workers**; **bold** is no reference."
    )
    refs = references(text)
    assert len(refs) == 3
    assert missing(refs) == [
        ("Glassbox model health", "Model ages"),
        ("Glassbox", "Workers"),
    ]
