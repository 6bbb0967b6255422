"""Rate limits per token and per client IP, per endpoint class, and the monthly budget."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from .. import metrics
from ..models import LimitState, Token
from ..settings import Settings
from ..stores.history import HistoryStore
from ..stores.redisstore import RedisStore, Rule, Unavailable, Verdict
from .errors import Refused

WINDOW_SECONDS = 60


class EndpointClass(StrEnum):
    SUBMIT = "submit"
    READ = "read"


def rules_for(settings: Settings, endpoint: EndpointClass, token_id: str, client_ip: str) -> list[Rule]:
    per_token, per_ip = {
        EndpointClass.SUBMIT: (settings.rate_submit_per_minute, settings.rate_ip_submit_per_minute),
        EndpointClass.READ: (settings.rate_read_per_minute, settings.rate_ip_read_per_minute),
    }[endpoint]
    prefix = f"oma:{settings.stack}:rl:{endpoint}"
    return [
        Rule(f"{prefix}:token:{token_id}", per_token, WINDOW_SECONDS),
        Rule(f"{prefix}:ip:{client_ip}", per_ip, WINDOW_SECONDS),
    ]


def rate_headers(v: Verdict) -> dict[str, str]:
    """IETF draft RateLimit header fields (the separate-fields form), plus Retry-After on refusals."""
    headers = {
        "RateLimit-Limit": str(v.rule.limit),
        "RateLimit-Remaining": str(v.remaining),
        "RateLimit-Reset": str(max(0, round(v.reset_seconds))),
        "RateLimit-Policy": f"{v.rule.limit};w={v.rule.window_seconds}",
    }
    if not v.allowed:
        headers["Retry-After"] = str(max(1, int(-(-v.retry_after_seconds // 1))))
    return headers


class Limiter:
    def __init__(self, settings: Settings, redis: RedisStore, history: HistoryStore) -> None:
        self.settings, self.redis, self.history = settings, redis, history

    async def check(self, endpoint: EndpointClass, token: Token, client_ip: str) -> dict[str, str]:
        """Headers to send; raises 429 when over a limit. Redis down: submissions fail closed (503, nothing
        is created: limits and idempotency cannot be enforced), reads fail open (no headers)."""
        try:
            verdict = await self.redis.check(rules_for(self.settings, endpoint, token.id, client_ip))
        except Unavailable as e:
            if endpoint is EndpointClass.SUBMIT:
                raise Refused(
                    503,
                    "unavailable",
                    "submissions are paused: the rate-limit store (Redis) cannot be reached; nothing was created",
                    {"Retry-After": "5"},
                ) from e
            return {}
        headers = rate_headers(verdict)
        if not verdict.allowed:
            metrics.RATE_LIMITED.labels(str(endpoint)).inc()
            raise Refused(
                429,
                "rate_limited",
                f"too many {endpoint} requests: {verdict.rule.limit} per {verdict.rule.window_seconds} s; "
                f"retry in {headers['Retry-After']} s",
                headers,
            )
        return headers

    async def state(self, endpoint: EndpointClass, token: Token, client_ip: str) -> LimitState | None:
        try:
            v = await self.redis.check(rules_for(self.settings, endpoint, token.id, client_ip), spend=False)
        except Unavailable:
            return None
        return LimitState(
            limit=v.rule.limit,
            remaining=v.remaining,
            reset_seconds=v.reset_seconds,
            window_seconds=v.rule.window_seconds,
        )

    async def spent_this_month(self, token: Token, now: dt.datetime) -> Decimal:
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return await self.history.spent_since(token.id, month_start)

    async def check_budget(self, token: Token, now: dt.datetime) -> None:
        if token.budget_usd is None:
            return
        spent = await self.spent_this_month(token, now)
        if token.budget_usd > 0:
            metrics.BUDGET_USED.labels(token.name).set(float(spent / token.budget_usd))
        if spent >= token.budget_usd:
            raise Refused(
                402,
                "budget_exceeded",
                f"this token's monthly budget of ${token.budget_usd:.2f} is spent (${spent:.4f} so far this month)",
            )
