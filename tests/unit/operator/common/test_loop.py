"""The reconcile loop both controllers share: back-off per key, what a pass is handed, failures contained."""

from __future__ import annotations

import asyncio
import time

from oma.operator.common.loop import Backoff, PriorityGate, ReconcileLoop


def test_delays_double_up_to_the_cap_and_success_forgets() -> None:
    b: Backoff[str] = Backoff(first=1.0, cap=4.0)
    assert [b.failed("k") for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    now = time.monotonic()
    assert b.waiting(now) == {"k"} and b.due(now) == set()
    assert b.due(now + 5) == {"k"}
    b.forget("k")
    assert b.waiting(now) == set() and b.due(now + 5) == set()


def test_a_pass_gets_dirty_and_due_keys_but_not_those_backing_off() -> None:
    loop: ReconcileLoop[str] = ReconcileLoop("t", debounce=0)
    loop.backoff.failed("waiting")
    loop.backoff.failed("due")
    for key in ("fresh", "waiting"):
        loop.poke(key)
    assert loop.wake.is_set()
    assert loop.take(time.monotonic() + 0.9) == {"fresh"}  # "due" waits 1 s after its first failure
    assert loop.take(time.monotonic() + 1.1) == {"due", "waiting"}
    assert loop.dirty == set()


async def test_guarded_backs_a_failing_key_off_and_a_success_forgets_it() -> None:
    loop: ReconcileLoop[tuple[str, str]] = ReconcileLoop("t", debounce=0)

    async def fail() -> None:
        raise RuntimeError("apiserver said no")

    async def succeed() -> None:
        return None

    assert await loop.guarded(("ns", "a"), fail()) is False
    assert loop.backoff.waiting(time.monotonic()) == {("ns", "a")}
    assert await loop.guarded(("ns", "a"), succeed()) is True
    assert loop.backoff.waiting(time.monotonic()) == set()


async def test_a_failing_pass_does_not_stop_the_loop() -> None:
    loop: ReconcileLoop[str] = ReconcileLoop("t", debounce=0)
    passes: list[set[str]] = []
    second = asyncio.Event()

    async def reconcile(due: set[str]) -> None:
        if due:
            passes.append(due)
        if len(passes) == 1:
            loop.poke("b")
            raise RuntimeError("a bug in one pass")
        if "b" in due:
            second.set()

    task = asyncio.create_task(loop.run(reconcile))
    try:
        loop.poke("a")
        async with asyncio.timeout(10):
            await second.wait()
    finally:
        task.cancel()
    assert passes == [{"a"}, {"b"}]


async def test_the_gate_lets_higher_priority_in_first_then_by_arrival() -> None:
    gate = PriorityGate(1)
    order: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.hold(0):
            await release.wait()

    async def one(name: str, priority: int) -> None:
        async with gate.hold(priority):
            order.append(name)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(one(n, p)) for n, p in [("report-1", 1), ("report-2", 1), ("create", 0)]]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *waiters)
    assert order == ["create", "report-1", "report-2"]


async def test_a_cancelled_waiter_gives_its_place_away_and_the_limit_holds() -> None:
    gate = PriorityGate(2)
    inside = 0
    most = 0
    release = asyncio.Event()

    async def one() -> None:
        nonlocal inside, most
        async with gate.hold(1):
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(one()) for _ in range(5)]
    await asyncio.sleep(0)
    tasks[3].cancel()
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [isinstance(r, asyncio.CancelledError) for r in results] == [False, False, False, True, False]
    assert most == 2
    async with asyncio.timeout(1), gate.hold(0), gate.hold(0):  # both places came back
        pass
