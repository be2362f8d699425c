"""Open activity streams answer to their credentials: capped per API token, kept alive, ended when the credentials end.

One ticker per process, not one task per stream: every keepalive interval it wakes each open
stream (which then sends a keepalive comment unless an event went out meanwhile) and re-checks the
credentials of all of them (the API token, the session it came through, or the stream token it
was opened with) in one query. A revoked token, an ended session or an expired stream token
closes its streams within one interval. With ten thousand open streams that is one query per
interval instead of ten thousand, and no per-stream timer or task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from app.db.pool import Pool
from app.errors import TooManyRequests
from app.repositories import auth as auth_repo

logger = logging.getLogger(__name__)

# Credentials checked per query: a bound on the statement's parameters, not on the streams.
_CHECK_BATCH = 2000


@dataclass(frozen=True)
class StreamCredential:
    token_id: UUID | None
    session_id: UUID | None = None
    stream_token_hash: bytes | None = None


class Wakeable(Protocol):
    """What the guard needs of a stream: a nudge when its keepalive is due, and a way to end it."""

    def poke(self) -> None: ...

    def close(self) -> None: ...


@dataclass(eq=False, slots=True)
class OpenStream:
    """One open stream as the guard sees it. `ended` tells the stream its credentials ended."""

    credential: StreamCredential
    source: Wakeable
    ended: bool = field(default=False)


class StreamGuard:
    def __init__(self, pool: Pool, *, per_token: int, check_every: float) -> None:
        self._pool = pool
        self.per_token = per_token
        self.check_every = check_every
        self._per_token: dict[UUID | None, int] = {}
        self._streams: set[OpenStream] = set()
        self._ticker: asyncio.Task[None] | None = None

    # --- the ticker ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever(), name="stream-guard")

    async def aclose(self) -> None:
        self.close_all()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.check_every)
            await self.tick()

    async def tick(self) -> None:
        """Wake every open stream for its keepalive, then end those whose credentials no longer hold."""
        streams = list(self._streams)
        for stream in streams:
            stream.source.poke()
        dead = await self._dead_credentials({stream.credential for stream in streams})
        for stream in streams:
            if stream.credential in dead and stream in self._streams:
                logger.info("closing an activity stream whose credentials ended")
                stream.ended = True
                stream.source.close()

    async def _dead_credentials(self, credentials: set[StreamCredential]) -> set[StreamCredential]:
        ordered = list(credentials)
        dead: set[StreamCredential] = set()
        try:
            for start in range(0, len(ordered), _CHECK_BATCH):
                batch = ordered[start : start + _CHECK_BATCH]
                async with self._pool.connection() as conn:
                    alive = await auth_repo.credentials_alive(
                        conn, [(c.token_id, c.session_id, c.stream_token_hash) for c in batch]
                    )
                dead.update(c for c, ok in zip(batch, alive, strict=True) if not ok)
        except Exception:
            # A database hiccup is not a revocation; check again next interval.
            logger.warning("could not re-check open streams' credentials", exc_info=True)
        return dead

    # --- streams ---------------------------------------------------------------------------------

    def open(self, credential: StreamCredential, source: Wakeable) -> OpenStream:
        """Count a stream for its API token; 429 when that token already has `per_token` open."""
        held = self._per_token.get(credential.token_id, 0)
        if credential.token_id is not None and held >= self.per_token:
            raise TooManyRequests(
                f"Too many open activity streams for this token ({held} of {self.per_token}); close one first",
                retry_after=self.check_every,
            )
        self._per_token[credential.token_id] = held + 1
        stream = OpenStream(credential, source)
        self._streams.add(stream)
        return stream

    def close(self, stream: OpenStream) -> None:
        """Forget a stream that ended (idempotent)."""
        if stream not in self._streams:
            return
        self._streams.discard(stream)
        left = self._per_token.get(stream.credential.token_id, 0) - 1
        if left > 0:
            self._per_token[stream.credential.token_id] = left
        else:
            self._per_token.pop(stream.credential.token_id, None)

    def close_all(self) -> None:
        """End every open stream (the server is shutting down)."""
        for stream in list(self._streams):
            stream.source.close()

    @property
    def streams_open(self) -> int:
        return len(self._streams)
