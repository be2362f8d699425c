"""The activity feed's rules: short-lived stream tokens, and when a reader is told "nothing more" (204)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

import stamina

from app.db.pool import Pool
from app.errors import NotAuthenticated
from app.models import ActivityEntry
from app.repositories import auth as auth_repo
from app.repositories.activity_history import StoredEvent
from app.repositories.runs import RunRow
from app.security import Caller, hash_secret, new_secret
from app.services import activity_history
from app.services.activity_history import StoredHistory
from app.services.activity_stream import ActivityBackend, ActivitySubscription, StreamEvent, sse_frame
from app.status import TERMINAL_STATUSES

# A finished run's events are stored by the process that ran it, moments after its status changed. A reader on
# another process whose own stream never saw the end waits this long for them before falling back.
_HISTORY_WAIT_SECONDS = 5.0


class _HistoryNotStoredYet(Exception):
    pass


# A reader that fell behind catches up with writes of up to this many frames (tens of KB), not one per event.
_FRAMES_PER_WRITE = 64


@dataclass(frozen=True)
class StreamToken:
    token: str
    expires_at: datetime


async def issue_stream_token(pool: Pool, *, caller: Caller, run_id: UUID, ttl_seconds: int) -> StreamToken:
    """A token for one run's stream; asked for through a browser session, it ends when that session ends."""
    if caller.token_id is None:
        raise NotAuthenticated("A stream token is issued for an API token")
    token = new_secret("sst_")
    async with pool.connection() as conn:
        expires_at = await auth_repo.insert_stream_token(
            conn,
            token_hash=hash_secret(token),
            run_id=run_id,
            api_token_id=caller.token_id,
            session_id=caller.session_id,
            ttl_seconds=ttl_seconds,
        )
    return StreamToken(token=token, expires_at=expires_at)


class FeedSource(Protocol):
    """One reader's frames: `next_frame()` until StopAsyncIteration; None means "nothing new, keepalive due"."""

    async def next_frame(self) -> bytes | None: ...

    def poke(self) -> None: ...

    def close(self) -> None: ...


async def open_feed(
    pool: Pool, stream: ActivityBackend, *, run: RunRow, last_event_id: int | None
) -> FeedSource | None:
    """The SSE frames for this reader, or None when the run is over and it has seen everything (204).

    A finished run is served from the last events stored with it (they end with its terminal
    event, whichever process published it); in the moment before they are stored, from the
    live stream if it holds the end, else after waiting (up to a few seconds) for them. A live
    feed replays what came after `last_event_id`, then live events, until the terminal event or
    `close()`.
    """
    if run.status in TERMINAL_STATUSES:
        history = await _finished_run_history(pool, stream, run_id=run.id, last_event_id=last_event_id)
        if history.stored:
            return StoredFeed(history.events, last_event_id=last_event_id) if history.events else None
        last = await stream.last_seq(run.id)
        if last is None or (last_event_id is not None and last_event_id >= last):
            return None
    return LiveFeed(stream.subscribe(run.id, last_event_id))


async def _finished_run_history(
    pool: Pool, stream: ActivityBackend, *, run_id: UUID, last_event_id: int | None
) -> StoredHistory:
    """The finished run's stored events; waits for them unless this process's live stream already holds the end.

    Without Redis, processes share no live stream: the one that did not run the run to its end would
    otherwise serve its own stale events and wait forever for a terminal event it never gets.
    """
    try:
        async for attempt in stamina.retry_context(
            on=_HistoryNotStoredYet, attempts=None, timeout=_HISTORY_WAIT_SECONDS, wait_initial=0.02, wait_max=0.25
        ):
            with attempt:
                history = await activity_history.stored_after(pool, run_id=run_id, after_seq=last_event_id)
                if history.stored or await _live_stream_ended(stream, run_id):
                    return history
                raise _HistoryNotStoredYet
    except _HistoryNotStoredYet:
        pass
    return StoredHistory(stored=False, events=[])


async def _live_stream_ended(stream: ActivityBackend, run_id: UUID) -> bool:
    recent = await stream.recent(run_id)
    return bool(recent) and recent[-1].terminal


class StoredFeed:
    """A finished run's stored events (after a gap notice when the reader's id is older than them)."""

    __slots__ = ("_frames",)

    def __init__(self, stored: list[StoredEvent], *, last_event_id: int | None) -> None:
        frames = [sse_frame(event.seq, event.data) for event in stored]
        if last_event_id is not None and stored and stored[0].seq > last_event_id + 1:
            frames.insert(0, StreamEvent.of(ActivityEntry.gap(None)).frame)  # events older than those kept are gone
        self._frames: deque[bytes] = deque(frames)

    async def next_frame(self) -> bytes | None:
        if not self._frames:
            raise StopAsyncIteration
        return self._frames.popleft()

    def poke(self) -> None:
        return None  # it never waits

    def close(self) -> None:
        self._frames.clear()


class LiveFeed:
    """A subscription's events as frames; it unsubscribes on `close()`, the moment the reader goes."""

    __slots__ = ("subscription",)

    def __init__(self, subscription: ActivitySubscription) -> None:
        self.subscription = subscription

    async def next_frame(self) -> bytes | None:
        """The next event's frame, joined with any others already waiting (one write for all of them)."""
        event = await self.subscription.next_event()
        if event is None:
            return None
        more = self.subscription.take_ready(_FRAMES_PER_WRITE - 1)
        return b"".join([event.frame, *(e.frame for e in more)]) if more else event.frame

    def poke(self) -> None:
        self.subscription.poke()

    def close(self) -> None:
        self.subscription.close()
