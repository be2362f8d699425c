"""The connection pool, and the context that brings the database up for the app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import Any, TypeAlias, TypeVar

from psycopg import AsyncConnection, pq
from psycopg.abc import Params
from psycopg.rows import DictRow, class_row, dict_row, scalar_row
from psycopg_pool import AsyncConnectionPool

from app.config import Settings
from app.db.embedded import database_url
from app.db.migrations import apply_migrations

logger = logging.getLogger(__name__)


class PoolConnectionDiscarded(Exception):
    """Raised by the pool's reset callback so the pool closes the connection instead of reusing it."""


Conn: TypeAlias = AsyncConnection[DictRow]
Pool: TypeAlias = AsyncConnectionPool[Conn]

T = TypeVar("T")


async def fetch_one(conn: Conn, row_type: type[T], query: str, params: Params | None = None) -> T | None:
    """The first row of `query` as a `row_type` (a dataclass whose fields are the selected columns)."""
    async with conn.cursor(row_factory=class_row(row_type)) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def fetch_all(conn: Conn, row_type: type[T], query: str, params: Params | None = None) -> list[T]:
    """Every row of `query` as a `row_type`."""
    async with conn.cursor(row_factory=class_row(row_type)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def fetch_scalar(conn: Conn, query: str, params: Params | None = None) -> Any:
    """The first column of the first row (None without a row)."""
    async with conn.cursor(row_factory=scalar_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def fetch_scalars(conn: Conn, query: str, params: Params | None = None) -> list[Any]:
    """The first column of every row."""
    async with conn.cursor(row_factory=scalar_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


def columns(row_type: type[Any], prefix: str = "") -> str:
    """The SELECT list for `row_type`'s fields, so a query never returns a column the row does not declare."""
    return ", ".join(f"{prefix}{f.name}" for f in fields(row_type))


@dataclass(frozen=True)
class Database:
    url: str
    pool: Pool

    async def ping(self) -> bool:
        try:
            async with self.pool.connection(timeout=2.0) as conn:
                await conn.execute("SELECT 1")
            return True
        except Exception:
            logger.warning("database ping failed", exc_info=True)
            return False


# How long the pool keeps re-trying one lost connection. Its waits double each time, so after a long
# outage the next try could be a minute away although the server is back; giving up early lets the
# next borrower start a fresh attempt at once (the pool grows again on demand).
POOL_RECONNECT_SECONDS = 10.0


def make_pool(url: str, *, min_size: int = 2, max_size: int = 20) -> Pool:
    # Autocommit: a lone statement needs no BEGIN/COMMIT round trips; multi-statement work uses
    # `conn.transaction()` explicitly.
    kwargs: dict[str, Any] = {"row_factory": dict_row, "autocommit": True}
    return AsyncConnectionPool(
        conninfo=url,
        connection_class=AsyncConnection[DictRow],
        kwargs=kwargs,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name="sellercollection",
        reset=_discard_if_left_in_pipeline_mode,
        reconnect_timeout=POOL_RECONNECT_SECONDS,
    )


async def _discard_if_left_in_pipeline_mode(conn: AsyncConnection[DictRow]) -> None:
    """The pool's `reset`: a connection still in pipeline mode is discarded, not lent out again.

    A task cancelled while it leaves `conn.pipeline()` (a run's workers are cancelled when its
    breaker trips) can hand its connection back in pipeline mode. The next borrower's statements
    would then be queued, not run: `rowcount` reads -1 and an UPDATE seems to have changed
    nothing although it commits later. Raising here makes the pool close it.
    """
    if conn.pgconn.pipeline_status != pq.PipelineStatus.OFF:
        logger.info("discarding a pooled connection returned in pipeline mode")
        raise PoolConnectionDiscarded("connection returned in pipeline mode")


async def connect_dedicated(pool: Pool) -> Conn:
    """A connection outside the pool, to the pool's database (for LISTEN, which holds it for good)."""
    return await AsyncConnection.connect(_conninfo(pool), autocommit=True, row_factory=dict_row)


def _conninfo(pool: Pool) -> str:
    """The pool's connection string, for a connection of its own outside the pool."""
    conninfo = pool.conninfo
    if not isinstance(conninfo, str):
        raise TypeError("the pool's conninfo must be a string")
    return conninfo


# A probe's connection attempt gives up after this long (libpq's connect_timeout counts whole seconds, 2 at least).
PROBE_CONNECT_SECONDS = 2


async def probe_database(pool: Pool) -> None:
    """Ask the pool's database directly, on a fresh connection: raises what it meets (a fault while it is away).

    Outside the pool on purpose: a pool whose connections are all lent out is busy, not down, and
    a step waiting for one must not be taken for an outage.
    """
    async with asyncio.timeout(PROBE_CONNECT_SECONDS * 2):
        conn = await AsyncConnection.connect(_conninfo(pool), autocommit=True, connect_timeout=PROBE_CONNECT_SECONDS)
        async with conn:
            await conn.execute("SELECT 1")


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """Resolve the server (embedded when no URL), migrate if asked, and hold a pool open."""
    url_cm = database_url(settings.database_url, settings.data_dir)
    url = await asyncio.to_thread(url_cm.__enter__)
    try:
        if settings.migrate_on_start:
            await asyncio.to_thread(apply_migrations, url)
        pool = make_pool(url, min_size=settings.db_pool_min_size, max_size=settings.db_pool_max_size)
        await pool.open(wait=True, timeout=30.0)
        try:
            yield Database(url=url, pool=pool)
        finally:
            await pool.close()
    finally:
        await asyncio.to_thread(url_cm.__exit__, None, None, None)
