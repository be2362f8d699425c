"""A run waiting for its database: a step that meets a database fault is tried again until the database answers.

Only database faults (`app.db.outage`) are waited out; any other error goes to its caller at once.
The wait is stamina's backoff with jitter. Its start, a reminder every `NOTICE_EVERY` seconds
(with how long it has lasted) and its end are published to the run's feed, which lives outside
PostgreSQL and so can still be read while the database is away.

A bounded wait gives up, raising the fault, once the outage has lasted the run's
`db_outage_pause_seconds`: the executor then pauses the run for the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

import stamina

from app.db.outage import is_database_fault
from app.models import ActivityAction, ActivityEntry

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Backoff between tries of a step while the database is away (seconds; stamina adds jitter).
WAIT_INITIAL = 0.2
WAIT_MAX = 3.0
# A fault is announced once it has lasted this long: a single stale pooled connection left from an
# earlier outage fails once and is replaced at once, which is not worth a notice.
ANNOUNCE_AFTER = 0.5
NOTICE_EVERY = 5.0

DATABASE_UNAVAILABLE = "database unavailable"
DATABASE_WAIT_MESSAGE = "waiting for the database"


@dataclass
class DatabaseWait:
    """One run's view of the database: since when it has not answered, and the feed notices about it."""

    pause_after: float
    publish: Callable[[ActivityEntry], None]
    since: float | None = None  # monotonic start of the current outage
    since_at: datetime | None = None  # the same, as a wall-clock time for the API
    announced: bool = False
    _timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def waited(self) -> float:
        return 0.0 if self.since is None else time.monotonic() - self.since

    @property
    def waiting_since(self) -> datetime | None:
        """When the current wait was announced (None while the database answers)."""
        return self.since_at if self.announced else None

    async def hold(self, step: Callable[[], Awaitable[T]], *, bounded: bool = True) -> T:
        """`step()`, tried again on database faults until it succeeds (or, `bounded`, until the pause is due)."""
        if self.since is None:
            # The usual case, on every item's critical path: one plain try, no retry machinery.
            try:
                return await step()
            except Exception as exc:
                if not self._should_retry(exc, bounded=bounded):
                    raise
        return await self._retried(step, bounded=bounded)

    async def _retried(self, step: Callable[[], Awaitable[T]], *, bounded: bool) -> T:
        async for attempt in stamina.retry_context(
            on=partial(self._should_retry, bounded=bounded),
            attempts=None,
            timeout=None,
            wait_initial=WAIT_INITIAL,
            wait_max=WAIT_MAX,
        ):
            with attempt:
                result = await step()
                self.answered()
                return result
        raise AssertionError("unreachable: stamina either returns or raises")

    def _should_retry(self, exc: Exception, *, bounded: bool) -> bool:
        """stamina's `on=` hook: database faults are waited out; anything else is not ours to retry."""
        if not is_database_fault(exc):
            return False
        now = time.monotonic()
        if self.since is None:
            logger.warning("the database does not answer: %s", exc)
            self.since, self.since_at = now, datetime.now(UTC)
            # A timer, not the next fault: a try may block for the pool's whole timeout.
            self._timer = asyncio.get_running_loop().call_later(ANNOUNCE_AFTER, self._notice)
        return not bounded or now - self.since < self.pause_after

    def _notice(self) -> None:
        if self.since is None:
            return
        self.announced = True
        self._publish("waiting_for_database", DATABASE_WAIT_MESSAGE)
        self._timer = asyncio.get_running_loop().call_later(NOTICE_EVERY, self._notice)

    def answered(self) -> None:
        """The database answered: end the current wait, telling the feed if it had been announced."""
        if self.since is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.announced:
            logger.warning("the database answers again after %.1f s", self.waited)
            self._publish("database_back", None)
        self.since = self.since_at = None
        self.announced = False

    def _publish(self, action: ActivityAction, message: str | None) -> None:
        event = ActivityEntry.create(0, "run", action, duration_ms=int(self.waited * 1000), error_message=message)
        try:
            self.publish(event)
        except Exception:
            logger.exception("could not publish %s", action)
