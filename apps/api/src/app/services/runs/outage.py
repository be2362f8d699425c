"""A run waiting for its database: a step that meets a database fault is tried again until the database answers.

Only database faults (`app.db.outage`) are waited out; any other error goes to its caller at once.
The wait is stamina's backoff with jitter. Its start, a reminder every `NOTICE_EVERY` seconds
(with how long it has lasted) and its end are published to the run's feed, which lives outside
PostgreSQL and so can still be read while the database is away.

A bounded wait gives up, raising the fault, once the outage has lasted the run's
`db_outage_pause_seconds`: the executor then pauses the run for the database.

A step may not fail at all for a long time: one waiting for a pooled connection while the server
is down only ends with the pool's timeout (30 s). So a step still going after `PROBE_AFTER`
seconds has the database asked directly (`probe`, a fresh connection outside the pool): if that
meets a fault, the outage starts now, and is announced, while the step goes on waiting.
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
# A step still going after this long has the database probed (at most one probe at a time).
PROBE_AFTER = 1.0

DATABASE_UNAVAILABLE = "database unavailable"
DATABASE_WAIT_MESSAGE = "waiting for the database"


@dataclass
class DatabaseWait:
    """One run's view of the database: since when it has not answered, and the feed notices about it."""

    pause_after: float
    publish: Callable[[ActivityEntry], None]
    # Asks the database directly, raising what it meets (None: a slow step is only noticed when it fails).
    probe: Callable[[], Awaitable[object]] | None = None
    probe_after: float = PROBE_AFTER
    since: float | None = None  # monotonic start of the current outage
    since_at: datetime | None = None  # the same, as a wall-clock time for the API
    announced: bool = False
    _timer: asyncio.TimerHandle | None = field(default=None, repr=False)
    _probing: asyncio.Task[None] | None = field(default=None, repr=False)

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
            # The usual case, on every item's critical path: one plain try, no retry machinery
            # (a timer, so a step that hangs has the database probed).
            slow = asyncio.get_running_loop().call_later(self.probe_after, self._suspect) if self.probe else None
            try:
                result = await step()
            except Exception as exc:
                if not self._should_retry(exc, bounded=bounded):
                    raise
            else:
                self.answered()  # a probe may have found the database away meanwhile: it answers now
                return result
            finally:
                if slow is not None:
                    slow.cancel()
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
        since = self._begin(exc)
        return not bounded or time.monotonic() - since < self.pause_after

    def _begin(self, exc: BaseException) -> float:
        """The outage starts (unless it already has); returns when it did."""
        if self.since is None:
            logger.warning("the database does not answer: %s", exc)
            self.since, self.since_at = time.monotonic(), datetime.now(UTC)
            # A timer, not the next fault: a try may block for the pool's whole timeout.
            self._timer = asyncio.get_running_loop().call_later(ANNOUNCE_AFTER, self._notice)
        return self.since

    def _suspect(self) -> None:
        """A step has been going for `probe_after` seconds: ask the database directly, once at a time."""
        if self.since is None and self._probing is None:
            self._probing = asyncio.create_task(self._probe())

    async def _probe(self) -> None:
        assert self.probe is not None
        try:
            await self.probe()
        except Exception as exc:
            if is_database_fault(exc):
                self._begin(exc)  # a no-op if a failed step began the outage meanwhile
            else:
                logger.warning("the database probe failed: %s", exc)
        finally:
            self._probing = None

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

    def close(self) -> None:
        """The run's execution here ends: no more notices, no probe left running (the wait ends unsaid)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._probing is not None:
            self._probing.cancel()
        self.since = self.since_at = None
        self.announced = False

    def _publish(self, action: ActivityAction, message: str | None) -> None:
        event = ActivityEntry.create(0, "run", action, duration_ms=int(self.waited * 1000), error_message=message)
        try:
            self.publish(event)
        except Exception:
            logger.exception("could not publish %s", action)
