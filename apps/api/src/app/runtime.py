"""The process's resources, wired once: database pool, activity stream and run executor.

The app's lifespan and the `collect` command both open a `Runtime`, so a run started from either
goes through the same parts wired the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from app.config import Settings
from app.db import Database, Pool, open_database
from app.scrapers.factory import marketplace_factory
from app.services.activity_stream import ActivityStreamManager
from app.services.run_executor import RunExecutor


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    database: Database
    activity_stream: ActivityStreamManager
    executor: RunExecutor

    @property
    def pool(self) -> Pool:
        return self.database.pool


@asynccontextmanager
async def open_runtime(settings: Settings, *, adopt_orphans: bool = True) -> AsyncIterator[Runtime]:
    """Open the database (migrating if the settings ask), the stream and the executor; close them in reverse.

    A server adopts running runs whose executor is gone; a command executing one run passes
    `adopt_orphans=False`, since adopting is the server's job.
    """
    async with open_database(settings) as database:
        stream = ActivityStreamManager(
            subscriber_queue_size=settings.activity_subscriber_queue_size,
            finished_grace_seconds=settings.activity_finished_grace_seconds,
            idle_ttl_seconds=settings.activity_idle_ttl_seconds,
        )
        executor = RunExecutor(
            pool=database.pool,
            settings=settings,
            stream=stream,
            marketplace_factory=marketplace_factory(settings),
            adopt_orphans=adopt_orphans,
        )
        await executor.start()
        try:
            yield Runtime(settings=settings, database=database, activity_stream=stream, executor=executor)
        finally:
            await executor.close()
