"""A request's record: opened by the edge in a context variable, found by the handler (and by
log lines written meanwhile) with ``current_request()``, annotated with the fields of the
request's log line, and gone once the edge closes it. Each request, each task, its own."""

import asyncio

from starlette.concurrency import run_in_threadpool

from app.telemetry.request_context import (
    RequestRecord,
    close_record,
    current_request,
    open_record,
)


def test_outside_a_request_there_is_no_record() -> None:
    assert current_request() is None


def test_an_opened_record_is_current_until_it_is_closed() -> None:
    record = RequestRecord(request_id="r1", started_ns=1)
    token = open_record(record)
    try:
        assert current_request() is record
    finally:
        close_record(token)
    assert current_request() is None


def test_closing_restores_the_record_that_was_current_before() -> None:
    outer, inner = RequestRecord("outer", 1), RequestRecord("inner", 2)
    outer_token = open_record(outer)
    inner_token = open_record(inner)
    assert current_request() is inner
    close_record(inner_token)
    assert current_request() is outer
    close_record(outer_token)
    assert current_request() is None


def test_annotations_become_the_line_s_fields_and_a_later_one_wins() -> None:
    record = RequestRecord("r1", 1)
    record.annotate(model_version="v1", rows=3)
    record.annotate(rows=4, positives=1)
    assert record.fields == {"model_version": "v1", "rows": 4, "positives": 1}


def test_two_records_never_share_their_fields() -> None:
    first, second = RequestRecord("a", 1), RequestRecord("b", 2)
    first.annotate(rows=1)
    assert second.fields == {}


def test_a_new_record_has_no_trace_ids_and_no_sampled_span() -> None:
    record = RequestRecord("r1", 1)
    assert (record.trace_id, record.span_id, record.sampled_span) == (None, None, None)


def test_concurrent_tasks_each_see_their_own_record() -> None:
    async def serve(request_id: str) -> str | None:
        token = open_record(RequestRecord(request_id, 1))
        try:
            await asyncio.sleep(0.001)  # the other task opens its record meanwhile
            record = current_request()
            return None if record is None else record.request_id
        finally:
            close_record(token)

    async def both() -> list[str | None]:
        return list(await asyncio.gather(serve("one"), serve("two")))

    assert asyncio.run(both()) == ["one", "two"]


def test_a_handler_run_on_a_thread_sees_the_request_s_record() -> None:
    """Plain ``def`` handlers (and large batches) run through starlette's thread pool."""

    async def serve() -> RequestRecord | None:
        token = open_record(RequestRecord("r1", 1))
        try:
            return await run_in_threadpool(current_request)
        finally:
            close_record(token)

    seen = asyncio.run(serve())
    assert seen is not None
    assert seen.request_id == "r1"
