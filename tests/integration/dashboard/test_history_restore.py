"""History across a namespace restore: a re-created VideoJob keeps its old row (no second row, no second cost),
and the annotation that names the old row cannot take over another job's; a finished job kept in memory gives
way to its name's next recording. Real Postgres, the real recorder."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from psycopg.conninfo import make_conninfo

from oma.dashboard.services.jobs import Jobs
from oma.dashboard.services.record import Broadcaster, Recorder
from oma.dashboard.settings import Settings
from oma.dashboard.stores.database import Pool, migrate, open_pool
from oma.dashboard.stores.history import HistoryStore
from oma.devservices import LocalPostgres
from oma.models.videojob import RESTORED_UID_ANNOTATION

pytestmark = pytest.mark.services

FINISHED: dict[str, Any] = {
    "metadata": {
        "name": "clip",
        "namespace": "media",
        "uid": "u-old",
        "creationTimestamp": "2026-11-20T11:00:00Z",
        "labels": {"video.oma.ai/token": "t1"},
    },
    "spec": {"inputs": [{"titleCard": {"text": "Hello"}}]},
    "status": {
        "phase": "Succeeded",
        "startTime": "2026-11-20T11:00:05Z",
        "completionTime": "2026-11-20T11:00:35Z",
        "progress": {"encodeSeconds": 3600},
    },
}


def restored(name: str, uid: str, old_uid: str) -> dict[str, Any]:
    body = copy.deepcopy(FINISHED)
    body["metadata"].update(name=name, uid=uid, namespace="media-restored", creationTimestamp="2026-11-26T09:00:00Z")
    body["metadata"]["annotations"] = {RESTORED_UID_ANNOTATION: old_uid}
    return body


@pytest.fixture
async def pool(postgres_db: LocalPostgres) -> AsyncIterator[Pool]:
    info = make_conninfo(
        host="127.0.0.1", port=postgres_db.port, dbname=postgres_db.database, user="oma", password=postgres_db.password
    )
    p = await open_pool(info, 2)
    await p.wait(timeout=30)
    async with p.connection() as conn:
        await migrate(conn)
    yield p
    await p.close()


async def rows(pool: Pool) -> list[tuple[str, str, str]]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT uid, name, namespace FROM jobs ORDER BY uid")
        return [(r["uid"], r["name"], r["namespace"]) for r in await cur.fetchall()]


async def test_a_restored_videojob_keeps_its_history_row_and_its_cost_counts_once(pool: Pool) -> None:
    history = HistoryStore(pool)
    recorder = Recorder(None, history, None, "s", "1", 0.05)  # type: ignore[arg-type]  # record() uses neither
    await recorder.record(copy.deepcopy(FINISHED))
    since = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    spent = await history.spent_since("t1", since)
    assert spent == Decimal("0.05")

    await recorder.record(restored("clip", "u-new", "u-old"))
    assert await rows(pool) == [("u-old", "clip", "media-restored")]
    assert await history.spent_since("t1", since) == spent

    # Restored before the Postgres dump is back: recorded under the old uid, which the dump's row then replaces.
    await recorder.record(restored("intro", "u-new-2", "u-gone"))
    assert ("u-gone", "intro", "media-restored") in await rows(pool)


async def test_the_annotation_cannot_take_over_another_jobs_row(pool: Pool) -> None:
    recorder = Recorder(None, HistoryStore(pool), None, "s", "1", 0.05)  # type: ignore[arg-type]
    await recorder.record(copy.deepcopy(FINISHED))
    await recorder.record(restored("impostor", "u-x", "u-old"))
    assert await rows(pool) == [("u-old", "clip", "media"), ("u-x", "impostor", "media-restored")]
    assert not recorder.pending


async def test_a_finished_job_is_read_from_memory_until_its_name_is_recorded_again(pool: Pool) -> None:
    history = HistoryStore(pool)
    jobs = Jobs(Settings(), history, None, None)  # type: ignore[arg-type]  # get() of a recorded job uses neither
    recorder = Recorder(None, history, None, "s", "1", 0.05, on_change=jobs.history_changed)  # type: ignore[arg-type]
    await recorder.record(copy.deepcopy(FINISHED))
    assert (await jobs.get("clip")).phase == "Succeeded"

    # Kept: a change behind the dashboard's back (no recorder write) is not read again...
    async with pool.connection() as conn:
        await conn.execute("UPDATE jobs SET title = 'changed directly' WHERE uid = 'u-old'")
    assert (await jobs.get("clip")).title == "Hello"

    # ...but the recorder writing that name again (a VideoJob re-created under it) drops the kept copy.
    again = copy.deepcopy(FINISHED)
    again["metadata"].update(uid="u-again", creationTimestamp="2026-11-27T09:00:00Z")
    again["status"] = {"phase": "Running", "startTime": "2026-11-27T09:00:01Z"}
    await recorder.record(again)
    job = await jobs.get("clip")
    assert (job.uid, job.phase) == ("u-again", "Running")


async def test_a_state_that_changes_nothing_in_the_row_is_not_written_again(pool: Pool) -> None:
    recorder = Recorder(None, HistoryStore(pool), Broadcaster(), "s", "1", 0.05)  # type: ignore[arg-type]
    queued = copy.deepcopy(FINISHED)
    queued["metadata"]["labels"]["video.oma.ai/stack"] = "s"
    queued["status"] = {"phase": "Queued", "queuePosition": 7}
    await recorder.record(queued)

    async def title() -> str:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT title FROM jobs WHERE uid = 'u-old'")
            row = await cur.fetchone()
            assert row is not None
            return str(row["title"])

    async with pool.connection() as conn:  # a mark only a second write would remove
        await conn.execute("UPDATE jobs SET title = 'marked' WHERE uid = 'u-old'")
    moved = copy.deepcopy(queued)
    moved["status"]["queuePosition"] = 3  # not part of the row
    recorder.handle("MODIFIED", moved)
    assert recorder.pending
    assert await recorder.record(moved)
    assert await title() == "marked"
    assert not recorder.pending

    running = copy.deepcopy(queued)
    running["status"] = {"phase": "Running", "startTime": "2026-11-20T11:00:05Z"}
    await recorder.record(running)
    assert await title() == "Hello"

    # A job deleted while unfinished leaves nothing behind in the recorder.
    recorder.handle("DELETED", running)
    assert not recorder._written
