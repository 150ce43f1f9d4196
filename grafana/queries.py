"""The label matchers and PromQL fragments every dashboard shares.

The dashboards' variables are multi-value with an "All" of ``.*`` and always matched with ``=~``:
``namespace=~".*"`` also matches a series with no ``namespace`` label (a plain Prometheus), and a
choice of several values arrives as Grafana's ``(a|b)``.
"""

from __future__ import annotations

from collections.abc import Iterable

# The variables' names, in the order they appear above the panels.
NAMESPACE = "namespace"
JOB = "job"
MODEL_VERSION = "model_version"

SERVICE = f'namespace=~"${NAMESPACE}", job=~"${JOB}"'
MODEL = f'{SERVICE}, model_version=~"${MODEL_VERSION}"'
# Grafana's window for rate(): at least four scrape intervals, and at least the step.
RATE = "$__rate_interval"


def select(metric: str, *matchers: str) -> str:
    return f"{metric}{{{', '.join(matchers)}}}"


def rate(metric: str, *matchers: str, window: str = RATE) -> str:
    return f"rate({select(metric, *matchers)}[{window}])"


def increase(metric: str, *matchers: str, window: str = RATE) -> str:
    return f"increase({select(metric, *matchers)}[{window}])"


def by(labels: Iterable[str], op: str, expr: str) -> str:
    """``op by (labels) (expr)``: ``by(["le"], "sum", ...)``."""
    return f"{op} by ({', '.join(labels)}) ({expr})"
