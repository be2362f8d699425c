"""The process's resources, wired once: database pool, activity stream and run executor.

The app's lifespan and the `collect` command both open a `Runtime`, so a run started from either
goes through the same parts wired the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from app import metrics
from app.config import Settings
from app.db.pool import Database, Pool, open_database
from app.scrapers.factory import marketplace_factory
from app.services.activity_redis import RedisActivityStream
from app.services.activity_stream import ActivityBackend, ActivityStreamManager
from app.services.metrics_report import observe_pool
from app.services.runs.executor import RunExecutor


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    database: Database
    activity_stream: ActivityBackend
    executor: RunExecutor

    @property
    def pool(self) -> Pool:
        return self.database.pool


_POOL_OBSERVE_SECONDS = 5.0


def build_activity_backend(settings: Settings) -> ActivityBackend:
    """Redis Streams when `REDIS_URL` is set (several processes), else in memory (one process)."""
    if settings.redis_url:
        return RedisActivityStream(
            settings.redis_url,
            key_prefix=settings.redis_key_prefix,
            history=settings.activity_history,
            subscriber_queue_size=settings.activity_subscriber_queue_size,
            finished_ttl_seconds=settings.activity_finished_grace_seconds,
            idle_ttl_seconds=settings.activity_idle_ttl_seconds,
            write_delay_seconds=settings.activity_write_delay_ms / 1000,
        )
    return ActivityStreamManager(
        history=settings.activity_history,
        subscriber_queue_size=settings.activity_subscriber_queue_size,
        finished_grace_seconds=settings.activity_finished_grace_seconds,
        idle_ttl_seconds=settings.activity_idle_ttl_seconds,
        write_delay_seconds=settings.activity_write_delay_ms / 1000,
    )


async def _observe_pool(pool: Pool) -> None:
    # With several processes a scrape reaches only one of them; the others publish their pool use this way.
    while True:
        observe_pool(pool)
        await asyncio.sleep(_POOL_OBSERVE_SECONDS)


@asynccontextmanager
async def open_runtime(settings: Settings, *, adopt_orphans: bool = True) -> AsyncIterator[Runtime]:
    """Open the database (migrating if the settings ask), the stream and the executor; close them in reverse.

    A server adopts running runs whose executor is gone; a command executing one run passes
    `adopt_orphans=False`, since adopting is the server's job.
    """
    async with open_database(settings) as database:
        stream = build_activity_backend(settings)
        await stream.start()
        executor = RunExecutor(
            pool=database.pool,
            settings=settings,
            stream=stream,
            marketplace_factory=marketplace_factory(settings),
            adopt_orphans=adopt_orphans,
        )
        await executor.start()
        observer = asyncio.create_task(_observe_pool(database.pool), name="observe-db-pool")
        try:
            yield Runtime(settings=settings, database=database, activity_stream=stream, executor=executor)
        finally:
            observer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await observer
            await executor.close()
            await stream.aclose()
            metrics.mark_process_dead(os.getpid())
