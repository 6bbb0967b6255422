"""Locust users for bench/dashboard_load.py (run by locust in its own process: gevent patches at import).

OMA_BENCH_MODE=mixed: 80 % GET /api/jobs?limit=20, 15 % GET /api/jobs/{id}, 5 % POST /api/generate.
OMA_BENCH_MODE=reads: the same, with the 5 % of submissions replaced by history pages (the cluster stays idle).
OMA_BENCH_MODE=bare: GET /healthz only (the same server stack with no I/O behind it).
Each user keeps OMA_BENCH_USER_RATE requests per second, so users x rate is the offered load.

Arrivals are Poisson: each user starts at a random moment and waits an exponential time between starts.
locust's `constant_throughput` with every user spawned in one tick fires them in lock-step: measured with a
listener that only timestamps requests, 20-30 requests arrived within 2 ms four times a second, so the p95 was
the time to serve a whole burst on one event loop, not the latency at 200 requests/s."""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import gevent
from locust import task
from locust.contrib.fasthttp import FastHttpUser

MODE = os.environ.get("OMA_BENCH_MODE", "mixed")
TOKEN = os.environ.get("OMA_BENCH_TOKEN", "")
IDS = Path(os.environ["OMA_BENCH_IDS"]).read_text().split() if os.environ.get("OMA_BENCH_IDS") else []
RATE = float(os.environ.get("OMA_BENCH_USER_RATE", "4"))


def poisson(rate: float) -> Callable[[Mixed], float]:
    """Starts `rate` times a second on average, independent of how long each request took; a user that fell
    behind catches up by at most one request."""

    def wait(user: Mixed) -> float:
        now = time.monotonic()
        user.next_start = max(user.next_start + random.expovariate(rate), now - 1 / rate)
        return max(0.0, user.next_start - now)

    return wait


class Mixed(FastHttpUser):
    wait_time = poisson(RATE)
    next_start = 0.0

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Bearer {TOKEN}"}
        gevent.sleep(random.uniform(0, 1 / RATE))
        self.next_start = time.monotonic()

    @task(80)
    def history(self) -> None:
        if MODE == "bare":
            self.client.get("/healthz", name="bare /healthz")
        else:
            self.client.get("/api/jobs?limit=20", headers=self.auth, name="GET /api/jobs?limit=20")

    @task(15)
    def one_job(self) -> None:
        if MODE == "bare":
            self.client.get("/healthz", name="bare /healthz")
        else:
            self.client.get(f"/api/jobs/{random.choice(IDS)}", headers=self.auth, name="GET /api/jobs/{id}")

    @task(5)
    def generate(self) -> None:
        if MODE != "mixed":
            self.history()
            return
        body = {"title": f"load {uuid.uuid4().hex[:8]}"}
        with self.client.post(
            "/api/generate", json=body, headers=self.auth, name="POST /api/generate", catch_response=True
        ) as r:
            if r.status_code != 202:
                r.failure(f"{r.status_code}: {r.text[:200]}")
