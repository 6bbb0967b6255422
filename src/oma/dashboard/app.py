"""The ASGI app: FastAPI (routes, OpenAPI), error shape, security headers, request metrics, lifespan."""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics
from .container import Container
from .routes import api, health, ui
from .services.errors import Refused
from .settings import Settings
from .stores.kube import VideoJobStore

log = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


class Instrumented:
    """Latency by route template and status, plus the security headers on every response (pure ASGI, so
    streaming responses such as SSE pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapped)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.REQUEST_SECONDS.labels(template, scope["method"], str(status)).observe(time.perf_counter() - start)


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as {"error": {"code", "message"}} with its status; never a stack trace."""

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(psycopg.OperationalError)
    async def database_down(_: Request, exc: psycopg.OperationalError) -> JSONResponse:
        return error_response(503, "unavailable", "the database (Postgres) is unreachable; try again shortly")

    @app.exception_handler(Exception)
    async def crashed(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal", "an internal error occurred; it has been logged")


def create_app(settings: Settings | None = None, videojobs: VideoJobStore | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.container = await Container.start(settings, videojobs)
        # What start-up built (FastAPI's routes and schemas, pydantic's validators, the pools) lives as long as
        # the process; frozen, it is no longer scanned by every full collection, each of which took ~90 ms
        # under the load bench and showed as the p99.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.container.close()

    app = FastAPI(
        title="oma dashboard",
        version="1",
        summary="Submit, follow and find video jobs of one OmaStack.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI loads scripts from a CDN, which the CSP forbids; /openapi.json stays
        redoc_url=None,
        responses={
            401: {"model": api.ErrorResponse, "description": "No valid token."},
            422: {"model": api.ErrorResponse, "description": "The request is invalid; the message says why."},
        },
    )
    app.state.settings = settings

    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(ui.router)
    static: Any = resources.files("oma.dashboard").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.add_middleware(Instrumented)
    return app
