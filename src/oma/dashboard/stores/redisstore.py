"""Redis: rate limits (GCRA in one Lua script, several keys in one round trip) and idempotency keys."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

# GCRA (generic cell rate algorithm): one stored number per key, the "theoretical arrival time" (TAT).
# A request is allowed when now >= TAT + interval - window; every key must allow it, and only then do all
# keys advance, so a refusal by the IP limit does not spend the token's budget (and vice versa).
# KEYS: limiter keys; ARGV: pairs of (limit, window_ms) per key. Redis' own clock, so replicas agree.
# Returns {allowed(0/1), then per key: remaining, reset_ms, retry_ms}.
GCRA = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local allowed = 1
local out = {}
local tats = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  local interval = window / limit
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - window
  if now < allow_at then
    allowed = 0
    tats[i] = tat
    out[i] = {math.max(0, math.floor((window - (tat - now)) / interval)),
              math.ceil(tat - now), math.ceil(allow_at - now)}
  else
    tats[i] = new_tat
    out[i] = {math.max(0, math.floor((window - (new_tat - now)) / interval)), math.ceil(new_tat - now), 0}
  end
end
local result = {allowed}
for i, key in ipairs(KEYS) do
  if allowed == 1 then
    redis.call('SET', key, string.format('%.3f', tats[i]), 'PX', math.max(1, math.ceil(tats[i] - now)))
  end
  for _, v in ipairs(out[i]) do table.insert(result, v) end
end
return result
"""


class Unavailable(Exception):
    """Redis could not be reached or answered with an error."""


@dataclass(frozen=True)
class Rule:
    key: str
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: Rule  # the most constraining rule: the one whose numbers the headers report
    remaining: int
    reset_seconds: float
    retry_after_seconds: float


class RedisStore:
    def __init__(self, url: str) -> None:
        # Short timeouts: a dead Redis must turn into a 503 quickly, not a hung request.
        self.client = aioredis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=10, decode_responses=True
        )
        self._gcra = self.client.register_script(GCRA)

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    async def check(self, rules: list[Rule], spend: bool = True) -> Verdict:
        """Whether a request passes every rule; each allowed request spends one unit of each.
        With spend=False only the current state is read (GET /api/limits)."""
        if not spend:
            return await self._peek(rules)
        args: list[Any] = []
        for r in rules:
            args += [r.limit, r.window_seconds * 1000]
        try:
            raw = await self._gcra(keys=[r.key for r in rules], args=args)
        except (RedisError, OSError) as e:
            raise Unavailable(str(e)) from e
        allowed = bool(int(raw[0]))
        verdicts = []
        for i, rule in enumerate(rules):
            remaining, reset_ms, retry_ms = (int(x) for x in raw[1 + 3 * i : 4 + 3 * i])
            verdicts.append(Verdict(allowed, rule, remaining, reset_ms / 1000, retry_ms / 1000))
        if allowed:
            return min(verdicts, key=lambda v: v.remaining)
        return max(verdicts, key=lambda v: v.retry_after_seconds)

    async def _peek(self, rules: list[Rule]) -> Verdict:
        try:
            now_s, now_us = await self.client.time()
            values = await self.client.mget([r.key for r in rules])
        except (RedisError, OSError) as e:
            raise Unavailable(str(e)) from e
        now = now_s * 1000 + now_us // 1000
        verdicts = []
        for rule, value in zip(rules, values, strict=True):
            window = rule.window_seconds * 1000
            interval = window / rule.limit
            tat = max(float(value) if value else now, now)
            remaining = max(0, int((window - (tat - now)) // interval))
            verdicts.append(Verdict(True, rule, remaining, (tat - now) / 1000, 0))
        return min(verdicts, key=lambda v: v.remaining)

    async def claim_idempotency(self, key: str, fingerprint: str, ttl_seconds: int) -> dict[str, Any] | None:
        """Reserve `key` for this request; None when it is ours, else what was stored for it (the earlier
        request's fingerprint and, once done, its result)."""
        mine = json.dumps({"fingerprint": fingerprint, "result": None})
        try:
            if await self.client.set(key, mine, nx=True, ex=ttl_seconds):
                return None
            stored = await self.client.get(key)
        except (RedisError, OSError) as e:
            raise Unavailable(str(e)) from e
        if stored is None:  # expired in between: take it
            return await self.claim_idempotency(key, fingerprint, ttl_seconds)
        return dict(json.loads(stored))

    async def finish_idempotency(self, key: str, fingerprint: str, result: dict[str, Any], ttl_seconds: int) -> None:
        value = json.dumps({"fingerprint": fingerprint, "result": result})
        try:
            await self.client.set(key, value, ex=ttl_seconds)
        except (RedisError, OSError) as e:
            raise Unavailable(str(e)) from e

    async def release_idempotency(self, key: str) -> None:
        """Forget a claim whose request failed before creating anything, so a retry can go ahead."""
        with contextlib.suppress(RedisError, OSError):  # it expires on its own
            await self.client.delete(key)
