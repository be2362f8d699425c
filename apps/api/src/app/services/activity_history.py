"""A finished run keeps its last events in PostgreSQL, so its feed can be replayed after the live stream is gone."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from app.db.pool import Pool
from app.models import ActivityEntry
from app.repositories import activity_history as history_repo
from app.repositories.activity_history import StoredEvent
from app.services.activity_stream import ActivityBackend

logger = logging.getLogger(__name__)


async def finish_feed(pool: Pool, backend: ActivityBackend, *, run_id: UUID, event: ActivityEntry, keep: int) -> None:
    """Publish the run's terminal `event`, then store its last `keep` events with the run."""
    assert event.is_terminal
    backend.push(run_id, event)
    try:
        events = [StoredEvent(seq=e.seq, data=e.data) for e in await backend.recent(run_id) if e.seq is not None]
        async with pool.connection() as conn:
            await history_repo.replace(conn, run_id=run_id, events=events[-keep:])
    except Exception:
        # The run's outcome is already committed; only its replay after the live stream is gone suffers.
        logger.exception("could not store the activity history of run %s", run_id)


@dataclass(frozen=True)
class StoredHistory:
    stored: bool  # the run's history was stored (it is finished and its terminal event published)
    events: list[StoredEvent]  # those after the client's last id


async def stored_after(pool: Pool, *, run_id: UUID, after_seq: int | None) -> StoredHistory:
    async with pool.connection() as conn:
        last = await history_repo.last_seq(conn, run_id=run_id)
        if last is None:
            return StoredHistory(stored=False, events=[])
        if after_seq is not None and after_seq >= last:
            return StoredHistory(stored=True, events=[])
        return StoredHistory(stored=True, events=await history_repo.after(conn, run_id=run_id, after_seq=after_seq))
