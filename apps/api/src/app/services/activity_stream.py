"""Per-run activity streams: sequence numbers, a replay buffer, and fan-out to independent subscribers.

`ActivityBackend` is what the rest of the app publishes to and reads from:
- `push(run_id, event)` numbers an event 1, 2, 3, ... per run (`seq`, the SSE `id`), keeps it for
  replay and offers it to every subscriber; it never blocks the publisher. An event whose
  `is_terminal` holds (the run completed, failed or was cancelled) ends the stream;
- `subscribe(run_id, last_event_id)` replays what came after `last_event_id` (a `gap` event first
  when that is no longer kept), then live events, and ends after the terminal event;
- `last_seq(run_id)` is the last number handed out, or None when nothing is kept for the run;
- `ensure_floor(run_id, floor)` numbers above `floor` when the backend has no numbering for the run
  yet (the high-water mark persisted with the run, so ids continue upwards after a restart);
- `recent(run_id)` is what it keeps of the run, for storing a finished run's last events.

`ActivityStreamManager` (below) keeps everything in this process; `RedisActivityStream`
(`activity_redis`) shares the streams between processes.

`ActivityStreamManager` is the in-memory backend for one process. It keeps the last
`ACTIVITY_BUFFER_SIZE` events of each run. Every subscriber has its own bounded queue: a slow one
loses its own oldest events and is told so with a `gap` event, and never slows the publisher or
other readers. A finished stream lingers for a grace period for late reconnects, then is dropped;
streams nobody writes to or reads are dropped too, so memory stays flat however many runs come
and go.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from app import metrics
from app.models import ActivityEntry

logger = logging.getLogger(__name__)

ACTIVITY_BUFFER_SIZE = 100
DEFAULT_SUBSCRIBER_QUEUE_SIZE = 1000
_SWEEP_INTERVAL_SECONDS = 30.0


def sse_frame(seq: int | None, data: str) -> bytes:
    """One Server-Sent Events frame (`id:` line only for numbered events), CRLF-separated.

    `data` is compact JSON, which never contains a line break, so it fits on one `data:` line.
    """
    head = "" if seq is None else f"id: {seq}\r\n"
    return f"{head}data: {data}\r\n\r\n".encode()


@dataclass(frozen=True)
class StreamEvent:
    """An event as delivered: the typed entry, its sequence number (None for gap notices), JSON and SSE frame.

    The JSON and the frame are encoded once per event, not once per subscriber: with hundreds of
    readers that is most of the per-event cost.
    """

    entry: ActivityEntry
    data: str
    frame: bytes

    @property
    def seq(self) -> int | None:
        return self.entry.seq

    @property
    def terminal(self) -> bool:
        return self.entry.is_terminal

    @classmethod
    def of(cls, entry: ActivityEntry) -> StreamEvent:
        data = entry.to_json()
        return cls(entry=entry, data=data, frame=sse_frame(entry.seq, data))


class ActivitySubscription(Protocol):
    """One reader's view of a run's stream: `StreamEvent`s until the terminal one, or `close()`."""

    def __aiter__(self) -> AsyncIterator[StreamEvent]: ...

    async def __anext__(self) -> StreamEvent: ...

    async def next_event(self) -> StreamEvent | None:
        """The next event, or None when `poke()` woke the reader first; StopAsyncIteration at the end."""

    def poke(self) -> None:
        """Wake the reader without an event (its keepalive is due), once."""

    def take_ready(self, limit: int) -> list[StreamEvent]:
        """Up to `limit` events that can be had without waiting."""

    def close(self) -> None: ...


class ActivityBackend(Protocol):
    """Where runs publish their events and readers find them: in memory (one process) or Redis Streams."""

    @property
    def name(self) -> str: ...

    def push(self, run_id: UUID, event: ActivityEntry) -> int | None:
        """Number and publish `event`, in order; never blocks. The number, when known at once."""

    def ensure_floor(self, run_id: UUID, floor: int) -> None: ...

    def subscribe(self, run_id: UUID, last_event_id: int | None = None) -> ActivitySubscription: ...

    async def last_seq(self, run_id: UUID) -> int | None: ...

    async def recent(self, run_id: UUID) -> list[StreamEvent]: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class Waker:
    """Wakes readers that have news at most once per `delay` seconds, so one write carries that window's events.

    With hundreds of readers, a write (and a task switch) per event per reader is most of the cost
    of a busy feed; gathering for a few milliseconds turns it into one write per reader per window,
    at the price of that much latency (like Centrifugo's `write_delay`). A `delay` of 0 wakes each
    reader at once. One timer per backend, never one per reader.
    """

    __slots__ = ("_delay", "_handle", "_pending")

    def __init__(self, delay: float = 0.0) -> None:
        self._delay = delay
        self._pending: list[Subscription] = []
        self._handle: asyncio.TimerHandle | None = None

    def schedule(self, subscription: Subscription) -> None:
        if self._delay <= 0:
            subscription.wake()
            return
        self._pending.append(subscription)
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self._delay, self._flush)

    def _flush(self) -> None:
        pending, self._pending, self._handle = self._pending, [], None
        for subscription in pending:
            subscription.wake()


IMMEDIATE = Waker()


class Subscription:
    """An in-memory subscription: a bounded queue the stream offers events to.

    Every open SSE connection holds one, so it is kept small: no queue storage until an event
    comes, and one future (not an `asyncio.Event` with its waiter deque) to wake the reader.
    """

    __slots__ = (
        "_closed",
        "_finished",
        "_missed",
        "_missed_unknown",
        "_on_close",
        "_poked",
        "_queue",
        "_queue_size",
        "_scheduled",
        "_waiter",
        "_waker",
        "run_id",
    )

    def __init__(
        self,
        run_id: UUID,
        queue_size: int,
        on_close: Callable[[Subscription], None],
        waker: Waker = IMMEDIATE,
    ) -> None:
        self.run_id = run_id
        self._on_close = on_close
        self._waker = waker
        self._scheduled = False  # a wake-up is on its way from the waker
        self._queue: deque[StreamEvent] | None = None
        self._queue_size = queue_size
        self._missed = 0
        self._missed_unknown = False
        self._waiter: asyncio.Future[None] | None = None
        self._poked = False
        self._finished = False  # nothing more will be handed out
        self._closed = False

    @property
    def queued(self) -> list[StreamEvent]:
        return list(self._queue) if self._queue else []

    def offer(self, event: StreamEvent) -> None:
        """Queue `event`; when full, drop the oldest queued event and count it as missed."""
        if self._closed:
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        elif len(queue) >= self._queue_size:
            queue.popleft()
            self._missed += 1
            metrics.EVENTS_DROPPED.labels("slow_subscriber").inc()
        queue.append(event)
        if self._waiter is not None and not self._scheduled:
            self._scheduled = True
            self._waker.schedule(self)

    def replace_queue(self, events: list[StreamEvent]) -> None:
        """Put `events` in place of whatever is queued (a replay merged with the live events seen meanwhile)."""
        if self._closed:
            return
        self._queue = deque(events)
        self._wake()

    def note_gap(self, missed: int | None) -> None:
        """Events before the queued ones are lost (`None`: how many is unknown); a gap event comes first."""
        if missed is None:
            self._missed_unknown = True
        else:
            self._missed += missed

    def finish(self) -> None:
        """End the iteration at once, without the close callback (the stream is gone or has nothing left)."""
        self._finished = True
        self._queue = None
        self._wake()

    def poke(self) -> None:
        self._poked = True
        self._wake()

    def wake(self) -> None:
        self._scheduled = False
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self

    async def __anext__(self) -> StreamEvent:
        while True:
            event = await self.next_event()
            if event is not None:
                return event

    async def next_event(self) -> StreamEvent | None:
        while True:
            event = self._pop_ready()
            if event is not None:
                return event
            if self._finished or self._closed:
                raise StopAsyncIteration
            if self._poked:
                self._poked = False
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def take_ready(self, limit: int) -> list[StreamEvent]:
        """Up to `limit` events that can go out now, without waiting (a reader that fell behind sends them at once)."""
        ready: list[StreamEvent] = []
        while len(ready) < limit and (event := self._pop_ready()) is not None:
            ready.append(event)
        return ready

    def _pop_ready(self) -> StreamEvent | None:
        while not (self._finished or self._closed):
            if self._missed or self._missed_unknown:
                gap = StreamEvent.of(ActivityEntry.gap(None if self._missed_unknown else self._missed))
                self._missed, self._missed_unknown = 0, False
                return gap
            if not self._queue:
                return None
            event = self._queue.popleft()
            if not self._accept(event):
                continue
            self._poked = False  # an event goes out: no keepalive needed
            if event.terminal:
                self.close()
            return event
        return None

    def _accept(self, event: StreamEvent) -> bool:
        """Whether a queued event is delivered (a subclass may drop duplicates)."""
        return True

    def close(self) -> None:
        """Unsubscribe (idempotent). The SSE endpoint calls this as soon as the client goes."""
        if not self._closed:
            self._closed = True
            self._queue = None
            self._wake()
            self._on_close(self)


class SubscriberCounts:
    """Lets callers wait for a run's subscriber count in this process to reach a number.

    For tests, readiness checks and benchmarks; both backends keep one and call `changed()`
    whenever a subscription comes or goes.
    """

    def __init__(self, count: Callable[[UUID], int]) -> None:
        self._count = count
        self._waiters: list[tuple[UUID, int, asyncio.Future[None]]] = []

    async def wait(self, run_id: UUID, count: int) -> None:
        if self._count(run_id) == count:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((run_id, count, waiter))
        await waiter

    def changed(self) -> None:
        pending = []
        for run_id, count, waiter in self._waiters:
            if waiter.done():
                continue
            if self._count(run_id) == count:
                waiter.set_result(None)
            else:
                pending.append((run_id, count, waiter))
        self._waiters = pending


class _RunStream:
    __slots__ = ("base", "buffer", "drop_handle", "last_touched", "seq", "subscribers", "terminal")

    def __init__(self, history: int) -> None:
        self.seq = 0
        # Ids up to `base` were handed out by an earlier process (before a restart): what they
        # carried is unknown here.
        self.base = 0
        self.buffer: deque[StreamEvent] = deque(maxlen=history)
        self.subscribers: set[Subscription] = set()
        self.terminal = False
        self.last_touched = 0.0
        self.drop_handle: asyncio.TimerHandle | None = None


class ActivityStreamManager:
    """The in-memory `ActivityBackend` for one process. Create one per app (the runtime does)."""

    name = "memory"

    def __init__(
        self,
        *,
        history: int = ACTIVITY_BUFFER_SIZE,
        subscriber_queue_size: int = DEFAULT_SUBSCRIBER_QUEUE_SIZE,
        finished_grace_seconds: float = 120.0,
        idle_ttl_seconds: float = 3600.0,
        write_delay_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._streams: dict[UUID, _RunStream] = {}
        self._waker = Waker(write_delay_seconds)
        self._history = history
        self._subscriber_queue_size = subscriber_queue_size
        self._finished_grace_seconds = finished_grace_seconds
        self._idle_ttl_seconds = idle_ttl_seconds
        self._clock = clock
        self._next_sweep = clock() + _SWEEP_INTERVAL_SECONDS
        self._counts = SubscriberCounts(self.subscriber_count)

    # --- publishing ------------------------------------------------------------------------------

    def push(self, run_id: UUID, event: ActivityEntry) -> int:
        """Number `event`, buffer it and offer it to every subscriber; returns its `seq`. Never blocks."""
        stream = self._touch(run_id)
        if stream.terminal:
            logger.warning("event for finished run %s ignored", run_id)
            return stream.seq
        stream.seq += 1
        item = StreamEvent.of(event.model_copy(update={"seq": stream.seq}))
        stream.buffer.append(item)
        metrics.EVENTS_PUBLISHED.labels(self.name).inc()
        for subscriber in stream.subscribers:
            subscriber.offer(item)
        if item.terminal:
            stream.terminal = True
            stream.drop_handle = asyncio.get_running_loop().call_later(self._finished_grace_seconds, self._drop, run_id)
        return stream.seq

    def ensure_floor(self, run_id: UUID, floor: int) -> None:
        stream = self._touch(run_id)
        if stream.seq == 0 and floor > 0:
            stream.seq = stream.base = floor

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        for run_id in list(self._streams):
            self._drop(run_id)

    # --- reading ---------------------------------------------------------------------------------

    def subscribe(self, run_id: UUID, last_event_id: int | None = None) -> Subscription:
        """Buffered events after `last_event_id` (all buffered when None), then live ones.

        If the buffer no longer reaches back to `last_event_id`, a gap event comes first.
        """
        stream = self._touch(run_id)
        subscription = Subscription(run_id, self._subscriber_queue_size, self._unsubscribe, self._waker)
        replay: list[StreamEvent] = list(stream.buffer)
        if last_event_id is not None:
            oldest = replay[0].seq if replay else stream.seq + 1
            assert oldest is not None
            if last_event_id > stream.seq or (stream.base and last_event_id <= stream.base):
                # An id from before a restart: we cannot tell what was missed.
                subscription.note_gap(None)
            else:
                if last_event_id + 1 < oldest:
                    subscription.note_gap(oldest - last_event_id - 1)
                replay = [e for e in replay if e.seq is not None and e.seq > last_event_id]
        for item in replay:
            subscription.offer(item)
        if stream.terminal and not replay:
            # Nothing left to say on a finished stream: end at once.
            subscription.finish()
        else:
            stream.subscribers.add(subscription)
            self._counts.changed()
        return subscription

    async def last_seq(self, run_id: UUID) -> int | None:
        stream = self._streams.get(run_id)
        return stream.seq if stream else None

    async def recent(self, run_id: UUID) -> list[StreamEvent]:
        stream = self._streams.get(run_id)
        return list(stream.buffer) if stream is not None else []

    def has_stream(self, run_id: UUID) -> bool:
        return run_id in self._streams

    def subscriber_count(self, run_id: UUID) -> int:
        stream = self._streams.get(run_id)
        return len(stream.subscribers) if stream else 0

    async def wait_for_subscribers(self, run_id: UUID, count: int) -> None:
        """Wait until `run_id` has exactly `count` subscribers (for tests, readiness checks, benchmarks)."""
        await self._counts.wait(run_id, count)

    def stats(self) -> dict[str, int]:
        return {
            "streams": len(self._streams),
            "subscribers": sum(len(s.subscribers) for s in self._streams.values()),
        }

    # --- housekeeping ----------------------------------------------------------------------------

    def _touch(self, run_id: UUID) -> _RunStream:
        """The run's stream (created on first use), marked as just used."""
        self._maybe_sweep()
        stream = self._streams.get(run_id)
        if stream is None:
            stream = self._streams[run_id] = _RunStream(self._history)
        stream.last_touched = self._clock()
        return stream

    def _unsubscribe(self, subscription: Subscription) -> None:
        stream = self._streams.get(subscription.run_id)
        if stream is None:
            return
        stream.subscribers.discard(subscription)
        stream.last_touched = self._clock()
        self._counts.changed()
        if not stream.subscribers and stream.seq == 0:
            # Opened by a reader, never written to: keep nothing.
            self._drop(subscription.run_id)

    def _drop(self, run_id: UUID) -> None:
        stream = self._streams.pop(run_id, None)
        if stream is None:
            return
        if stream.drop_handle is not None:
            stream.drop_handle.cancel()
        for subscriber in stream.subscribers:
            subscriber.finish()
        stream.subscribers.clear()
        self._counts.changed()

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


class HasActivityStream(Protocol):
    @property
    def activity_stream(self) -> ActivityBackend: ...


def get_activity_stream(runtime: HasActivityStream) -> ActivityBackend:
    """The process's stream manager, from whatever holds the runtime's resources (`app.http.deps.StreamDep` uses it)."""
    return runtime.activity_stream
