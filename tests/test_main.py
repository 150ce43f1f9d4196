"""The composition root's own helpers."""

import asyncio

from app.main import every


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
