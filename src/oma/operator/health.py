"""/healthz (liveness) and /readyz (readiness) of the operator process.

Liveness fails when the process no longer makes progress: a leader's reconcile loops stopped turning, or the
election loop itself stalled. Readiness also tells the two roles apart by what each must be able to do: the
leader reconciles; a standby follows the lease, ready to take over. Both answer 200 when healthy, with the role
in the body, because a Deployment's rolling update and a PodDisruptionBudget count ready pods: a standby that
is never ready would stall every rollout and block every drain of the leader's node.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

STALL_SECONDS = 30.0


@dataclass
class Health:
    leading: Callable[[], bool]
    loop_ages: Callable[[], list[float]]  # seconds since each reconcile loop last turned (leader only)
    election_age: Callable[[], float | None]  # seconds since the election loop last tried (None: no election)
    lease_seen_age: Callable[[], float | None]  # seconds since the API server last answered the election
    last_event_age: Callable[[], float]
    api_grace: float = 10.0  # an API server silent for longer is an outage (the renew deadline)

    def liveness(self) -> tuple[bool, dict[str, object]]:
        body: dict[str, object] = {"lastWatchEventAgeSeconds": round(self.last_event_age(), 1)}
        if self.leading():
            age = max(self.loop_ages(), default=0.0)
            body["reconcileLoopAgeSeconds"] = round(age, 1)
            if age > STALL_SECONDS:
                return False, {**body, "error": f"a reconcile loop has not run for {age:.0f}s"}
        election = self.election_age()
        if election is not None:
            body["electionLoopAgeSeconds"] = round(election, 1)
            if election > STALL_SECONDS:
                return False, {**body, "error": f"the leader election loop has not run for {election:.0f}s"}
        seen = self.lease_seen_age()
        if seen is not None and seen > self.api_grace:
            # Reported, not fatal: restarting the operator cannot bring the API server back.
            body["apiServerUnreachableSeconds"] = round(seen, 1)
        return True, body

    def readiness(self) -> tuple[bool, dict[str, object]]:
        alive, body = self.liveness()
        body["role"] = "leader" if self.leading() else "standby"
        if alive and "apiServerUnreachableSeconds" in body:
            return False, {
                **body,
                "error": f"the API server has not answered for {body['apiServerUnreachableSeconds']}s",
            }
        return alive, body


def _answer(check: Callable[[], tuple[bool, dict[str, object]]]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(_: web.Request) -> web.Response:
        ok, body = check()
        return web.Response(status=200 if ok else 503, text=json.dumps(body), content_type="application/json")

    return handle


async def serve(health: Health, port: int, host: str = "0.0.0.0") -> web.AppRunner:  # noqa: S104 (a pod's probe port)
    app = web.Application()
    app.router.add_get("/healthz", _answer(health.liveness))
    app.router.add_get("/readyz", _answer(health.readiness))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def since(monotonic: float) -> float:
    return time.monotonic() - monotonic
