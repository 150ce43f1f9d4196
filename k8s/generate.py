"""Writes the monitoring component's copies of the repo's generated files, or checks them.

kustomize reads nothing outside its root, so ``k8s/components/monitoring`` holds copies: the
PrometheusRule ``make rules`` writes (``monitoring/operator/prometheusrule.yaml``) and the
dashboards ``make dashboards`` writes (``grafana/dashboards/*.json``), taken from those
generators' own output, so a copy is never older than its source.

    python -m k8s.generate          # rewrite the copies (`make k8s`; `make rules` and
                                    # `make dashboards` run it too)
    python -m k8s.generate --check  # exit 1 if a committed copy differs
"""

from __future__ import annotations

import sys
from pathlib import Path

from grafana import generate as dashboards
from monitoring import generated, slo_rules

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "k8s" / "components" / "monitoring"
RULE = COMPONENT / "prometheusrule.yaml"
DASHBOARDS = COMPONENT / "dashboards"


def copies(rule: str, boards: dict[Path, str]) -> dict[Path, str]:
    """{copy: its text}: the rule with a line naming its source first (YAML comments are
    free), each dashboard as it is (JSON has no comments)."""
    source = slo_rules.OPERATOR.relative_to(ROOT)
    header = f"# Copied by `python -m k8s.generate` (`make k8s`) from {source}.\n"
    return {RULE: header + rule, **{DASHBOARDS / path.name: text for path, text in boards.items()}}


def current() -> dict[Path, str]:
    return copies(slo_rules.current()[slo_rules.OPERATOR], dashboards.current())


def main(argv: list[str] | None = None) -> int:
    return generated.main(argv, "the monitoring component's copies", current, "make k8s")


if __name__ == "__main__":
    sys.exit(main())
