"""The activity feed's rules: short-lived stream tokens, and when a reader is told "nothing more" (204)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from app.db import Pool
from app.errors import NotAuthenticated
from app.repositories import auth as auth_repo
from app.repositories.runs import RunRow
from app.security import Caller, hash_secret, new_secret
from app.services.activity_stream import ActivityBackend
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


async def nothing_more_to_send(stream: ActivityBackend, run: RunRow, last_event_id: int | None) -> bool:
    """True when the run is over and this client has (or can get) nothing further: answer 204."""
    if run.status not in TERMINAL_STATUSES:
        return False
    last = await stream.last_seq(run.id)
    if last is None:
        return True
    return last_event_id is not None and last_event_id >= last
