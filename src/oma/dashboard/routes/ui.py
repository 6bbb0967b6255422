"""The web UI: server-rendered pages (Jinja2, autoescaped) and forms with CSRF tokens. The browser signs in
with a token once; afterwards an HttpOnly, SameSite=Strict session cookie stands for it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..deps import SESSION_COOKIE, Services, client_ip
from ..models import JobFilter, Scope, SubmitRequest, Token
from ..services.errors import Refused
from .charts import usage_chart

router = APIRouter(include_in_schema=False)
CSRF_COOKIE = "oma_csrf"
PHASES = ["Pending", "Queued", "Running", "Suspended", "Succeeded", "Failed", "Cancelled"]

_env = Environment(
    loader=FileSystemLoader(str(resources.files("oma.dashboard").joinpath("templates"))),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
templates = Jinja2Templates(env=_env)


def _csrf_for(request: Request, secret: bytes) -> tuple[str, str]:
    """(cookie value, form token): the form token is an HMAC of the cookie, so a forged cookie planted by a
    sibling site cannot come with a matching field."""
    cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    return cookie, hmac.new(secret, cookie.encode(), hashlib.sha256).hexdigest()


def _check_csrf(request: Request, secret: bytes, field: str) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    expected = hmac.new(secret, cookie.encode(), hashlib.sha256).hexdigest()
    if not cookie or not hmac.compare_digest(expected, field):
        raise Refused(403, "csrf", "the form expired or did not come from this site; reload the page and try again")


def _cookie_args(request: Request, c: Any) -> dict[str, Any]:
    secure = c.settings.secure_cookies or request.url.scheme == "https"
    return {"httponly": True, "samesite": "strict", "secure": secure, "path": "/"}


def render(request: Request, c: Any, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    cookie, csrf = _csrf_for(request, c.secret)
    response = templates.TemplateResponse(request, name, {"csrf": csrf, "stack": c.settings.stack, **context}, status)
    response.set_cookie(CSRF_COOKIE, cookie, **_cookie_args(request, c))
    return response


async def _signed_in(request: Request, c: Any) -> Token | None:
    """The session's token. Unlike the API, the UI accepts the cookie on POSTs too: its forms carry CSRF
    tokens, checked before this is called."""
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        return None
    if not c.migrated.is_set():
        raise Refused(503, "unavailable", "the dashboard is starting; try again in a moment")
    token: Token | None = await c.tokens.session_token(session)
    return token


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


@router.get("/login")
async def login_page(request: Request, c: Services) -> Response:
    return render(request, c, "login.html", error=None)


@router.post("/login")
async def login(request: Request, c: Services, token: Annotated[str, Form()], csrf: Annotated[str, Form()]) -> Response:
    _check_csrf(request, c.secret, csrf)
    found = await c.tokens.verify(token.strip())
    if found is None:
        return render(request, c, "login.html", status=401, error="That token is unknown, revoked or expired.")
    session = await c.tokens.open_session(found, c.settings.session_ttl_seconds)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(SESSION_COOKIE, session, max_age=c.settings.session_ttl_seconds, **_cookie_args(request, c))
    return response


@router.post("/logout")
async def logout(request: Request, c: Services, csrf: Annotated[str, Form()]) -> Response:
    _check_csrf(request, c.secret, csrf)
    if session := request.cookies.get(SESSION_COOKIE):
        await c.tokens.close_session(session)
    response = _to_login()
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
async def home(
    request: Request, c: Services, q: str | None = None, phase: str | None = None, cursor: str | None = None
) -> Response:
    token = await _signed_in(request, c)
    if token is None:
        return _to_login()
    filters = JobFilter(phase=phase if phase in PHASES else None, text=(q or "")[:200] or None)
    try:
        page = await c.jobs.page(20, cursor, filters)
    except Refused as e:
        return render(request, c, "error.html", status=e.status, token=token, message=e.message)
    return render(
        request,
        c,
        "home.html",
        token=token,
        page=page,
        presets=list(c.submitter.presets.values()),
        source_claims=c.settings.source_claims,
        phases=PHASES,
        q=q or "",
        phase=phase or "",
        error=None,
        can_submit=token.can(Scope.SUBMIT),
    )


# long: one form, three kinds of source; each refusal is rendered back on the same page
@router.post("/submit")
async def submit_form(
    request: Request,
    c: Services,
    csrf: Annotated[str, Form()],
    preset: Annotated[str, Form()],
    source_kind: Annotated[str, Form()] = "title",
    text: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
    claim: Annotated[str, Form()] = "",
    path: Annotated[str, Form()] = "",
) -> Response:
    _check_csrf(request, c.secret, csrf)
    token = await _signed_in(request, c)
    if token is None:
        return _to_login()
    source: dict[str, str] = {
        "title": {"kind": "title", "text": text.replace("\r\n", "\n")},
        "url": {"kind": "url", "url": url},
        "pvc": {"kind": "pvc", "claim": claim, "path": path},
    }.get(source_kind, {"kind": "title", "text": text})
    try:
        req = SubmitRequest.model_validate({"preset": preset, "source": source})
        job, _, _ = await c.submitter.submit(req, token, client_ip(request), None)
    except (Refused, ValueError) as e:
        message = e.message if isinstance(e, Refused) else str(e).splitlines()[0]
        page = await c.jobs.page(20, None, JobFilter())
        return render(
            request,
            c,
            "home.html",
            status=e.status if isinstance(e, Refused) else 422,
            token=token,
            page=page,
            presets=list(c.submitter.presets.values()),
            source_claims=c.settings.source_claims,
            phases=PHASES,
            q="",
            phase="",
            error=message,
            can_submit=token.can(Scope.SUBMIT),
        )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/jobs/{job_id}")
async def job_page(request: Request, c: Services, job_id: str) -> Response:
    token = await _signed_in(request, c)
    if token is None:
        return _to_login()
    try:
        job = await c.jobs.get(job_id)
    except Refused as e:
        return render(request, c, "error.html", status=e.status, token=token, message=e.message)
    video = next((o for o in job.outputs if o.kind == "mp4"), None)
    sprite = next((o for o in job.outputs if o.kind == "sprite"), None)
    return render(
        request, c, "job.html", token=token, job=job, video=video, sprite=sprite, can_submit=token.can(Scope.SUBMIT)
    )


async def _job_action(request: Request, c: Services, csrf: str, act: Callable[[Token], Awaitable[str]]) -> Response:
    """A form that changes a job: signed in with the submit scope, then to the page of the job `act` names."""
    _check_csrf(request, c.secret, csrf)
    token = await _signed_in(request, c)
    if token is None:
        return _to_login()
    try:
        if not token.can(Scope.SUBMIT):
            raise Refused(403, "forbidden", "this token lacks the submit scope")
        job_id = await act(token)
    except Refused as e:
        return render(request, c, "error.html", status=e.status, token=token, message=e.message)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


@router.post("/jobs/{job_id}/cancel")
async def cancel_form(request: Request, c: Services, job_id: str, csrf: Annotated[str, Form()]) -> Response:
    async def cancel(token: Token) -> str:
        await c.jobs.cancel(job_id, token)
        return job_id

    return await _job_action(request, c, csrf, cancel)


@router.post("/jobs/{job_id}/retry")
async def retry_form(request: Request, c: Services, job_id: str, csrf: Annotated[str, Form()]) -> Response:
    async def retry(token: Token) -> str:
        spec, annotations = await c.jobs.spec_of(job_id)
        job, _, _ = await c.submitter.retry(spec, annotations, token, client_ip(request), None)
        return job.id

    return await _job_action(request, c, csrf, retry)


@router.get("/usage")
async def usage_page(request: Request, c: Services, days: int = 30) -> Response:
    token = await _signed_in(request, c)
    if token is None:
        return _to_login()
    days = min(max(days, 7), 90)
    usage = await c.jobs.usage(days, None)
    spent = await c.limiter.spent_this_month(token, dt.datetime.now(dt.UTC))
    return render(
        request, c, "usage.html", token=token, usage=usage, chart=usage_chart(usage.days), spent=spent, days=days
    )
