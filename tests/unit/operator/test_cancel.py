"""Stopping the acting loops survives a cancellation that one of them swallowed (as 3.11's wait_for can)."""

from __future__ import annotations

import asyncio

from oma.operator.runtime import _cancel


def test_a_task_that_swallows_its_first_cancellation_is_cancelled_again() -> None:
    async def stubborn(ticks: list[int]) -> None:
        swallowed = False
        while True:
            try:
                await asyncio.sleep(0.01)
                ticks.append(1)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed = True  # the race: the cancellation is lost and the loop carries on

    async def scenario() -> tuple[bool, float]:
        ticks: list[int] = []
        task = asyncio.create_task(stubborn(ticks))
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(_cancel([task]), timeout=10)
        return task.cancelled(), loop.time() - started

    cancelled, took = asyncio.run(scenario())
    assert cancelled and took < 5, took
