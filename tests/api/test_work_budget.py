"""A batch's work budget: before each chunk it stops the work when the client is gone (499) or
the deadline has passed (504), and otherwise lets it go on; its watcher learns of the client's
disconnect from the ASGI messages."""

import asyncio
import time

import pytest
from starlette.types import Message

from app.api.errors import ClientDisconnectedError, DeadlineExceededError
from app.api.work_budget import WorkBudget

LATER = 3600.0  # seconds from now: a deadline no test reaches


def test_within_the_deadline_and_connected_the_work_goes_on_and_its_progress_is_kept() -> None:
    budget = WorkBudget(time.monotonic() + LATER)
    for rows_done in (0, 100, 200):
        budget.before_chunk(rows_done)
    assert budget.rows_done == 200


def test_past_the_deadline_the_next_chunk_is_refused_with_how_far_the_work_got() -> None:
    budget = WorkBudget(time.monotonic() + LATER)
    budget.before_chunk(0)
    budget.deadline = time.monotonic() - 0.001
    with pytest.raises(DeadlineExceededError):
        budget.before_chunk(100)
    assert budget.rows_done == 100


def test_a_client_gone_stops_the_work_before_the_next_chunk() -> None:
    budget = WorkBudget(time.monotonic() + LATER)
    budget.before_chunk(0)
    budget.disconnected = True
    with pytest.raises(ClientDisconnectedError):
        budget.before_chunk(300)
    assert budget.rows_done == 300


def test_a_client_gone_past_the_deadline_is_a_disconnect_not_a_504() -> None:
    """Nobody is there to read a 504: the request is recorded as the client's (499)."""
    budget = WorkBudget(time.monotonic() - 1.0)
    budget.disconnected = True
    with pytest.raises(ClientDisconnectedError):
        budget.before_chunk(0)


class Messages:
    """An ASGI ``receive`` that hands out the messages the test puts, waiting for each."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.taken = asyncio.Event()  # set once a message was handed out

    async def __call__(self) -> Message:
        message = await self.queue.get()
        self.taken.set()
        return message


def test_the_watcher_marks_the_budget_disconnected_once_the_disconnect_arrives() -> None:
    async def scenario() -> None:
        budget = WorkBudget(time.monotonic() + LATER)
        receive = Messages()
        watcher = asyncio.create_task(budget.watch(receive))
        # A late empty body part is not a disconnect.
        await receive.queue.put({"type": "http.request", "body": b"", "more_body": False})
        # Woken once the watcher has it; by then it has looked at it and waits for the next.
        await receive.taken.wait()
        assert not budget.disconnected
        assert not watcher.done()
        budget.before_chunk(0)  # still connected: the work goes on
        await receive.queue.put({"type": "http.disconnect"})
        await asyncio.wait_for(watcher, timeout=5)
        assert budget.disconnected
        with pytest.raises(ClientDisconnectedError):
            budget.before_chunk(100)

    asyncio.run(scenario())


def test_a_cancelled_watcher_leaves_the_budget_connected() -> None:
    """The handler cancels the watcher once the work is done: that is no disconnect."""

    async def scenario() -> None:
        budget = WorkBudget(time.monotonic() + LATER)
        watcher = asyncio.create_task(budget.watch(Messages()))
        await asyncio.sleep(0)
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher
        assert not budget.disconnected

    asyncio.run(scenario())
