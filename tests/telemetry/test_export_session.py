"""The span exporter's HTTP session: requests' environment settings (proxies, NO_PROXY, the CA
bundle) as requests itself merges them, looked up once per distinct arguments; a credential
provider's session is left to the SDK."""

import pytest
import requests
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.fast_paths import FastPaths
from app.fast_paths.otlp_export import span_exporter
from app.telemetry.export_session import (
    CREDENTIAL_PROVIDER_VARIABLES,
    EnvironmentOnceSession,
    export_session,
)
from tests.support.otlp import otlp_receiver

ARGUMENTS = [
    ("http://collector.example:4318/v1/traces", None, None, True, None),
    ("http://local.example:4318/v1/traces", {}, False, True, None),
    ("https://collector.example/v1/traces", {"https": "http://mine:1"}, None, "/ca.pem", None),
]


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "local.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/bundle.pem")


@pytest.mark.parametrize("arguments", ARGUMENTS)
@pytest.mark.usefixtures("proxied")
def test_the_settings_are_requests_own(arguments: tuple) -> None:  # type: ignore[type-arg]
    url, proxies, stream, verify, cert = arguments
    mine = EnvironmentOnceSession()
    theirs = requests.Session()
    for _ in range(2):  # the first lookup and the kept one
        expected = theirs.merge_environment_settings(
            url, dict(proxies) if proxies is not None else None, stream, verify, cert
        )
        got = mine.merge_environment_settings(
            url, dict(proxies) if proxies is not None else None, stream, verify, cert
        )
        assert got == expected


@pytest.mark.usefixtures("proxied")
def test_the_environment_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    session = EnvironmentOnceSession()
    url = ARGUMENTS[0][0]
    first = session.merge_environment_settings(url, {}, None, True, None)
    assert first["proxies"]["http"] == "http://proxy.example:3128"
    first["proxies"]["http"] = "changed by the caller"
    monkeypatch.setenv("HTTP_PROXY", "http://another.example:1")
    again = session.merge_environment_settings(url, {}, None, True, None)
    assert again["proxies"]["http"] == "http://proxy.example:3128"
    assert again["verify"] == "/etc/bundle.pem"


@pytest.mark.parametrize("variable", CREDENTIAL_PROVIDER_VARIABLES)
def test_a_credential_provider_s_session_is_the_sdk_s(variable: str) -> None:
    assert export_session({variable: "my_provider"}) is None
    assert isinstance(export_session({}), EnvironmentOnceSession)


def test_spans_reach_the_collector_through_it(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for name in ("one", "two", "three"):
        provider.get_tracer("test").start_span(name).end()
    spans = memory.get_finished_spans()
    for paths in (FastPaths(), FastPaths.from_setting("none")):
        session = EnvironmentOnceSession()
        with otlp_receiver() as receiver:
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{receiver.url}/v1/traces")
            exporter = span_exporter(paths, session)
            assert exporter.export(spans) is SpanExportResult.SUCCESS
            assert exporter.export(spans) is SpanExportResult.SUCCESS
            assert sorted(s.name for s in receiver.spans) == sorted(["one", "two", "three"] * 2)
        assert len(session._merged) == 1  # both exports, one lookup
