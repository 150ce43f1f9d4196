"""The labels an HTTP request is counted under, worked out in one place for the metrics, the
spans, the request line and the rejection counts, after OpenTelemetry's HTTP conventions.

- route: the matched route's template. A response sent before routing (a declared body too
  large) gets its path when that path is one of the static routes; anything else, 404s
  included, is ``unmatched``: raw paths would give every scanner's probe a series of its own.
- method: one of the methods HTTP defines, else ``_OTHER``.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.types import Scope

UNMATCHED_ROUTE = "unmatched"
OTHER_METHOD = "_OTHER"
# The convention's known methods (RFC 9110 and PATCH).
KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


class RouteLabels:
    def __init__(self, static_routes: Collection[str]) -> None:
        self.static_routes = frozenset(static_routes)

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None:
            template: str = route.path
            return template
        path: str = scope["path"]
        return path if path in self.static_routes else UNMATCHED_ROUTE
