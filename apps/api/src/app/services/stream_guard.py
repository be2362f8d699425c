"""Open activity streams answer to their credentials: capped per API token, ended when the credentials end.

Every open stream re-checks its credential (the API token, the session it came through, or the
stream token it was opened with) once per keepalive interval, so a revoked token, an ended session
or an expired stream token closes the stream within one interval.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from uuid import UUID

from app.db import Pool
from app.errors import TooManyRequests
from app.repositories import auth as auth_repo
from app.services.activity_stream import ActivitySubscription

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamCredential:
    token_id: UUID | None
    session_id: UUID | None = None
    stream_token_hash: bytes | None = None


class StreamGuard:
    def __init__(self, pool: Pool, *, per_token: int, check_every: float) -> None:
        self._pool = pool
        self.per_token = per_token
        self.check_every = check_every
        self._open: dict[UUID | None, int] = {}

    def open(self, credential: StreamCredential) -> None:
        """Count a stream for its API token; 429 when that token already has `per_token` open."""
        held = self._open.get(credential.token_id, 0)
        if credential.token_id is not None and held >= self.per_token:
            raise TooManyRequests(
                f"Too many open activity streams for this token ({held} of {self.per_token}); close one first",
                retry_after=self.check_every,
            )
        self._open[credential.token_id] = held + 1

    def close(self, credential: StreamCredential) -> None:
        left = self._open.get(credential.token_id, 0) - 1
        if left > 0:
            self._open[credential.token_id] = left
        else:
            self._open.pop(credential.token_id, None)

    def open_count(self, token_id: UUID) -> int:
        return self._open.get(token_id, 0)

    async def still_valid(self, credential: StreamCredential) -> bool:
        async with self._pool.connection() as conn:
            return await auth_repo.credential_alive(
                conn,
                token_id=credential.token_id,
                session_id=credential.session_id,
                stream_token_hash=credential.stream_token_hash,
            )

    async def watch(
        self, credential: StreamCredential, subscription: ActivitySubscription, *, ended: asyncio.Event | None = None
    ) -> None:
        """Close `subscription` once its credential no longer holds (run as a task beside the stream).

        `ended` is set first, so the stream can tell its reader why it stops.
        """
        while True:
            await asyncio.sleep(self.check_every)
            try:
                valid = await self.still_valid(credential)
            except Exception:
                # A database hiccup is not a revocation; check again next interval.
                logger.warning("could not re-check a stream's credentials", exc_info=True)
                continue
            if not valid:
                logger.info("closing an activity stream whose credentials ended")
                if ended is not None:
                    ended.set()
                subscription.close()
                return
