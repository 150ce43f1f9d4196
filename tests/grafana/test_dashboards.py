"""What a stock Grafana needs of the committed dashboards, and what on-call needs of them: one
data source variable behind every query, unique uids and ids, links that land, variables that
match series with or without a namespace, every panel described, the annotations there."""

from __future__ import annotations

import re
from typing import Any

from tests.support.dashboards import (
    PROVISIONING,
    Board,
    annotations,
    dashboards,
    expressions,
    panels,
    query_panels,
    variables,
)
from tests.support.rules import inventory, load

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# The variables that pick series: multi-value, "All" sent as .*, matched with =~ only.
PICKERS = {"namespace", "job", "model_version"}
UID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def boards() -> list[Board]:
    found = list(dashboards().values())
    assert len(found) == 2
    return found


def test_every_query_goes_to_the_datasource_variable() -> None:
    """Panels, their queries, query variables and annotations: none names a data source of its
    own, so the dashboards work on any Prometheus picked in the variable."""
    count = 0
    for board in boards():
        (source,) = [v for v in variables(board) if v["name"] == "datasource"]
        assert (source["type"], source["query"]) == ("datasource", "prometheus")
        for panel in query_panels(board):
            assert panel["datasource"] == DATASOURCE, panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == DATASOURCE, panel["title"]
                count += 1
        for variable in variables(board):
            if variable["type"] == "query":
                assert variable["datasource"] == DATASOURCE, variable["name"]
        for annotation in annotations(board):
            assert annotation["datasource"] == DATASOURCE, annotation["name"]
    assert count > 40


def provisioned_uids() -> list[str]:
    sources = load(PROVISIONING / "datasources" / "glassbox.yml")["datasources"]
    providers = load(PROVISIONING / "dashboards" / "glassbox.yml")["providers"]
    return [s["uid"] for s in sources] + [p["folderUid"] for p in providers]


def test_every_uid_is_unique_and_valid() -> None:
    uids = [board["uid"] for board in boards()] + provisioned_uids()
    assert len(uids) == 4
    assert len(set(uids)) == len(uids), uids
    for uid in uids:
        assert UID.fullmatch(uid), uid


def test_panel_ids_and_titles_are_unique_in_each_dashboard() -> None:
    """Titles too: the runbook names the panel to open by its title."""
    for board in boards():
        ids = [panel["id"] for panel in panels(board)]
        assert len(set(ids)) == len(ids), board["title"]
        titles = [panel["title"] for panel in panels(board)]
        assert len(set(titles)) == len(titles), board["title"]


def test_every_link_targets_another_existing_dashboard_and_each_links_to_the_others() -> None:
    by_uid = {board["uid"]: board for board in boards()}
    for board in boards():
        targets = set()
        for link in board["links"]:
            assert link["type"] == "link"
            match = re.fullmatch(r"/d/([^/?#]+)", link["url"])
            assert match, link["url"]
            assert match.group(1) in by_uid, link["url"]
            assert link["title"] == by_uid[match.group(1)]["title"]
            assert link["includeVars"], link["title"]
            assert link["keepTime"], link["title"]
            targets.add(match.group(1))
        assert targets == set(by_uid) - {board["uid"]}, board["title"]


def picker(board: Board, name: str) -> dict[str, Any]:
    (variable,) = [v for v in variables(board) if v["name"] == name]
    return variable


def test_the_pickers_are_multi_value_with_an_all_of_dot_star() -> None:
    for board in boards():
        names = {v["name"] for v in variables(board)} & PICKERS
        assert {"namespace", "job"} <= names, board["title"]
        for name in names:
            variable = picker(board, name)
            assert variable["multi"], name
            assert variable["includeAll"], name
            assert variable["allValue"] == ".*", name
            assert variable["current"]["value"] == ["$__all"], name
    assert "model_version" in {v["name"] for v in variables(dashboards()["model-health.json"])}


def test_the_pickers_are_matched_with_a_regular_expression_only() -> None:
    """``label="$var"`` would match nothing once All sends ``.*`` or two values ``(a|b)``."""
    uses = 0
    for board in boards():
        queries = [q for _, q in expressions(board)] + [
            v["query"] for v in variables(board) if v["type"] == "query"
        ]
        for query in queries:
            for name in PICKERS:
                for found in re.finditer(rf'(\w+)\s*(=~|!~|!=|=)\s*"\$\{{?{name}\}}?"', query):
                    assert found.group(2) == "=~", query
                    assert found.group(1) == name, query
                    uses += 1
    assert uses > 80


def test_every_panel_says_what_it_shows_and_what_bad_looks_like() -> None:
    for board in boards():
        for panel in query_panels(board):
            shows, sep, bad = panel.get("description", "").partition(" Bad: ")
            assert sep, f"{panel['title']}: no 'Bad: ' in its description"
            assert len(shows) > 30, panel["title"]
            assert len(bad) > 20, panel["title"]


def test_repeated_panels_repeat_over_a_multi_value_variable() -> None:
    repeats = 0
    for board in boards():
        for panel in query_panels(board):
            if "repeat" in panel:
                variable = picker(board, panel["repeat"])
                assert variable["multi"] or variable["includeAll"], panel["title"]
                repeats += 1
    assert repeats == 2


def test_model_version_changes_and_worker_restarts_are_annotated_on_every_dashboard() -> None:
    for board in boards():
        by_name = {a["name"]: a for a in annotations(board)}
        assert set(by_name) == {"Model version changes", "Worker restarts"}, board["title"]
        assert "glassbox_model_info" in by_name["Model version changes"]["expr"]
        assert "model_version" in by_name["Model version changes"]["tagKeys"].split(",")
        assert "glassbox_worker_starts_total" in by_name["Worker restarts"]["expr"]
        for annotation in by_name.values():
            assert annotation["enable"], annotation["name"]
            assert annotation["titleFormat"], annotation["name"]


def test_every_model_panel_splits_by_model_version() -> None:
    """On model health, a query of a series labelled by model version keeps that label (or
    its panel repeats per version), so a rollout never mixes two models on one line."""
    labelled = {name for name, labels in inventory().items() if "model_version" in labels}
    board = dashboards()["model-health.json"]
    checked = 0
    for panel in query_panels(board):
        for target in panel["targets"]:
            if not any(name in target["expr"] for name in labelled):
                continue
            split = "model_version" in target["legendFormat"] or panel.get("repeat")
            assert split, f"{panel['title']}: {target['expr']}"
            checked += 1
    assert checked > 10
