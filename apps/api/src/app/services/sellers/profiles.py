"""Seller profiles kept up to date off the items' critical path, and evidence kept no longer than asked.

The store step only queues the sellers it touches (seller_profile_queue, migration 070).
`refresh_profiles` aggregates a batch of queued sellers' evidence in one statement, scores them
here, and writes the results in one more: never the whole table, only the sellers that changed.
A run refreshes its org's profiles while its eBay phase goes (every `PROFILE_REFRESH_SECONDS`, or
less often when a refresh takes long, so it never takes more than a twentieth of the time) and once
at the end; the server's sweep catches whatever a run left (a crash, a cancel) and deletes
expired evidence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

from app.db.pool import Pool
from app.repositories import evidence as evidence_repo
from app.repositories import seller_profiles as profiles_repo
from app.repositories.seller_profiles import ProfileFigures, ProfileWrite
from app.services.sellers.score import Markup, score

logger = logging.getLogger(__name__)

PROFILE_REFRESH_SECONDS = 2.0
REFRESH_DUTY_FACTOR = 19
# Sellers aggregated per statement: a few milliseconds of work, so a refresh never holds a connection long.
PROFILE_BATCH = 500
RETENTION_BATCH = 5_000


async def refresh_profiles(pool: Pool, *, org_id: UUID | None, batch: int = PROFILE_BATCH) -> int:
    """Recompute every stale profile (of one org, or of every org); returns how many were written."""
    if org_id is None:
        async with pool.connection() as conn:
            orgs = await profiles_repo.queued_orgs(conn)
        return sum([await refresh_profiles(pool, org_id=org, batch=batch) for org in orgs])
    written = 0
    while True:
        # One refresher per org at a time (a run's, and a server's sweep): they would do the same work twice.
        async with pool.connection() as conn, profiles_repo.refreshing(conn, org_id):
            figures = await profiles_repo.stale_figures(conn, org_id=org_id, limit=batch)
            if not figures:
                return written
            done = await profiles_repo.write_profiles(conn, await _profiles(figures))
        written += done
        if len(figures) < batch or not done:
            return written  # all read, or all held by store steps just now: the next pass gets them
        await asyncio.sleep(0)  # let the workers run between batches


async def _profiles(figures: list[ProfileFigures]) -> list[ProfileWrite]:
    """Score a batch, letting the run's workers in every 100 sellers (a batch is ~20 ms of Python)."""
    scored = []
    for start in range(0, len(figures), 100):
        scored += [_profile(f) for f in figures[start : start + 100]]
        await asyncio.sleep(0)
    return scored


def _profile(figures: ProfileFigures) -> ProfileWrite:
    points, reasons = score(figures)
    markup = Markup.of(figures)
    return ProfileWrite(
        figures, score=points, reasons=reasons, median_markup=markup.median, markup_spread=markup.spread
    )


class ProfileRefresher:
    """Refreshes one org's stale profiles in the background: every `every` s, sooner when nudged.

    A slow refresh (big sellers' evidence) makes the next wait longer, so at most a twentieth of
    the time goes to refreshing. `close` lets a refresh in progress finish (never cancelled halfway,
    as it holds a lock on its connection), then refreshes once more.
    """

    def __init__(self, pool: Pool, org_id: UUID, every: float) -> None:
        self._pool = pool
        self._org_id = org_id
        self._every = every
        self._wake = asyncio.Event()
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name=f"profiles-{org_id}")

    def nudge(self) -> None:
        """Refresh now (when the current wait ends early): e.g. as a phase's last items are in flight."""
        self._wake.set()

    async def _loop(self) -> None:
        wait = self._every
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            if self._stopping:
                return
            started = time.monotonic()
            await self._refresh("refreshing seller profiles failed; trying again soon")
            wait = max(self._every, REFRESH_DUTY_FACTOR * (time.monotonic() - started))

    async def _refresh(self, failure: str) -> None:
        try:
            await refresh_profiles(self._pool, org_id=self._org_id)
        except Exception:
            logger.warning(failure, exc_info=True)

    async def close(self) -> None:
        self._stopping = True
        self._wake.set()
        await self._task
        await self._refresh("refreshing seller profiles at the end of a phase failed")


@contextlib.asynccontextmanager
async def refreshing_profiles(
    pool: Pool, org_id: UUID, every: float = PROFILE_REFRESH_SECONDS
) -> AsyncIterator[ProfileRefresher]:
    """While the block runs, the org's stale profiles are refreshed in the background; once more at its end.

    The first refresh also picks up what an interrupted run left stale (a crash, a resume). The
    end's refresh is shielded: a pause or cancel stops the workers, not the profiles of what they stored.
    """
    refresher = ProfileRefresher(pool, org_id, every)
    try:
        yield refresher
    finally:
        await asyncio.shield(refresher.close())


async def sweep(pool: Pool, *, retention_days: int, now: datetime | None = None) -> int:
    """Delete evidence last seen more than `retention_days` ago (their sellers' profiles follow); returns rows."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    deleted = 0
    while True:
        async with pool.connection() as conn:
            rows = await evidence_repo.delete_expired(conn, older_than=cutoff, batch=RETENTION_BATCH)
        deleted += rows
        if rows < RETENTION_BATCH:
            break
    async with pool.connection() as conn:
        await evidence_repo.delete_forgotten(conn, older_than=cutoff)
    await refresh_profiles(pool, org_id=None)
    return deleted


async def sweep_forever(pool: Pool, *, retention_days: int, every: float) -> None:
    """The server's periodic sweep: expired evidence, then any profile a run left stale."""
    while True:
        try:
            await sweep(pool, retention_days=retention_days)
        except Exception:
            logger.warning("the evidence sweep failed; trying again in %.0fs", every, exc_info=True)
        await asyncio.sleep(every)
