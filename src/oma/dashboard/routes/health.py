"""Probes and metrics: no token needed (they say nothing about anyone's jobs)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import metrics
from ..deps import Services
from ..models import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive and serving (liveness): no dependency is checked, so an outage of Redis or
    Postgres never makes Kubernetes restart healthy dashboards."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(c: Services) -> JSONResponse:
    """Redis, Postgres (migrated) and the apiserver are reachable (readiness)."""

    async def postgres() -> bool:
        if not c.migrated.is_set():
            return False
        try:
            async with c.pool.connection(timeout=2) as conn:
                await conn.execute("SELECT 1")
        except Exception:
            return False
        return True

    results = await asyncio.gather(c.redis.ping(), postgres(), c.videojobs.reachable())
    checks = {
        k: "ok" if v else "unreachable" for k, v in zip(("redis", "postgres", "kubernetes"), results, strict=True)
    }
    ok = all(results)
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def prometheus() -> Response:
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
