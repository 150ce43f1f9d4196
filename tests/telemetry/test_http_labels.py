"""The route and method a request is counted under: bounded, whatever the client sends."""

from types import SimpleNamespace

import pytest

from app.telemetry.http_labels import RouteLabels, method_label

LABELS = RouteLabels(["/predict", "/predict/batch"])


def test_a_routed_request_is_counted_under_its_template() -> None:
    scope = {"path": "/items/42", "route": SimpleNamespace(path="/items/{item_id}")}
    assert LABELS.of(scope) == "/items/{item_id}"


def test_before_routing_a_static_route_is_counted_under_its_path() -> None:
    assert LABELS.of({"path": "/predict/batch"}) == "/predict/batch"


@pytest.mark.parametrize("path", ["/", "/no/such/path", "/predict/", "/PREDICT"])
def test_anything_else_is_unmatched(path: str) -> None:
    assert LABELS.of({"path": path}) == "unmatched"


@pytest.mark.parametrize(
    "method", ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
)
def test_the_methods_http_defines_are_their_own_label(method: str) -> None:
    assert method_label(method) == method


@pytest.mark.parametrize("method", ["BREW", "get", "PROPFIND", "QUERY", ""])
def test_any_other_method_is_other(method: str) -> None:
    assert method_label(method) == "_OTHER"
