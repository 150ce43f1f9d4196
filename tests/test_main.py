"""The composition root's own helpers."""

import asyncio
import gc
from collections.abc import Iterator

import pytest

from app.main import every
from tests.api.conftest import make_client


def test_a_periodic_action_that_fails_keeps_running() -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first run fails")

    async def run_for_a_while() -> None:
        task = asyncio.create_task(every(0.01, flaky))
        await asyncio.sleep(0.2)
        task.cancel()

    asyncio.run(run_for_a_while())
    assert len(calls) > 2


@pytest.fixture
def nothing_frozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("nothing_frozen")
def test_a_ready_worker_has_frozen_its_start_up_objects_out_of_the_collector() -> None:
    """Full collections over start-up's long-lived objects stall the event loop (~50 ms)."""
    with make_client() as client:
        assert client.get("/readyz").status_code == 200
        assert gc.get_freeze_count() > 50_000, "the app, the model and the libraries"


@pytest.mark.usefixtures("nothing_frozen")
def test_gc_freeze_can_be_switched_off() -> None:
    with make_client(server={"gc_freeze": False}) as client:
        assert client.get("/readyz").status_code == 200
        assert gc.get_freeze_count() == 0
