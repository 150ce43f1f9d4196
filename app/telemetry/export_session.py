"""The HTTP session the OTLP span exporter sends with: requests' own, reading the environment
once rather than on every export.

On every request, ``requests.Session.merge_environment_settings`` looks up the proxy variables
(walking all of ``os.environ``, twice) and the CA bundle variables: about a third of the CPU of
an export's HTTP request, spent on the export thread, which shares the worker's core and GIL
with the event loop. A worker's environment does not change, so the merged settings are kept
per distinct arguments: the same proxies, ``NO_PROXY`` and CA bundle as before, looked up once.
The exporter's public ``session`` parameter takes it; a session from an OTLP credential
provider (``OTEL_PYTHON_EXPORTER_OTLP_HTTP_[TRACES_]CREDENTIAL_PROVIDER``) is left to the SDK.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests

# The SDK makes its own session from these (opentelemetry.sdk.environment_variables).
CREDENTIAL_PROVIDER_VARIABLES = (
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER",
)


class EnvironmentOnceSession(requests.Session):
    """A ``requests.Session`` whose environment lookup runs once per distinct arguments."""

    def __init__(self) -> None:
        super().__init__()
        self._merged: dict[tuple[Any, ...], dict[str, Any]] = {}

    def merge_environment_settings(
        self,
        url: str,
        proxies: dict[str, str] | None,
        stream: bool | None,
        verify: Any,
        cert: Any,
    ) -> dict[str, Any]:
        key = (url, tuple(sorted((proxies or {}).items())), stream, verify, cert)
        merged = self._merged.get(key)
        if merged is None:
            merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._merged[key] = merged
        elif proxies is not None:
            proxies.update({k: v for k, v in merged["proxies"].items() if k not in proxies})
        # A copy: the caller may change what it is given.
        return {**merged, "proxies": dict(merged["proxies"])}


def export_session(environ: Mapping[str, str] = os.environ) -> requests.Session | None:
    """The session for the span exporter, or None where the SDK makes its own."""
    if any(environ.get(name) for name in CREDENTIAL_PROVIDER_VARIABLES):
        return None
    return EnvironmentOnceSession()
