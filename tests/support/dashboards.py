"""grafana/'s committed dashboards and provisioning files read as data, the way Grafana reads
them: the JSON on disk, not the generator's objects."""

from __future__ import annotations

import json
from typing import Any

from grafana.expand import MACROS, substitute
from tests.support.processes import ROOT

__all__ = ["MACROS", "substitute"]

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
