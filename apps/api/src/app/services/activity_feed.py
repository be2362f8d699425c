"""The activity feed over SSE: who may open it, when to say "nothing more" (204), and the frames."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sse_starlette import ServerSentEvent

from app.auth import Caller, hash_secret, new_secret
from app.db import Pool
from app.repositories import auth as auth_repo
from app.repositories.runs import TERMINAL_STATUSES
from app.services.activity_stream import ActivityStreamManager


@dataclass(frozen=True)
class StreamToken:
    token: str
    expires_at: datetime


async def issue_stream_token(pool: Pool, *, caller: Caller, run_id: UUID, ttl_seconds: int) -> StreamToken:
    token = new_secret("sst_")
    async with pool.connection() as conn:
        expires_at = await auth_repo.insert_stream_token(
            conn, token_hash=hash_secret(token), run_id=run_id, api_token_id=caller.token_id, ttl_seconds=ttl_seconds
        )
    return StreamToken(token=token, expires_at=expires_at)


def nothing_more_to_send(manager: ActivityStreamManager, run: dict[str, Any], last_event_id: int | None) -> bool:
    """True when the run is over and this client has (or can get) nothing further: answer 204."""
    if run["status"] not in TERMINAL_STATUSES:
        return False
    run_id = str(run["id"])
    if not manager.has_stream(run_id):
        return True
    return last_event_id is not None and last_event_id >= manager.last_seq(run_id)


async def sse_frames(
    manager: ActivityStreamManager, *, run_id: UUID, last_event_id: int | None, retry_ms: int
) -> AsyncIterator[ServerSentEvent | bytes]:
    """Replay, then live events, until the terminal event; unsubscribes the moment the client goes."""
    subscription = manager.subscribe(str(run_id), last_event_id)
    try:
        # The first frame flushes the headers at once and tells the browser how soon to reconnect.
        yield ServerSentEvent(comment="connected", retry=retry_ms)
        async for event in subscription:
            yield event.frame
    finally:
        subscription.close()
