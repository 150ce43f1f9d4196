"""Every use of a third-party private name is in app/fast_paths: the code of the rest of app/
(and gunicorn.conf.py) names none of the known ones, and imports nothing private from
prometheus_client, OpenTelemetry or structlog."""

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from tests.support.processes import ROOT

# What the fast paths reach: attributes read on the libraries' objects, and their names.
PRIVATE_ATTRIBUTES = {
    "_upper_bounds", "_buckets", "_sum",  # prometheus_client's histogram children
    "_client", "_metrics", "_max_request_size", "_shutdown",  # the SDK's OTLP span exporter
    "_is_request_too_large", "_common",  # the exporter's private module
    "bound", "TRACE_ID_LIMIT",  # TraceIdRatioBased's rule
}  # fmt: skip
# Reached once and deleted, their price too small for their risk (bench/README.md): not again
# outside app/fast_paths either.
DELETED = {"_value", "ValueClass", "MultiProcessValue"}
PRIVATE_NAMES = {"TRACE_ID_LIMIT", "_is_request_too_large", "ValueClass", "MultiProcessValue"}
LIBRARIES = ("prometheus_client", "opentelemetry", "structlog")
FAST_PATHS = ROOT / "app" / "fast_paths"


def outside_fast_paths() -> list[Path]:
    paths = [p for p in sorted((ROOT / "app").rglob("*.py")) if FAST_PATHS not in p.parents]
    return [*paths, ROOT / "gunicorn.conf.py"]


def private_uses(source: str) -> list[str]:
    """The known private names ``source``'s code uses (comments and strings are prose), and its
    private imports from the libraries."""
    found = []
    previous = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME:
            attribute = previous is not None and previous.string == "."
            known = PRIVATE_ATTRIBUTES | DELETED
            if (attribute and token.string in known) or token.string in PRIVATE_NAMES:
                found.append(f"line {token.start[0]}: {'.' if attribute else ''}{token.string}")
        if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            previous = token
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            names: list[str] = []
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules, names = [node.module], [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] in LIBRARIES and (
                any(p.startswith("_") for p in parts) or any(n.startswith("_") for n in names)
            ):
                found.append(f"line {node.lineno}: import from {module}: {names or module}")
    return found


@pytest.mark.parametrize("path", outside_fast_paths(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_outside_the_fast_paths(path: Path) -> None:
    assert private_uses(path.read_text()) == [], (
        f"{path.relative_to(ROOT)}: move it to app/fast_paths"
    )


@pytest.mark.parametrize(
    "planted",
    [
        "adder = child._value.inc\n",
        "x = (child\n    ._buckets)\n",
        "values.ValueClass = make()\n",
        "limit = sampler.TRACE_ID_LIMIT & sampler.bound\n",
        "from opentelemetry.exporter.otlp.proto.http._common import RequestPayloadTooLargeError\n",
        "from opentelemetry.exporter.otlp.proto.http import _common\n",
        "from structlog._config import _CONFIG\n",
        "import prometheus_client._private\n",
    ],
)
def test_the_check_finds_a_planted_private_use(planted: str) -> None:
    assert private_uses(planted)


def test_the_check_passes_prose_and_public_names() -> None:
    source = (
        '"""Reads ``child._value``."""\n# uses values.ValueClass\n'
        "from prometheus_client import Counter\nlabel = '_value'\n"
    )
    assert private_uses(source) == []


def test_the_fast_paths_do_use_them() -> None:
    """The list is of names really used there: a stale one would guard nothing. (The private
    module ``_common`` is imported there by its name in a string, so that a release that
    moves it leaves the service starting.)"""
    found = " ".join(u for p in FAST_PATHS.glob("*.py") for u in private_uses(p.read_text()))
    unused = {name for name in PRIVATE_ATTRIBUTES if not re.search(rf"\b{name}\b", found)}
    assert unused == {"_common"}
    back = {name for name in DELETED if re.search(rf"\b{name}\b", found)}
    assert back == set(), "a deleted fast path is back: price it (make bench-instructions) first"
