"""The Postgres pool and numbered migrations, applied once under an advisory lock."""

from __future__ import annotations

import logging
from importlib import resources

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)
Pool = AsyncConnectionPool[AsyncConnection[DictRow]]
# Any constant shared by every replica; "oma-dash" in ASCII.
MIGRATION_LOCK = 0x6F6D612D64617368


def migration_files() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every packaged migration, in order."""
    found = []
    for entry in resources.files("oma.dashboard.migrations").iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text()))
    return sorted(found)


async def migrate(conn: AsyncConnection[DictRow]) -> list[str]:
    """Apply the migrations this database lacks; returns their names. Two replicas starting together
    serialise on the advisory lock, and the second finds nothing left to do."""
    applied: list[str] = []
    await conn.set_autocommit(True)
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(number int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT number FROM schema_migrations")
        done = {row["number"] for row in await cur.fetchall()}
        for number, name, sql in migration_files():
            if number in done:
                continue
            async with conn.transaction():
                await conn.execute(sql.encode())
                await conn.execute("INSERT INTO schema_migrations (number, name) VALUES (%s, %s)", (number, name))
            applied.append(name)
            log.info("applied migration %s", name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return applied


async def open_pool(conninfo: str, max_size: int) -> Pool:
    """A pool that does not block start-up on Postgres: /readyz reports it, requests needing it get 503."""
    pool: Pool = AsyncConnectionPool(
        conninfo,
        connection_class=AsyncConnection[DictRow],
        min_size=1,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        open=False,
        timeout=5,
        reconnect_timeout=24 * 3600,  # keep trying (with back-off): Postgres comes back after an outage
    )
    await pool.open(wait=False)
    return pool
