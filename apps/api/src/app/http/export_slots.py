"""Limits on exports in flight: per org, and how many may read the database at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from app.errors import TooManyRequests


class ExportSlots:
    """Each export holds a spool (memory or disk) until its client is done, so an org may hold only so many.

    Taking the snapshots is also capped, below the pool size, so that a burst of exports always
    leaves connections for everything else.
    """

    def __init__(self, per_org: int, *, concurrent_snapshots: int) -> None:
        self.per_org = per_org
        self._in_flight: dict[UUID, int] = {}
        self._snapshots = asyncio.Semaphore(concurrent_snapshots)
        self._changed = asyncio.Condition()

    def acquire(self, org_id: UUID) -> None:
        held = self._in_flight.get(org_id, 0)
        if held >= self.per_org:
            raise TooManyRequests(
                f"Too many exports in progress for this org ({held} of {self.per_org}); "
                "try again when one has finished",
                retry_after=5,
            )
        self._in_flight[org_id] = held + 1

    def release(self, org_id: UUID) -> None:
        left = self._in_flight.get(org_id, 0) - 1
        if left > 0:
            self._in_flight[org_id] = left
        else:
            self._in_flight.pop(org_id, None)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def in_flight(self, org_id: UUID) -> int:
        return self._in_flight.get(org_id, 0)

    async def until_idle(self, org_id: UUID) -> None:
        """Returns once the org has no export in flight."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight(org_id) == 0)

    @asynccontextmanager
    async def snapshot_turn(self) -> AsyncIterator[None]:
        async with self._snapshots:
            yield
