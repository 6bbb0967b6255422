"""Locust users for bench/dashboard_load.py (run by locust in its own process: gevent patches at import).

OMA_BENCH_MODE=mixed: 80 % GET /api/jobs?limit=20, 15 % GET /api/jobs/{id}, 5 % POST /api/generate.
OMA_BENCH_MODE=bare: GET /healthz only (the same server stack with no I/O behind it).
Each user keeps OMA_BENCH_USER_RATE requests per second, so users x rate is the offered load."""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

from locust import constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

MODE = os.environ.get("OMA_BENCH_MODE", "mixed")
TOKEN = os.environ.get("OMA_BENCH_TOKEN", "")
IDS = Path(os.environ["OMA_BENCH_IDS"]).read_text().split() if os.environ.get("OMA_BENCH_IDS") else []
RATE = float(os.environ.get("OMA_BENCH_USER_RATE", "4"))


class Mixed(FastHttpUser):
    wait_time = constant_throughput(RATE)

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Bearer {TOKEN}"}

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
        if MODE == "bare":
            self.client.get("/healthz", name="bare /healthz")
            return
        body = {"title": f"load {uuid.uuid4().hex[:8]}"}
        with self.client.post(
            "/api/generate", json=body, headers=self.auth, name="POST /api/generate", catch_response=True
        ) as r:
            if r.status_code != 202:
                r.failure(f"{r.status_code}: {r.text[:200]}")
