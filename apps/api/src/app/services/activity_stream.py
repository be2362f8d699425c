"""Per-run activity streams: sequence numbers, a replay buffer, and fan-out to independent subscribers.

Each run's stream numbers its events 1, 2, 3, ... (`seq`, used as the SSE `id`) and keeps the last
`ACTIVITY_BUFFER_SIZE` for replay. Every subscriber has its own bounded queue: a slow one loses its
own oldest events and is told so with a `gap` event, and never slows the publisher or other readers.
A terminal event (run completed, failed or cancelled) ends every subscription once delivered; the
finished stream lingers for a grace period for late reconnects, then is dropped. Streams nobody
writes to or reads are dropped too, so memory stays flat however many runs come and go.

`ActivityBackend` is the seam for a multi-process backend (Redis Streams: XADD ids as `seq`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast
from uuid import uuid4

from sse_starlette import ServerSentEvent
from starlette.requests import HTTPConnection

from app.models import ActivityEntry
from app.services.parallel_runner import ActivityEvent

logger = logging.getLogger(__name__)

ACTIVITY_BUFFER_SIZE = 100
DEFAULT_SUBSCRIBER_QUEUE_SIZE = 1000
_SWEEP_INTERVAL_SECONDS = 30.0


@dataclass(frozen=True)
class StreamEvent:
    """An event as delivered: its sequence number (None for gap notices), JSON text and SSE frame.

    The frame is encoded once per event, not once per subscriber: with hundreds of readers that
    is most of the per-event cost.
    """

    seq: int | None
    data: str
    frame: bytes
    terminal: bool = False

    @classmethod
    def build(cls, seq: int | None, data: str, *, terminal: bool = False) -> StreamEvent:
        frame = ServerSentEvent(data=data, id=None if seq is None else str(seq)).encode()
        return cls(seq=seq, data=data, frame=frame, terminal=terminal)


def _gap_event(missed: int | None) -> StreamEvent:
    entry: dict[str, Any] = {
        "id": f"gap-{uuid4()}",
        "timestamp": datetime.now(UTC).isoformat(),
        "worker_id": 0,
        "phase": "run",
        "action": "gap",
    }
    if missed is not None:
        entry["missed"] = missed
    return StreamEvent.build(None, json.dumps(entry))


class Subscription:
    """One reader's view of a run stream: an async iterator of `StreamEvent`s."""

    def __init__(self, manager: ActivityStreamManager, run_id: str, queue_size: int) -> None:
        self._manager = manager
        self.run_id = run_id
        self._queue: deque[StreamEvent] = deque()
        self._queue_size = queue_size
        self._missed = 0
        self._missed_unknown = False
        self._wakeup = asyncio.Event()
        self._finished = False  # the terminal event has been handed out
        self._closed = False

    def _offer(self, event: StreamEvent) -> None:
        if self._closed:
            return
        if len(self._queue) >= self._queue_size:
            self._queue.popleft()
            self._missed += 1
        self._queue.append(event)
        self._wakeup.set()

    def _note_gap(self, missed: int | None) -> None:
        if missed is None:
            self._missed_unknown = True
        else:
            self._missed += missed

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self

    async def __anext__(self) -> StreamEvent:
        while True:
            if self._finished or self._closed:
                raise StopAsyncIteration
            if self._missed or self._missed_unknown:
                gap = _gap_event(None if self._missed_unknown else self._missed)
                self._missed, self._missed_unknown = 0, False
                return gap
            if self._queue:
                event = self._queue.popleft()
                if event.terminal:
                    self._finished = True
                    self.close()
                return event
            self._wakeup.clear()
            await self._wakeup.wait()

    def close(self) -> None:
        """Unsubscribe (idempotent). The SSE endpoint calls this as soon as the client goes."""
        if not self._closed:
            self._closed = True
            self._queue.clear()
            self._wakeup.set()
            self._manager._unsubscribe(self)


class _RunStream:
    __slots__ = ("buffer", "drop_handle", "last_touched", "seq", "subscribers", "terminal")

    def __init__(self) -> None:
        self.seq = 0
        self.buffer: deque[StreamEvent] = deque(maxlen=ACTIVITY_BUFFER_SIZE)
        self.subscribers: set[Subscription] = set()
        self.terminal = False
        self.last_touched = 0.0
        self.drop_handle: asyncio.TimerHandle | None = None


class ActivityBackend(Protocol):
    def push(self, run_id: str, event: ActivityEvent | Mapping[str, Any], *, terminal: bool = False) -> int: ...

    def subscribe(self, run_id: str, last_event_id: int | None = None) -> Subscription: ...

    def has_stream(self, run_id: str) -> bool: ...


class ActivityStreamManager:
    """In-memory `ActivityBackend` for one process. Create one per app (the lifespan does)."""

    def __init__(
        self,
        *,
        subscriber_queue_size: int = DEFAULT_SUBSCRIBER_QUEUE_SIZE,
        finished_grace_seconds: float = 120.0,
        idle_ttl_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._streams: dict[str, _RunStream] = {}
        self._subscriber_queue_size = subscriber_queue_size
        self._finished_grace_seconds = finished_grace_seconds
        self._idle_ttl_seconds = idle_ttl_seconds
        self._clock = clock
        self._next_sweep = clock() + _SWEEP_INTERVAL_SECONDS
        self._count_waiters: list[tuple[str, int, asyncio.Future[None]]] = []

    # --- publishing ------------------------------------------------------------------------------

    def push(self, run_id: str, event: ActivityEvent | Mapping[str, Any], *, terminal: bool = False) -> int:
        """Number `event`, buffer it and offer it to every subscriber; returns its `seq`. Never blocks."""
        run_id = str(run_id)
        stream = self._touch(run_id)
        if stream.terminal:
            logger.warning("event for finished run %s ignored", run_id)
            return stream.seq
        payload = dict(event.to_dict() if isinstance(event, ActivityEvent) else event)
        stream.seq += 1
        payload["seq"] = stream.seq
        data = ActivityEntry.model_validate(payload).model_dump_json(exclude_none=True)
        item = StreamEvent.build(stream.seq, data, terminal=terminal)
        stream.buffer.append(item)
        for subscriber in stream.subscribers:
            subscriber._offer(item)
        if terminal:
            stream.terminal = True
            stream.drop_handle = asyncio.get_running_loop().call_later(self._finished_grace_seconds, self._drop, run_id)
        return stream.seq

    # --- reading ---------------------------------------------------------------------------------

    def subscribe(self, run_id: str, last_event_id: int | None = None) -> Subscription:
        """Buffered events after `last_event_id` (all buffered when None), then live ones.

        If the buffer no longer reaches back to `last_event_id`, a gap event comes first.
        """
        run_id = str(run_id)
        stream = self._touch(run_id)
        subscription = Subscription(self, run_id, self._subscriber_queue_size)
        replay: list[StreamEvent] = list(stream.buffer)
        if last_event_id is not None:
            oldest = replay[0].seq if replay else stream.seq + 1
            assert oldest is not None
            if last_event_id > stream.seq:
                # An id from before a restart (sequence numbers began again): we cannot tell what was missed.
                subscription._note_gap(None)
            elif last_event_id + 1 < oldest:
                subscription._note_gap(oldest - last_event_id - 1)
                replay = [e for e in replay if e.seq is not None and e.seq > last_event_id]
            else:
                replay = [e for e in replay if e.seq is not None and e.seq > last_event_id]
        for item in replay:
            subscription._offer(item)
        if not (stream.terminal and not replay):
            stream.subscribers.add(subscription)
            self._notify_subscribers_changed()
        else:
            # Nothing left to say on a finished stream: end at once.
            subscription._finished = True
        return subscription

    def has_stream(self, run_id: str) -> bool:
        return str(run_id) in self._streams

    def last_seq(self, run_id: str) -> int:
        stream = self._streams.get(str(run_id))
        return stream.seq if stream else 0

    def subscriber_count(self, run_id: str) -> int:
        stream = self._streams.get(str(run_id))
        return len(stream.subscribers) if stream else 0

    async def wait_for_subscribers(self, run_id: str, count: int) -> None:
        """Wait until `run_id` has exactly `count` subscribers (for tests, readiness checks, benchmarks)."""
        if self.subscriber_count(run_id) == count:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._count_waiters.append((str(run_id), count, waiter))
        await waiter

    def _notify_subscribers_changed(self) -> None:
        pending = []
        for run_id, count, waiter in self._count_waiters:
            if waiter.done():
                continue
            if self.subscriber_count(run_id) == count:
                waiter.set_result(None)
            else:
                pending.append((run_id, count, waiter))
        self._count_waiters = pending

    def stats(self) -> dict[str, int]:
        return {
            "streams": len(self._streams),
            "subscribers": sum(len(s.subscribers) for s in self._streams.values()),
        }

    # --- housekeeping ----------------------------------------------------------------------------

    def _touch(self, run_id: str) -> _RunStream:
        """The run's stream (created on first use), marked as just used."""
        self._maybe_sweep()
        stream = self._streams.get(run_id)
        if stream is None:
            stream = self._streams[run_id] = _RunStream()
        stream.last_touched = self._clock()
        return stream

    def cleanup(self, run_id: str) -> None:
        """Drop a run's stream now, ending its subscriptions."""
        self._drop(str(run_id))

    def _unsubscribe(self, subscription: Subscription) -> None:
        stream = self._streams.get(subscription.run_id)
        if stream is None:
            return
        stream.subscribers.discard(subscription)
        stream.last_touched = self._clock()
        self._notify_subscribers_changed()
        if not stream.subscribers and stream.seq == 0:
            # Opened by a reader, never written to: keep nothing.
            self._drop(subscription.run_id)

    def _drop(self, run_id: str) -> None:
        stream = self._streams.pop(run_id, None)
        if stream is None:
            return
        if stream.drop_handle is not None:
            stream.drop_handle.cancel()
        for subscriber in list(stream.subscribers):
            subscriber._closed = True
            subscriber._queue.clear()
            subscriber._wakeup.set()
        stream.subscribers.clear()
        self._notify_subscribers_changed()

    def _maybe_sweep(self) -> None:
        now = self._clock()
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_INTERVAL_SECONDS
        stale = [
            run_id
            for run_id, stream in self._streams.items()
            if not stream.subscribers and now - stream.last_touched > self._idle_ttl_seconds
        ]
        for run_id in stale:
            logger.debug("dropping idle activity stream %s", run_id)
            self._drop(run_id)


def get_activity_stream(conn: HTTPConnection) -> ActivityStreamManager:
    """The app's stream manager (a FastAPI dependency; the lifespan creates one per app)."""
    return cast(ActivityStreamManager, conn.app.state.activity_stream)
