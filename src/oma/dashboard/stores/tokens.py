"""Tokens and browser sessions in Postgres. Secrets are random 256-bit values, so a plain SHA-256 is enough to
store them (no password stretching needed), and compare_digest keeps the check constant-time."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from decimal import Decimal

from ..models import Scope, Token
from .database import Pool

PREFIX = "oma_"


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _expired(token: Token) -> bool:
    return token.expires_at is not None and token.expires_at <= dt.datetime.now(dt.UTC)


def split_token(raw: str) -> tuple[str, str] | None:
    """`oma_<id>_<secret>` -> (id, secret); None for anything else."""
    if not raw.startswith(PREFIX):
        return None
    token_id, sep, secret = raw[len(PREFIX) :].partition("_")
    if not sep or not token_id or not secret or len(raw) > 200:
        return None
    return token_id, secret


class TokenStore:
    def __init__(self, pool: Pool, cache_seconds: float = 0) -> None:
        self.pool, self.cache_seconds = pool, cache_seconds
        # sha256(raw token) -> (token, monotonic deadline). A request's token is checked against Postgres at
        # most every cache_seconds per process, so a revocation takes effect within that time.
        self._cache: dict[bytes, tuple[Token, float]] = {}

    async def create(
        self, name: str, scopes: list[Scope], budget_usd: Decimal | None, expires_at: dt.datetime | None
    ) -> tuple[Token, str]:
        """The stored token and its raw value, which is shown once and never stored."""
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO tokens (id, name, secret_hash, scopes, budget_usd, expires_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                (token_id, name, _hash(secret), [str(s) for s in scopes], budget_usd, expires_at),
            )
            row = await cur.fetchone()
        assert row is not None
        return Token.model_validate(row), f"{PREFIX}{token_id}_{secret}"

    async def list(self) -> list[Token]:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT * FROM tokens ORDER BY created_at")
            return [Token.model_validate(r) for r in await cur.fetchall()]

    async def revoke(self, token_id: str) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (token_id,)
            )
            await conn.execute("DELETE FROM sessions WHERE token_id = %s", (token_id,))
            return cur.rowcount == 1

    async def verify(self, raw: str) -> Token | None:
        """The token for a raw value if it is known, not revoked and not expired."""
        key, now = _hash(raw), time.monotonic()
        cached = self._cache.get(key)
        if cached and cached[1] > now and not _expired(cached[0]):
            return cached[0]
        token = await self._verify(raw)
        if token is not None and self.cache_seconds > 0:
            if len(self._cache) > 10_000:  # bounded: forget everything rather than track ages
                self._cache.clear()
            self._cache[key] = (token, now + self.cache_seconds)
        else:
            self._cache.pop(key, None)
        return token

    async def _verify(self, raw: str) -> Token | None:
        parts = split_token(raw)
        if parts is None:
            return None
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM tokens WHERE id = %s AND revoked_at IS NULL "
                "AND (expires_at IS NULL OR expires_at > now())",
                (parts[0],),
            )
            row = await cur.fetchone()
        if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), _hash(parts[1])):
            return None
        return Token.model_validate(row)

    async def open_session(self, token: Token, ttl_seconds: int) -> str:
        session = secrets.token_urlsafe(32)
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM sessions WHERE expires_at < now()")
            await conn.execute(
                "INSERT INTO sessions (id_hash, token_id, expires_at) "
                "VALUES (%s, %s, now() + make_interval(secs => %s))",
                (_hash(session), token.id, ttl_seconds),
            )
        return session

    async def session_token(self, session: str) -> Token | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT t.* FROM sessions s JOIN tokens t ON t.id = s.token_id WHERE s.id_hash = %s "
                "AND s.expires_at > now() AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())",
                (_hash(session),),
            )
            row = await cur.fetchone()
        return Token.model_validate(row) if row else None

    async def close_session(self, session: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM sessions WHERE id_hash = %s", (_hash(session),))

    async def app_secret(self) -> bytes:
        """One random secret shared by every replica (CSRF tokens), created by whichever starts first."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO app_secret (id, value) VALUES (1, %s) ON CONFLICT (id) DO NOTHING",
                (secrets.token_bytes(32),),
            )
            cur = await conn.execute("SELECT value FROM app_secret WHERE id = 1")
            row = await cur.fetchone()
        assert row is not None
        return bytes(row["value"])
