"""Every place the service goes past a library's public API to save CPU, each a named fast path
with a public-API fallback, switched by ``GLASSBOX_FAST_PATHS``.

Checked against prometheus-client 0.26.0, opentelemetry-sdk 1.45.2,
opentelemetry-exporter-otlp-proto-http 1.45.2 (with its opentelemetry-exporter-otlp-proto-common
1.45.2, whose encoder ours matches) and structlog 26.1.0: ``CHECKED_VERSIONS``. pyproject.toml
admits their patch releases only, and tests/fast_paths/test_versions.py fails when the
installed version is not the one checked here.

The fast paths (README: Performance has their prices):

- ``histogram_writers`` (metric_writers.py): a histogram child's bucket and sum values
  (``_upper_bounds``, ``_buckets``, ``_sum``) written directly, the bucket found by bisection; a
  batch in one write per bucket.
- ``otlp_export`` (otlp_export.py): spans encoded in place rather than by the SDK's
  copy-per-level encoder, in a copy of the SDK exporter's ``export`` (its ``_client``,
  ``_metrics``, ``_max_request_size``, ``_shutdown``, ``_is_request_too_large``).
- ``early_sampling`` (server_spans.py): the sampler decides before any span exists; an
  unsampled request gets its ids and no span object, a sampled one its span on a preset trace
  id.
- ``ratio_rule`` (server_spans.py): with ``early_sampling``, a new trace under the parent-based
  ratio sampler is decided by the ratio's own rule on its bound, without the sampler's calls.
- ``request_line`` (request_line.py): the JSON request line rendered by orjson, not through
  the structlog chain (the same bytes: tests/fast_paths/test_request_line.py).
- ``protocol_shed`` (app/http_protocol.py): a shed prediction request refused by the HTTP
  protocol as soon as its head is parsed, before uvicorn makes it a task; off, the app's
  admission layer refuses it (app/api/admission.py, the same policy). It lives in the
  protocol, uvicorn's own extension point (its ``http`` setting takes a protocol class), whose
  per-request attributes (the cycle, the pipeline, the parser) it reads, as the protocol's
  header and connection limits do: those have no public path at all, and are not switched.
  Checked against uvicorn 0.54.0.

A fast path whose private attribute is missing (a library moved it) falls back to the public
path and says so once, as a warning naming it and the attribute: the service still starts.
Nothing here imports the rest of the service. Fast paths whose price did not pay for their risk
were deleted (bench/README.md: "The fast paths' prices").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import structlog

NAMES = (
    "histogram_writers",
    "otlp_export",
    "early_sampling",
    "ratio_rule",
    "request_line",
    "protocol_shed",
)
# What a served request goes through: the per-request prices (make bench-instructions, make
# bench-prices) are of these. ``protocol_shed`` acts on refused requests only: make
# bench-overload prices a refusal with it and without.
SERVED_REQUEST_PATHS = tuple(name for name in NAMES if name != "protocol_shed")
CHECKED_VERSIONS = {
    "prometheus-client": "0.26.0",
    "opentelemetry-sdk": "1.45.2",
    "opentelemetry-exporter-otlp-proto-http": "1.45.2",
    "opentelemetry-exporter-otlp-proto-common": "1.45.2",
    "structlog": "26.1.0",
    "uvicorn": "0.54.0",
}
ALL = "all"
NONE = "none"

T = TypeVar("T")


def parse_selection(text: str) -> frozenset[str]:
    """``all``, ``none`` or a comma list of names: the fast paths switched on. An unknown name
    raises ValueError naming the valid ones."""
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    if words == [ALL]:
        return frozenset(NAMES)
    if words == [NONE] or not words:
        return frozenset()
    unknown = [w for w in words if w not in NAMES]
    if unknown:
        raise ValueError(
            f"GLASSBOX_FAST_PATHS: unknown fast path(s) {', '.join(unknown)}; valid: "
            f"{ALL!r}, {NONE!r} or a comma list of {', '.join(NAMES)}"
        )
    return frozenset(words)


def without(*names: str) -> str:
    """The setting's value for every fast path but ``names``."""
    rest = [n for n in NAMES if n not in names]
    return ",".join(rest) if rest else NONE


class FastPaths:
    """Which fast paths this process uses: those switched on whose private names were found."""

    def __init__(self, enabled: Iterable[str] = NAMES) -> None:
        self.enabled = frozenset(enabled)
        self.fell_back: dict[str, str] = {}  # fast path -> the name it missed
        self._log = structlog.get_logger("glassbox.fast_paths")

    @classmethod
    def from_setting(cls, text: str) -> FastPaths:
        return cls(parse_selection(text))

    def on(self, name: str) -> bool:
        return name in self.enabled and name not in self.fell_back

    def choose(self, name: str, fast: Callable[[], T], public: Callable[[], T]) -> T:
        """``fast()`` when ``name`` is on and finds what it needs, else ``public()``. A fast
        path missing a private name (AttributeError, ImportError) is off from then on."""
        if self.on(name):
            try:
                return fast()
            except (AttributeError, ImportError) as error:
                self.fall_back(name, str(error.name or error))
        return public()

    def fall_back(self, name: str, missing: str) -> None:
        if name in self.fell_back:
            return
        self.fell_back[name] = missing
        self._log.warning(
            "fast path unavailable: using the public API", fast_path=name, missing=missing
        )
