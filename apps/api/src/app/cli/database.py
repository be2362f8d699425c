"""The one database context of the commands: resolved, migrated, and opened the way a command needs it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from app.config import Settings
from app.db.embedded import database_url
from app.db.migrations import apply_migrations
from app.db.pool import Pool, open_database
from app.runtime import Runtime, open_runtime

T = TypeVar("T")

# A command's own queries run one after another: a connection or two is plenty.
_COMMAND_POOL = {"db_pool_min_size": 1, "db_pool_max_size": 2}


@dataclass(frozen=True)
class LocalDatabase:
    """The database a command works on, migrated; `settings` point at it (and skip the app's own migration)."""

    settings: Settings
    applied: list[str]

    def run(self, work: Callable[[Pool], Awaitable[T]]) -> T:
        """`work(pool)` in a fresh event loop, with a small pool on this database."""

        async def main() -> T:
            async with open_database(self.settings.model_copy(update=_COMMAND_POOL)) as database:
                return await work(database.pool)

        return asyncio.run(main())

    def run_in_runtime(self, work: Callable[[Runtime], Awaitable[T]]) -> T:
        """`work(runtime)` in a fresh event loop: the pool, stream and executor a run executes on.

        The command executes the one run it was asked for; adopting other orphaned runs is the server's job.
        """

        async def main() -> T:
            async with open_runtime(self.settings, adopt_orphans=False) as runtime:
                return await work(runtime)

        return asyncio.run(main())


@contextmanager
def local_database(settings: Settings) -> Iterator[LocalDatabase]:
    """The configured database, or an embedded one for as long as the block runs; migrated first."""
    with database_url(settings.database_url, settings.data_dir) as url:
        applied = apply_migrations(url)
        yield LocalDatabase(settings.model_copy(update={"database_url": url, "migrate_on_start": False}), applied)
