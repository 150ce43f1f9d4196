"""Server spans: the SDK's path and the early decision give a request the same ids, flags and
span; the ratio rule decides a new trace as the sampler does."""

import time

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    AlwaysRecordSampler,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace import set_span_in_context as with_parent

from app.fast_paths import FastPaths, without
from app.fast_paths.server_spans import (
    EARLY_SAMPLING,
    RATIO_RULE,
    ROOT_CONTEXT,
    RootTraceIds,
    SdkServerSpans,
    ServerSpans,
    ServerSpanStarter,
    id_generator,
    server_spans,
)
from app.telemetry.tracing import ParentBasedRatio, default_sampler
from tests.support.binomial import binomial_bounds

PARENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN = "b7ad6b7169203331"
PATHS = {"early": "all", "sdk": without(EARLY_SAMPLING)}


def starter(sampler: Sampler, paths: str = "all") -> tuple[ServerSpanStarter, TracerProvider]:
    """Built as setup_tracing builds it, with the ``GLASSBOX_FAST_PATHS`` value ``paths``."""
    selection = FastPaths.from_setting(paths)
    ids = id_generator(selection)
    provider = TracerProvider(sampler=sampler, id_generator=ids)
    tracer = provider.get_tracer("test")
    new_traces = sampler.new_traces if isinstance(sampler, ParentBasedRatio) else None
    return server_spans(selection, tracer, provider.sampler, ids, new_traces), provider


def early(sampler: Sampler, paths: str = "all") -> ServerSpans:
    spans, _ = starter(sampler, paths)
    assert isinstance(spans, ServerSpans)
    return spans


@pytest.fixture(params=sorted(PATHS))
def path(request: pytest.FixtureRequest) -> str:
    """Either way of starting a server span: the fast path's or the SDK's."""
    return PATHS[request.param]


def test_the_switch_chooses_the_starter() -> None:
    assert isinstance(starter(ALWAYS_OFF, "all")[0], ServerSpans)
    assert isinstance(starter(ALWAYS_OFF, "none")[0], SdkServerSpans)
    assert isinstance(starter(ALWAYS_OFF, without(EARLY_SAMPLING))[0], SdkServerSpans)


class RecordingSampler(Sampler):
    def __init__(self) -> None:
        self.seen: list[dict[str, object]] = []

    def should_sample(self, *args: object, **kwargs: object) -> SamplingResult:
        attributes = kwargs.get("attributes", args[4] if len(args) > 4 else None)
        self.seen.append(dict(attributes or {}))  # type: ignore[call-overload]
        return ALWAYS_OFF.should_sample(*args, **kwargs)  # type: ignore[arg-type]

    def get_description(self) -> str:
        return "recording"


def remote_parent(flags: int) -> Context:
    parent = SpanContext(int(PARENT_TRACE, 16), int(PARENT_SPAN, 16), True, TraceFlags(flags))
    return with_parent(NonRecordingSpan(parent))


@pytest.mark.parametrize("parent_flags", [None, 0x00, 0x02])
def test_an_unsampled_request_gets_the_ids_and_flags_the_sdk_would_give_it(
    parent_flags: int | None, path: str
) -> None:
    spans, provider = starter(ParentBased(ALWAYS_OFF), path)
    parent = None if parent_flags is None else remote_parent(parent_flags)
    span, trace_id, span_id, flags = spans.start("POST", parent, time.time_ns(), None)
    sdk = provider.get_tracer("sdk").start_span("POST", context=parent, kind=SpanKind.SERVER)
    assert span is None  # no span object at all
    assert flags == sdk.get_span_context().trace_flags
    assert trace_id != 0
    assert span_id != 0
    if parent is not None:
        assert f"{trace_id:032x}" == PARENT_TRACE
        assert f"{span_id:016x}" != PARENT_SPAN


def test_a_sampled_span_is_made_on_the_trace_id_the_sampler_decided_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ratio = TraceIdRatioBased(0.5)
    spans = early(ParentBased(ratio))
    decided_on: list[int] = []
    new_trace_id = spans.ids.new_trace_id

    def recorded_new_trace_id() -> int:
        decided_on.append(new_trace_id())
        return decided_on[-1]

    monkeypatch.setattr(spans.ids, "new_trace_id", recorded_new_trace_id)
    recorded = 0
    for _ in range(400):
        span, trace_id, span_id, flags = spans.start("POST", None, time.time_ns(), None)
        # Dropped or recorded, the request carries the id the sampler decided on.
        assert trace_id == decided_on[-1]
        verdict = ratio.should_sample(None, trace_id, "POST").decision.is_sampled()
        assert (span is not None) == verdict == bool(flags & TraceFlags.SAMPLED)
        if span is not None:
            context = span.get_span_context()
            assert (context.trace_id, context.span_id) == (trace_id, span_id)
            assert context.trace_flags.random_trace_id
            span.end()
            recorded += 1
    assert 140 < recorded < 260  # ~200 of 400 at a ratio of 0.5


def test_a_sampled_request_s_ids_are_its_span_s(path: str) -> None:
    ratio = TraceIdRatioBased(0.5)
    spans, _ = starter(ParentBased(ratio), path)
    recorded = 0
    for _ in range(400):
        span, trace_id, span_id, flags = spans.start("POST", None, time.time_ns(), None)
        verdict = ratio.should_sample(None, trace_id, "POST").decision.is_sampled()
        assert (span is not None) == verdict == bool(flags & TraceFlags.SAMPLED)
        if span is not None:
            context = span.get_span_context()
            assert (context.trace_id, context.span_id, context.trace_flags) == (
                trace_id, span_id, flags,
            )  # fmt: skip
            span.end()
            recorded += 1
    assert 140 < recorded < 260  # ~200 of 400 at a ratio of 0.5


def test_a_recorded_but_unsampled_span_keeps_the_request_s_attributes(path: str) -> None:
    spans, _ = starter(AlwaysRecordSampler(ALWAYS_OFF), path)
    attributes = {"http.request.method": "POST", "url.path": "/p"}
    span, _, _, flags = spans.start("POST", None, time.time_ns(), attributes)
    assert span is not None
    assert not flags & TraceFlags.SAMPLED
    assert isinstance(span, ReadableSpan)
    assert dict(span.attributes or {}) == attributes


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.5, 1.0])
def test_the_ratio_rule_decides_as_the_sampler_does(ratio: float) -> None:
    sampler = ParentBasedRatio(ratio)
    spans = early(sampler)
    assert spans.new_trace_bound is not None
    bound = sampler.new_traces.bound
    limit = TraceIdRatioBased.TRACE_ID_LIMIT
    edges = [0, 1, bound - 1, bound, bound + 1, limit, limit + 1, (5 << 64) | bound, 1 << 127]
    generated = [RootTraceIds().new_trace_id() for _ in range(2000)]
    for trace_id in [t for t in edges if t > 0] + generated:
        expected = sampler.should_sample(ROOT_CONTEXT, trace_id, "POST").decision.is_recording()
        assert spans.records(ROOT_CONTEXT, trace_id, True, "POST", None) is expected, trace_id


def test_without_the_ratio_rule_the_sampler_is_asked() -> None:
    spans = early(ParentBasedRatio(0.5), without(RATIO_RULE))
    assert spans.new_trace_bound is None


def test_a_ratio_sampler_missing_its_bound_falls_back_to_asking_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sampler = ParentBasedRatio(0.5)
    monkeypatch.delattr(TraceIdRatioBased, "TRACE_ID_LIMIT")
    selection = FastPaths()
    ids = id_generator(selection)
    provider = TracerProvider(sampler=sampler, id_generator=ids)
    spans = server_spans(selection, provider.get_tracer("t"), sampler, ids, sampler.new_traces)
    assert isinstance(spans, ServerSpans)
    assert spans.new_trace_bound is None
    assert selection.fell_back == {RATIO_RULE: "TRACE_ID_LIMIT"}


def test_other_samplers_are_always_asked() -> None:
    sampler = RecordingSampler()
    spans = early(sampler)
    assert spans.new_trace_bound is None
    assert spans.records(ROOT_CONTEXT, 1, True, "POST", None) is False
    assert len(sampler.seen) == 1


def test_the_preset_trace_id_is_used_once() -> None:
    spans, provider = starter(ParentBased(TraceIdRatioBased(1.0)))
    span, trace_id, _, _ = spans.start("POST", None, time.time_ns(), None)
    assert span is not None
    other = provider.get_tracer("other").start_span("root")
    assert other.get_span_context().trace_id != trace_id


def test_the_sampler_sees_the_request_s_method_and_path(path: str) -> None:
    sampler = RecordingSampler()
    spans, _ = starter(sampler, path)
    spans.start("POST", None, time.time_ns(), {"http.request.method": "POST", "url.path": "/p"})
    assert sampler.seen == [{"http.request.method": "POST", "url.path": "/p"}]


def test_a_sampled_caller_s_trace_is_continued(path: str) -> None:
    spans, _ = starter(ParentBased(ALWAYS_OFF), path)
    span, trace_id, _, flags = spans.start("POST", remote_parent(0x01), time.time_ns(), None)
    assert span is not None
    assert span.is_recording()
    assert f"{trace_id:032x}" == PARENT_TRACE
    assert flags & TraceFlags.SAMPLED


def test_the_shipped_default_samples_a_tenth_of_new_traces() -> None:
    """Over the trace ids the service makes itself: a tenth, not a half (nor a fifth, nor a
    twentieth, which these bounds also exclude)."""
    spans = early(default_sampler({}))  # type: ignore[arg-type]
    n = 20_000
    low, high = binomial_bounds(n, 0.1)  # 2000 +- 212
    for wrong in (0.05, 0.2, 0.5):
        assert not low <= n * wrong <= high
    ids = spans.ids
    sampled = sum(spans.records(ROOT_CONTEXT, ids.new_trace_id(), True, "POST", None)
                  for _ in range(n))  # fmt: skip
    assert low <= sampled <= high
