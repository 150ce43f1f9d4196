"""Grafana's variables put into a dashboard's expression, as Grafana sends it to Prometheus: each
dashboard variable as one value (``.*``, the "All" of the variables, by default) and Grafana's
own macros as given. Shared by the tests (tests/support/dashboards.py) and the previews."""

from __future__ import annotations

import re
from collections.abc import Mapping

# What Grafana puts in for its own variables, as the issue fixes them for the checks.
MACROS = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(
    text: str,
    names: set[str],
    dashboard_value: str | None = ".*",
    macros: Mapping[str, str] = MACROS,
) -> str:
    """``text`` as Grafana sends it: its macros as ``macros``, each variable of ``names`` as
    ``dashboard_value`` (left as it is when None); anything else is left, ``$`` and all."""

    def one(found: re.Match[str]) -> str:
        name = next(group for group in found.groups() if group)
        if name in macros:
            return macros[name]
        if name in names and dashboard_value is not None:
            return dashboard_value
        return found.group(0)

    return _VARIABLE.sub(one, text)
