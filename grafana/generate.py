"""Writes the dashboards' JSON from the code, or checks that the committed JSON is what the code
writes today.

    python -m grafana.generate          # rewrite grafana/dashboards/*.json (`make dashboards`)
    python -m grafana.generate --check  # exit 1 if a committed dashboard differs
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as models

from grafana import model_health, service_overview
from monitoring import generated

DASHBOARDS = Path(__file__).resolve().parent / "dashboards"
BUILDERS: dict[str, Callable[[], models.Dashboard]] = {
    "service-overview.json": service_overview.build,
    "model-health.json": model_health.build,
}


def numbered(board: models.Dashboard) -> models.Dashboard:
    """Panel ids 1, 2, ... in the order of the panels (rows included): stable across runs."""
    for i, panel in enumerate(board.panels or [], start=1):
        panel.id_val = i
    return board


def render(board: models.Dashboard) -> str:
    return json.dumps(numbered(board), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def current() -> dict[Path, str]:
    """{path: the JSON the code writes} of every dashboard."""
    return {DASHBOARDS / name: render(build()) for name, build in BUILDERS.items()}


def main(argv: list[str] | None = None) -> int:
    return generated.main(argv, "Glassbox's Grafana dashboards", current, "make dashboards")


if __name__ == "__main__":
    sys.exit(main())
