"""grafana/'s committed dashboards and provisioning files read as data, the way Grafana reads
them: the JSON on disk, not the generator's objects."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.processes import ROOT

GRAFANA = ROOT / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
PROVISIONING = GRAFANA / "provisioning"
PROVISIONING_FILES = sorted(PROVISIONING.rglob("*.yml"))

Board = dict[str, Any]


def dashboards() -> dict[str, Board]:
    """{file name: dashboard} of every committed dashboard."""
    return {path.name: json.loads(path.read_text()) for path in DASHBOARD_FILES}


def panels(board: Board) -> list[dict[str, Any]]:
    """Every panel, rows and the panels of collapsed rows included."""
    out = []
    for panel in board.get("panels", []):
        out += [panel, *panel.get("panels", [])]
    return out


def query_panels(board: Board) -> list[dict[str, Any]]:
    return [panel for panel in panels(board) if panel["type"] != "row"]


def variables(board: Board) -> list[dict[str, Any]]:
    return list(board.get("templating", {}).get("list", []))


def annotations(board: Board) -> list[dict[str, Any]]:
    return list(board.get("annotations", {}).get("list", []))


def expressions(board: Board) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel query and annotation query."""
    out = []
    for panel in query_panels(board):
        for target in panel.get("targets", []):
            out.append((f"{board['title']}: {panel['title']} {target['refId']}", target["expr"]))
    for annotation in annotations(board):
        if "expr" in annotation:
            out.append((f"{board['title']} annotation {annotation['name']}", annotation["expr"]))
    return out


def variable_queries(board: Board) -> list[tuple[str, str]]:
    """(variable name, query) of every query variable (Grafana's, not PromQL)."""
    out = []
    for variable in variables(board):
        if variable["type"] == "query":
            query = variable["query"]
            out.append((variable["name"], query if isinstance(query, str) else query["query"]))
    return out


# What Grafana puts in for its own variables, as the issue fixes them for the check.
MACROS = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(text: str, names: set[str], dashboard_value: str | None = ".*") -> str:
    """``text`` as Grafana sends it: its macros as MACROS, each variable of ``names`` as
    ``dashboard_value`` (left as it is when None); anything else is left, ``$`` and all."""

    def one(found: re.Match[str]) -> str:
        name = next(group for group in found.groups() if group)
        if name in MACROS:
            return MACROS[name]
        if name in names and dashboard_value is not None:
            return dashboard_value
        return found.group(0)

    return _VARIABLE.sub(one, text)
