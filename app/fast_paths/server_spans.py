"""``early_sampling`` and ``ratio_rule``: how each request's server span is started.

The public path is the SDK's: ``tracer.start_span`` for every request, which does most of a
span's work even for one its sampler drops. With ``early_sampling`` the provider's own
sampler decides first, on a trace id from the provider's own id generator: a dropped request
gets its ids and flags (as the SDK would set them) and no span object; a recorded one gets a
real SDK span on the same trace id, handed to the SDK through the id generator
(``RootTraceIds``: the SDK asks it for a root span's trace id). The SDK asks the sampler again,
and the built-in samplers answer the same for the same parent and trace id; one that answers
differently only changes which ids are returned, never their consistency: they are read from
the span that was made. With ``ratio_rule`` as well, a new trace under the parent-based ratio
sampler is decided by ``TraceIdRatioBased``'s own rule on its bound, without the calls through
``should_sample``.
"""

from __future__ import annotations

import threading
from typing import Protocol

from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Sampler, TraceIdRatioBased
from opentelemetry.trace import Span as ApiSpan
from opentelemetry.trace import SpanKind, TraceFlags, Tracer, get_current_span
from opentelemetry.util.types import Attributes

from app.fast_paths import FastPaths

EARLY_SAMPLING = "early_sampling"
RATIO_RULE = "ratio_rule"

ROOT_CONTEXT = Context()

# What a server span's start returns: the SDK span when the request is recorded (else None),
# and the server span's trace id, span id and W3C trace flags.
ServerSpan = tuple[ApiSpan | None, int, int, int]


class ServerSpanStarter(Protocol):
    def start(
        self, name: str, parent: Context | None, start_ns: int, attributes: Attributes
    ) -> ServerSpan:
        """``parent``: the caller's context (from its ``traceparent``), or None for a new
        trace; ``attributes``: those known at the start, which the sampler sees too."""


class _PresetTraceId(threading.local):
    trace_id: int | None = None  # a class default: reading it never raises in a new thread


class RootTraceIds(RandomIdGenerator):
    """The SDK's random ids, except that ``ServerSpans`` can hand it the trace id of a root span
    it has already sampled on. Per thread: only the thread that presets consumes."""

    def __init__(self) -> None:
        self._preset = _PresetTraceId()

    def preset(self, trace_id: int | None) -> None:
        self._preset.trace_id = trace_id

    def new_trace_id(self) -> int:
        """A random trace id, never the preset one."""
        return super().generate_trace_id()

    def generate_trace_id(self) -> int:
        trace_id = self._preset.trace_id
        if trace_id is None:
            return super().generate_trace_id()
        self._preset.trace_id = None
        return trace_id


def id_generator(paths: FastPaths) -> IdGenerator:
    """The tracer provider's id generator."""
    return RootTraceIds() if paths.on(EARLY_SAMPLING) else RandomIdGenerator()


def server_spans(
    paths: FastPaths,
    tracer: Tracer,
    sampler: Sampler,
    ids: IdGenerator,
    new_traces: TraceIdRatioBased | None,
) -> ServerSpanStarter:
    """``ids``: the provider's (from :func:`id_generator`); ``new_traces``: the ratio sampler
    that decides new traces when ``sampler`` is the parent-based ratio one, else None."""
    if not isinstance(ids, RootTraceIds):
        return SdkServerSpans(tracer)
    bound = None
    if new_traces is not None:
        bound = paths.choose(RATIO_RULE, lambda: _ratio_bound(new_traces), lambda: None)
    return ServerSpans(tracer, sampler, ids, bound)


def _ratio_bound(sampler: TraceIdRatioBased) -> tuple[int, int]:
    return sampler.TRACE_ID_LIMIT, sampler.bound


def _started(span: ApiSpan, attributes: Attributes) -> ServerSpan:
    context = span.get_span_context()
    if not span.is_recording():
        return None, context.trace_id, context.span_id, context.trace_flags
    if attributes and not context.trace_flags.sampled:
        # Recorded, not sampled (e.g. AlwaysRecordSampler): the built-in samplers return no
        # attributes when they drop, so the span would start without the request's.
        span.set_attributes(attributes)
    return span, context.trace_id, context.span_id, context.trace_flags


def _parent(parent: Context | None) -> Context:
    """The request's parent is only what the caller sent, never an ambient context."""
    if parent is None or not get_current_span(parent).get_span_context().is_valid:
        return ROOT_CONTEXT
    return parent


class SdkServerSpans:
    """The public path: the SDK starts every request's span and samples it."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    def start(
        self, name: str, parent: Context | None, start_ns: int, attributes: Attributes
    ) -> ServerSpan:
        span = self.tracer.start_span(
            name, _parent(parent), SpanKind.SERVER, attributes, start_time=start_ns
        )
        return _started(span, attributes)


class ServerSpans:
    """``early_sampling``: the decision before any span exists (see the module's docstring).
    ``ratio``: (``TRACE_ID_LIMIT``, bound) of the ratio that decides new traces, with
    ``ratio_rule``; else None and the sampler is asked."""

    def __init__(
        self,
        tracer: Tracer,
        sampler: Sampler,
        ids: RootTraceIds,
        ratio: tuple[int, int] | None = None,
    ) -> None:
        self.tracer = tracer
        self.sampler = sampler
        self.ids = ids
        self.random_ids = ids.is_trace_id_random()
        self.new_trace_limit: int = ratio[0] if ratio else 0
        self.new_trace_bound: int | None = ratio[1] if ratio else None

    def records(
        self, parent: Context | None, trace_id: int, root: bool, name: str, attributes: Attributes
    ) -> bool:
        """Whether the sampler records this server span."""
        if root and self.new_trace_bound is not None:
            return trace_id & self.new_trace_limit < self.new_trace_bound
        result = self.sampler.should_sample(parent, trace_id, name, SpanKind.SERVER, attributes)
        return bool(result.decision.is_recording())

    def start(
        self, name: str, parent: Context | None, start_ns: int, attributes: Attributes
    ) -> ServerSpan:
        caller = None if parent is None else get_current_span(parent).get_span_context()
        if caller is not None and caller.is_valid:
            root = False
            trace_id = caller.trace_id
            random_id = caller.trace_flags.random_trace_id
        else:
            root = True
            parent = ROOT_CONTEXT
            trace_id = self.ids.new_trace_id()
            random_id = self.random_ids
        if not self.records(parent, trace_id, root, name, attributes):
            flags = TraceFlags.RANDOM_TRACE_ID if random_id else TraceFlags.DEFAULT
            return None, trace_id, self.ids.generate_span_id(), flags
        if root:
            self.ids.preset(trace_id)
        try:
            span = self.tracer.start_span(
                name, parent, SpanKind.SERVER, attributes, start_time=start_ns
            )
        finally:
            self.ids.preset(None)
        return _started(span, attributes)
