"""Request dependencies in one place: the container, the caller's token, read rate limits."""

from __future__ import annotations

from typing import Annotated

import psycopg
from fastapi import Depends, Request, Response

from .container import Container
from .models import Scope, Token
from .services.errors import Refused, unavailable
from .services.limits import EndpointClass

SESSION_COOKIE = "oma_session"


async def container(request: Request) -> Container:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a thread hand-off on every request.
    c: Container = request.app.state.container
    return c


Services = Annotated[Container, Depends(container)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def token_of(request: Request, c: Container) -> Token | None:
    """The caller's token: a Bearer token, or the browser's session (cookie) on safe methods only, so a
    cross-site form can never act with it (the UI's own forms carry CSRF tokens and go through /ui)."""
    if not c.migrated.is_set():
        raise unavailable("the database (migrating)")
    auth = request.headers.get("authorization", "")
    try:
        if auth[:7].lower() == "bearer ":
            return await c.tokens.verify(auth[7:].strip())
        session = request.cookies.get(SESSION_COOKIE)
        if session and request.method in ("GET", "HEAD"):
            return await c.tokens.session_token(session)
    except psycopg.OperationalError as e:
        raise unavailable("the token store (Postgres)") from e
    return None


async def authenticated(request: Request, c: Services) -> Token:
    token = await token_of(request, c)
    if token is None:
        raise Refused(
            401,
            "unauthorized",
            "a valid, unexpired, unrevoked API token is required (Authorization: Bearer oma_...)",
            {"WWW-Authenticate": 'Bearer realm="oma"'},
        )
    if not token.can(Scope.READ) and not token.can(Scope.SUBMIT):
        raise Refused(403, "forbidden", "this token has no usable scope")
    return token


Caller = Annotated[Token, Depends(authenticated)]


def require(scope: Scope) -> object:
    async def check(token: Caller) -> Token:
        if not token.can(scope):
            raise Refused(403, "forbidden", f"this token lacks the {scope} scope")
        return token

    return Depends(check)


async def read_limited(request: Request, response: Response, c: Services, token: Caller) -> Token:
    """Reads spend the caller's read budget; with Redis down they go ahead without limits (fail open)."""
    if not token.can(Scope.READ):
        raise Refused(403, "forbidden", "this token lacks the read scope")
    headers = await c.limiter.check(EndpointClass.READ, token, client_ip(request))
    response.headers.update(headers)
    request.state.rate_headers = headers  # for routes that build their own Response
    return token


Reader = Annotated[Token, Depends(read_limited)]
