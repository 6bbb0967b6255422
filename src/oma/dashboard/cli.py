"""`oma dashboard` (serve) and `oma dashboard token create|list|revoke`; imports the app only when used."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import faulthandler
import re
import signal
import sys
from decimal import Decimal, InvalidOperation

DURATION = re.compile(r"^(\d+)([dh])$")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    sub = p.add_subparsers(dest="dashboard_cmd")
    t = sub.add_parser("token", help="manage API tokens (uses the OMA_POSTGRES_* settings)")
    tsub = t.add_subparsers(dest="token_cmd", required=True)
    c = tsub.add_parser("create", help="create a token; prints it once")
    c.add_argument("--name", required=True)
    c.add_argument("--scopes", default="read,submit", help="comma-separated: read, submit, admin")
    c.add_argument("--budget", help="monthly budget in USD (default: none)")
    c.add_argument("--expires-in", help="e.g. 30d or 12h (default: never)")
    tsub.add_parser("list", help="list tokens (never their secrets)")
    r = tsub.add_parser("revoke", help="revoke a token by id")
    r.add_argument("id")


def run(args: argparse.Namespace) -> int:
    if args.dashboard_cmd == "token":
        return asyncio.run(_token(args))
    import logging

    import uvicorn

    # `kill -USR1 <pid>` prints every thread's stack: how to see where a stuck server is.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        "oma.dashboard.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def _expiry(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    m = DURATION.match(value)
    if not m:
        raise ValueError(f"--expires-in: expected e.g. 30d or 12h, got {value!r}")
    unit = {"d": "days", "h": "hours"}[m.group(2)]
    return dt.datetime.now(dt.UTC) + dt.timedelta(**{unit: int(m.group(1))})


# long: three small commands sharing one connection set-up
async def _token(args: argparse.Namespace) -> int:
    from .models import Scope
    from .settings import Settings
    from .stores.database import migrate, open_pool
    from .stores.tokens import TokenStore

    settings = Settings()
    pool = await open_pool(settings.postgres_conninfo(), 2)
    try:
        await pool.wait(timeout=10)
        async with pool.connection() as conn:
            await migrate(conn)
        store = TokenStore(pool)
        if args.token_cmd == "create":  # noqa: S105 (a command name)
            try:
                scopes = [Scope(s.strip()) for s in args.scopes.split(",") if s.strip()]
                budget_usd = Decimal(args.budget) if args.budget else None
                expires_at = _expiry(args.expires_in)
            except (ValueError, InvalidOperation) as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            token, raw = await store.create(args.name, scopes, budget_usd, expires_at)
            print(f"created token {token.id} ({token.name}); it is shown only once:", file=sys.stderr)
            print(raw)
        elif args.token_cmd == "list":  # noqa: S105
            print(f"{'ID':14} {'NAME':20} {'SCOPES':18} {'BUDGET':>8} {'EXPIRES':20} STATE")
            for t in await store.list():
                state = "revoked" if t.revoked_at else "active"
                expires = t.expires_at.strftime("%Y-%m-%d %H:%M") if t.expires_at else "never"
                budget = f"{t.budget_usd:.2f}" if t.budget_usd is not None else "-"
                print(f"{t.id:14} {t.name[:20]:20} {','.join(t.scopes):18} {budget:>8} {expires:20} {state}")
        elif not await store.revoke(args.id):
            print(f"error: no active token {args.id}", file=sys.stderr)
            return 1
        else:
            print(f"revoked {args.id}")
        return 0
    finally:
        await pool.close()
