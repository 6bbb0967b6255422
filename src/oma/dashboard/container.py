"""Everything a request needs, built once at start-up from the settings (and closed at shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import psycopg

from .services.jobs import Jobs
from .services.limits import Limiter
from .services.presets import load_presets
from .services.record import Broadcaster, Recorder
from .services.submit import Submitter
from .settings import Settings
from .stores.database import Pool, migrate, open_pool
from .stores.history import HistoryStore
from .stores.kube import VideoJobStore
from .stores.redisstore import RedisStore
from .stores.tokens import TokenStore

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    pool: Pool
    redis: RedisStore
    videojobs: VideoJobStore
    tokens: TokenStore
    history: HistoryStore
    limiter: Limiter
    submitter: Submitter
    jobs: Jobs
    broadcaster: Broadcaster
    recorder: Recorder
    migrated: asyncio.Event = field(default_factory=asyncio.Event)
    secret: bytes = b""
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings, videojobs: VideoJobStore | None = None) -> Container:
        pool = await open_pool(settings.postgres_conninfo(), settings.postgres_pool_max)
        redis = RedisStore(settings.redis_url)
        videojobs = videojobs or VideoJobStore.connect(settings.kubeconfig, settings.namespace)
        history = HistoryStore(pool)
        limiter = Limiter(settings, redis, history)
        broadcaster = Broadcaster()
        presets = load_presets(settings.presets_file)
        jobs = Jobs(settings, history, videojobs, broadcaster)
        recorder = Recorder(
            videojobs,
            history,
            broadcaster,
            settings.stack,
            settings.worker_cpu_request,
            settings.price_per_cpu_hour,
            on_change=jobs.history_changed,
        )
        c = cls(
            settings=settings,
            pool=pool,
            redis=redis,
            videojobs=videojobs,
            tokens=TokenStore(pool, settings.token_cache_seconds),
            history=history,
            limiter=limiter,
            submitter=Submitter(settings, presets, limiter, redis, videojobs),
            jobs=jobs,
            broadcaster=broadcaster,
            recorder=recorder,
        )
        c.tasks.append(asyncio.create_task(c._prepare_database()))
        return c

    async def _prepare_database(self) -> None:
        """Migrate (once Postgres answers), then start the recorder: history needs its tables."""
        while True:
            try:
                async with self.pool.connection() as conn:
                    await migrate(conn)
                self.secret = await self.tokens.app_secret()
                break
            except (psycopg.OperationalError, TimeoutError) as e:
                log.warning("Postgres not ready for migrations (%s); retrying", e)
                await asyncio.sleep(1)
        self.migrated.set()
        if self.settings.recorder:
            self.tasks.append(asyncio.create_task(self.recorder.run()))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.redis.close()
        await self.videojobs.close()
        await self.pool.close()
