"""History: one row per VideoJob (by uid), written by the recorder, read by the API and the UI."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from ..models import JobFilter, JobRecord
from .database import Pool

FINISHED = ("Succeeded", "Failed", "Cancelled")
COLUMNS = list(JobRecord.model_fields)
# Only column names are interpolated (JobRecord's fields); every value is a bound parameter. A later sight
# of a job overwrites everything but its key and creation time, and only a row of the same name: a key taken
# from a restored VideoJob's annotation never overwrites another job's row.
_UPDATES = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c not in ("uid", "created_at"))
UPSERT = (
    "WITH before AS (SELECT finished_at FROM jobs WHERE uid = %(uid)s) "  # noqa: S608
    f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES ({', '.join(f'%({c})s' for c in COLUMNS)}) "
    f"ON CONFLICT (uid) DO UPDATE SET {_UPDATES}, updated_at = now() WHERE jobs.name = EXCLUDED.name "
    "RETURNING xmax = 0 AS inserted, (SELECT finished_at FROM before) IS NULL AS newly_finished"
).encode()
# What the API and the UI show: every column but the spec, a whole VideoJob spec that only a retry needs and
# whose JSON would otherwise be decoded for every row of every page.
LISTED = ", ".join(c for c in COLUMNS if c != "spec")


@dataclass(frozen=True)
class Written:
    inserted: bool  # a new row, not an update: a new job in the history
    newly_finished: bool  # this write finished the job: its cost counts now


def encode_cursor(created_at: dt.datetime, uid: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{uid}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    """Raises ValueError for anything that is not a cursor we issued."""
    try:
        created, _, uid = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        when = dt.datetime.fromisoformat(created)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError("not a valid cursor") from e
    if not uid or when.tzinfo is None:
        raise ValueError("not a valid cursor")
    return when, uid


class HistoryStore:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def upsert(self, record: JobRecord) -> Written | None:
        """Insert or update the row of `record.uid`. `newly_finished` is true only for the write that finished
        the job, so the cost is counted once however often a job is recorded. None when that uid's row belongs
        to a job of another name: nothing was written."""
        values: dict[str, Any] = record.model_dump()
        values["outputs"], values["spec"] = Jsonb(values["outputs"]), Jsonb(values["spec"])
        async with self.pool.connection() as conn:
            cur = await conn.execute(UPSERT, values)
            row = await cur.fetchone()
        if row is None:
            return None
        return Written(bool(row["inserted"]), bool(row["newly_finished"] and record.finished_at is not None))

    async def get(self, name: str) -> dict[str, Any] | None:
        """The newest job of that name, without its spec."""
        async with self.pool.connection() as conn:
            sql = f"SELECT {LISTED} FROM jobs WHERE name = %s ORDER BY created_at DESC LIMIT 1"  # noqa: S608
            cur = await conn.execute(sql.encode(), (name,))
            return await cur.fetchone()

    async def spec(self, name: str) -> dict[str, Any] | None:
        """The spec the newest job of that name ran with (for a retry)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT spec FROM jobs WHERE name = %s ORDER BY created_at DESC LIMIT 1", (name,))
            row = await cur.fetchone()
        return dict(row["spec"]) if row else None

    async def page(self, limit: int, cursor: str | None, filters: JobFilter) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first, keyset-paginated on (created_at, uid) so pages stay cheap at any depth."""
        where, args = ["TRUE"], []
        if cursor:
            when, uid = decode_cursor(cursor)
            where.append("(created_at, uid) < (%s, %s)")
            args += [when, uid]
        if filters.phase:
            where.append("phase = %s")
            args.append(filters.phase)
        if filters.since:
            where.append("created_at >= %s")
            args.append(filters.since)
        if filters.until:
            where.append("created_at < %s")
            args.append(filters.until)
        if filters.text:
            where.append("(title ILIKE %s OR source_summary ILIKE %s OR name ILIKE %s)")
            pattern = "%" + filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [pattern, pattern, pattern]
        # The WHERE clauses are fixed strings chosen above; every value is a bound parameter.
        sql = f"SELECT {LISTED} FROM jobs WHERE {' AND '.join(where)} ORDER BY created_at DESC, uid DESC LIMIT %s"  # noqa: S608
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql.encode(), [*args, limit + 1])
            rows = await cur.fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1]["created_at"], rows[-1]["uid"]) if more and rows else None

    async def spent_since(self, token_id: str, since: dt.datetime) -> Decimal:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT COALESCE(SUM(cost_usd), 0) AS spent FROM jobs WHERE token_id = %s AND created_at >= %s",
                (token_id, since),
            )
            row = await cur.fetchone()
        return Decimal(row["spent"]) if row else Decimal(0)

    async def usage_by_day(self, since: dt.datetime, token_id: str | None) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS jobs, "
                "COALESCE(SUM(output_seconds), 0) / 60 AS output_minutes, "
                "COALESCE(SUM(encode_seconds), 0) / 60 AS encode_minutes, COALESCE(SUM(cost_usd), 0) AS cost_usd "
                "FROM jobs WHERE created_at >= %s AND (%s::text IS NULL OR token_id = %s) GROUP BY 1 ORDER BY 1",
                (since, token_id, token_id),
            )
            return await cur.fetchall()

    async def cost_by_token(self, since: dt.datetime) -> dict[str, Decimal]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT COALESCE(submitted_by, '(kubectl)') AS who, COALESCE(SUM(cost_usd), 0) AS cost "
                "FROM jobs WHERE created_at >= %s GROUP BY 1 ORDER BY 2 DESC",
                (since,),
            )
            return {r["who"]: Decimal(r["cost"]) for r in await cur.fetchall()}

    async def count(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM jobs")
            row = await cur.fetchone()
        return int(row["n"]) if row else 0
