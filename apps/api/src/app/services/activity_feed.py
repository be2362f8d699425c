"""The activity feed's rules: short-lived stream tokens, and when a reader is told "nothing more" (204)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.db import Pool
from app.errors import NotAuthenticated
from app.models import ActivityEntry
from app.repositories import auth as auth_repo
from app.repositories.activity_history import StoredEvent
from app.repositories.runs import RunRow
from app.security import Caller, hash_secret, new_secret
from app.services import activity_history
from app.services.activity_stream import ActivityBackend, ActivitySubscription, StreamEvent, sse_frame
from app.status import TERMINAL_STATUSES


@dataclass(frozen=True)
class StreamToken:
    token: str
    expires_at: datetime


async def issue_stream_token(pool: Pool, *, caller: Caller, run_id: UUID, ttl_seconds: int) -> StreamToken:
    if caller.token_id is None:
        raise NotAuthenticated("A stream token is issued for an API token")
    token = new_secret("sst_")
    async with pool.connection() as conn:
        expires_at = await auth_repo.insert_stream_token(
            conn, token_hash=hash_secret(token), run_id=run_id, api_token_id=caller.token_id, ttl_seconds=ttl_seconds
        )
    return StreamToken(token=token, expires_at=expires_at)


async def open_feed(
    pool: Pool,
    stream: ActivityBackend,
    *,
    run: RunRow,
    last_event_id: int | None,
    watch: Callable[[ActivitySubscription], Coroutine[Any, Any, None]] | None = None,
) -> AsyncIterator[bytes] | None:
    """The SSE frames for this reader, or None when the run is over and it has seen everything (204).

    A finished run is served from the last events stored with it (they end with its terminal
    event, whichever process published it); in the moment before they are stored, from the
    live stream.
    """
    if run.status in TERMINAL_STATUSES:
        history = await activity_history.stored_after(pool, run_id=run.id, after_seq=last_event_id)
        if history.stored:
            return _stored_frames(history.events, last_event_id=last_event_id) if history.events else None
        last = await stream.last_seq(run.id)
        if last is None or (last_event_id is not None and last_event_id >= last):
            return None
    return _live_frames(stream, run_id=run.id, last_event_id=last_event_id, watch=watch)


async def _stored_frames(stored: list[StoredEvent], *, last_event_id: int | None) -> AsyncIterator[bytes]:
    if last_event_id is not None and stored[0].seq > last_event_id + 1:
        yield StreamEvent.of(ActivityEntry.gap(None)).frame  # events older than those kept are gone
    for event in stored:
        yield sse_frame(event.seq, event.data)


async def _live_frames(
    stream: ActivityBackend,
    *,
    run_id: UUID,
    last_event_id: int | None,
    watch: Callable[[ActivitySubscription], Coroutine[Any, Any, None]] | None = None,
) -> AsyncIterator[bytes]:
    """Replay, then live events, until the terminal event; unsubscribes the moment the reader goes.

    `watch` (if given) runs beside the subscription for as long as it lasts and may close it early
    (the reader's credentials ended).
    """
    subscription = stream.subscribe(run_id, last_event_id)
    watcher = asyncio.create_task(watch(subscription)) if watch is not None else None
    try:
        async for event in subscription:
            yield event.frame
    finally:
        if watcher is not None:
            watcher.cancel()
        subscription.close()
