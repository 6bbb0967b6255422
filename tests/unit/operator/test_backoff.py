from __future__ import annotations

import time

from oma.operator.backoff import Backoff


def test_delays_double_up_to_the_cap_and_success_forgets() -> None:
    b: Backoff[str] = Backoff(first=1.0, cap=4.0)
    assert [b.failed("k") for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    now = time.monotonic()
    assert b.waiting(now) == {"k"} and b.due(now) == set()
    assert b.due(now + 5) == {"k"}
    b.forget("k")
    assert b.failed("k") == 1.0
