"""grafana/preview.py draws every panel of every dashboard from the range API's answers: every
panel query is asked, with no variable left, and one PNG per dashboard is written."""

from __future__ import annotations

import json
from pathlib import Path

from grafana import preview
from tests.support.dashboards import DASHBOARD_FILES, expressions


def test_every_panel_query_is_asked_and_a_png_written(tmp_path: Path) -> None:
    asked: list[str] = []

    def fake(expr: str, start: float, end: float, step: float) -> list[preview.Series]:
        asked.append(expr)
        times = [start + i * step for i in range(int((end - start) / step) + 1)]
        return [({"le": "0.1", "route": "/predict"}, times, [0.5] * len(times))]

    for path in DASHBOARD_FILES:
        board = json.loads(path.read_text())
        before = len(asked)
        out = tmp_path / path.with_suffix(".png").name
        preview.render(board, fake, range_s=600, step_s=15, out=out)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        panel_queries = [e for where, e in expressions(board) if " annotation " not in where]
        assert len(asked) - before == len(panel_queries)
    assert all("$" not in expr for expr in asked)


def test_values_are_shown_in_the_panels_unit_and_legends_from_labels() -> None:
    assert preview.fmt_value(0.9993, "percentunit") == "99.9 %"
    assert preview.fmt_value(0.012, "s") == "12 ms"
    assert preview.fmt_value(30.4 * 86400, "s") == "30.4 days"
    assert preview.legend("p99 {{route}}", {"route": "/predict"}) == "p99 /predict"
