"""The activity feed on Redis Streams, for several processes (chosen by `REDIS_URL`).

Per run, a stream `<prefix>:run:<id>:events` and a counter `<prefix>:run:<id>:seq`:

- Publishing: `push` never blocks. Events go, in order, through one writer task per process,
  which runs a Lua script per event (pipelined): INCR the counter, XADD with the counter as the
  entry id (`<seq>-0`, so the SSE id is the counter, monotonic per run across processes) and
  `MAXLEN ~ SELLERCOLLECTION_ACTIVITY_HISTORY`. A missing counter starts above the run's
  persisted floor (and above the stream's last entry), so ids never go back after a restart.
- Reading: one reader task per process per run that has local subscribers, blocking in XREAD on
  its own connection and fanning out to the subscribers' bounded queues, exactly as the in-memory
  backend does. A browser never holds a Redis connection.
- Replay: a new subscriber reads `XRANGE` after its Last-Event-ID (from whichever process wrote
  it), then live events; overlaps are dropped by id. If the stream no longer reaches back that
  far, a `gap` event comes first, with the same meaning as in memory.
- The terminal event ends every subscription in every process; the finished run's stream and
  counter then expire after `SELLERCOLLECTION_ACTIVITY_FINISHED_GRACE_SECONDS` (its last events
  live on in PostgreSQL).
- Losing Redis never stops a run: events that cannot be written are dropped and counted, each
  subscriber gets a `gap` notice saying the live feed is interrupted, and reading resumes from
  the last id it had once Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID, uuid4

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from app import metrics
from app.models import ActivityEntry
from app.services.activity_stream import StreamEvent, SubscriberCounts, Subscription, Waker, sse_frame

logger = logging.getLogger(__name__)

_XREAD_BLOCK_MS = 5_000
_RETRY_SECONDS = 0.5
_WRITE_BATCH = 500
_INTERRUPTED = "Live feed interrupted: Redis is unreachable; events published meanwhile are lost"

# KEYS: stream, counter, base (the floor the counter started from).
# ARGV: data before the seq, data after it, terminal flag, maxlen, floor, ttl in ms for a finished
# stream, ttl in ms for a live one.
_PUBLISH = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  local floor = tonumber(ARGV[5])
  local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  if top[1] then
    local last = tonumber(string.match(top[1][1], '^(%d+)'))
    if last > floor then floor = last end
  end
  redis.call('SET', KEYS[2], floor)
  redis.call('SET', KEYS[3], floor)
end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], seq .. '-0', 'd', ARGV[1] .. seq .. ARGV[2], 't', ARGV[3])
local ttl = ARGV[7]
if ARGV[3] == '1' then ttl = ARGV[6] end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
return seq
"""

# The seq placeholder in an event's JSON. Inside a JSON string a quote is escaped, so this
# can only be the `seq` member itself (ActivityEntry puts it right after `id`).
_SEQ_MARK = ',"seq":0,'


@dataclass
class _Outgoing:
    run_id: UUID
    head: str
    tail: str
    terminal: bool


def _seq_of(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


def _event_of(entry_id: bytes | str, fields: Mapping[bytes, bytes]) -> StreamEvent:
    data = fields[b"d"].decode()
    # The stored JSON is what every process sends, byte for byte; it is parsed only for the typed view.
    return StreamEvent(
        entry=ActivityEntry.model_validate_json(data), data=data, frame=sse_frame(_seq_of(entry_id), data)
    )


def gap_event(missed: int | None, message: str | None = None) -> StreamEvent:
    """A `gap` notice; with `message`, it also says why (the backend is unreachable)."""
    if message is None:
        return StreamEvent.of(ActivityEntry.gap(missed))
    return StreamEvent.of(
        ActivityEntry.create(0, "run", "gap", id=f"gap-{uuid4()}", missed=missed, error_message=message)
    )


class _RedisSubscription(Subscription):
    """A subscription whose replay comes from Redis before its first event; overlaps are dropped by id."""

    __slots__ = ("_cursor", "_replay")

    def __init__(self, reader: _RunReader, run_id: UUID, queue_size: int, after: int | None, waker: Waker) -> None:
        super().__init__(run_id, queue_size, reader.unsubscribe, waker)
        self._cursor = after or 0
        # The replay is read at once, not at the first read: a subscriber that starts reading late
        # must not find its events trimmed meanwhile (in memory, they are copied at subscribe).
        self._replay: asyncio.Task[None] | None = asyncio.create_task(reader.replay_into(self, after))

    async def next_event(self) -> StreamEvent | None:
        if self._replay is not None:
            replay, self._replay = self._replay, None
            await replay
        return await super().next_event()

    def take_ready(self, limit: int) -> list[StreamEvent]:
        return [] if self._replay is not None else super().take_ready(limit)

    def _accept(self, event: StreamEvent) -> bool:
        if event.seq is None:
            return True
        if event.seq <= self._cursor:
            return False  # already delivered by the replay
        self._cursor = event.seq
        return True

    def close(self) -> None:
        if self._replay is not None:
            self._replay.cancel()
            self._replay = None
        super().close()


@dataclass
class _RunReader:
    """The one XREAD loop of this process for one run, fanning out to local subscribers."""

    backend: RedisActivityStream
    run_id: UUID
    subscribers: set[Subscription] = field(default_factory=set)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    interrupted: bool = False

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscribers.discard(subscription)
        self.backend._subscribers_changed(self)

    def offer(self, event: StreamEvent) -> None:
        for subscriber in list(self.subscribers):
            subscriber.offer(event)

    def notice(self) -> None:
        if not self.interrupted:
            self.interrupted = True
            self.offer(gap_event(None, _INTERRUPTED))

    async def run(self) -> None:
        key = self.backend.stream_key(self.run_id)
        client = self.backend.reader_client
        cursor: str | None = None
        while True:
            try:
                if cursor is None:
                    top = await cast(Any, client.xrevrange(key, "+", "-", count=1))
                    cursor = top[0][0].decode() if top else "0-0"
                    self.ready.set()
                answer = await cast(Any, client.xread({key: cursor}, block=_XREAD_BLOCK_MS, count=_WRITE_BATCH))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                logger.warning("activity reader for run %s: Redis unreachable; retrying", self.run_id, exc_info=True)
                self.notice()
                self.ready.set()  # subscribers go on without replay rather than wait for Redis
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            self.interrupted = False
            for _stream, entries in answer or ():
                for entry_id, fields in entries:
                    event = _event_of(entry_id, fields)
                    seen = _seq_of(cursor)
                    if seen and event.seq is not None and event.seq > seen + 1:
                        # Trimmed before this process read them (it lagged more than the history).
                        self.offer(gap_event(event.seq - seen - 1))
                    cursor = entry_id.decode()
                    self.offer(event)
                    if event.terminal:
                        return

    async def replay_into(self, subscription: _RedisSubscription, after: int | None) -> None:
        """Put the retained events after `after` ahead of whatever live events are already queued."""
        await self.ready.wait()
        key = self.backend.stream_key(self.run_id)
        client = self.backend.client
        try:
            # The newest entry first: the stream only grows, so what it says holds for the range read next.
            top = await cast(Any, client.xrevrange(key, "+", "-", count=1))
            last = _event_of(*top[0]) if top else None
            if after is not None and last is not None and last.terminal and last.seq is not None and after >= last.seq:
                subscription.close()  # the run is over and this client has seen all of it
                return
            base = int(await cast(Any, client.get(self.backend.base_key(self.run_id))) or 0)
            # Ids above the stream's last, or up to the floor it started from, were handed out by
            # something this stream does not hold.
            unknown = after is not None and (
                last is None or last.seq is None or after > last.seq or (base > 0 and after <= base)
            )
            start = "-" if after is None or unknown else f"{after + 1}-0"
            entries = await cast(Any, client.xrange(key, start, "+"))
        except (RedisError, OSError):
            subscription.offer(gap_event(None, _INTERRUPTED))
            return
        # Live events may already be queued (the reader fans out from the moment of subscribing);
        # together with the replay they are the events to deliver, in id order, each once.
        queued = subscription.queued
        merged = {event.seq: event for event in queued if event.seq is not None}
        merged.update(
            (seq, event) for entry_id, fields in entries if (seq := (event := _event_of(entry_id, fields)).seq)
        )
        ordered = [merged[seq] for seq in sorted(s for s in merged if s is not None)]
        if unknown:
            # An id this stream never handed out (it expired, or Redis lost it): unknown loss, then all it holds.
            subscription.note_gap(None)
            subscription._cursor = 0
        elif after is not None and ordered and ordered[0].seq is not None and ordered[0].seq > after + 1:
            subscription.note_gap(ordered[0].seq - after - 1)
        subscription.replace_queue([event for event in queued if event.seq is None] + ordered)


class RedisActivityStream:
    """`ActivityBackend` on Redis Streams. Create one per app (the lifespan does), then `start()`."""

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "sellercollection",
        history: int = 100,
        subscriber_queue_size: int = 1000,
        finished_ttl_seconds: float = 120.0,
        idle_ttl_seconds: float = 3600.0,
        write_delay_seconds: float = 0.0,
    ) -> None:
        self._url = url
        self._waker = Waker(write_delay_seconds)
        self._prefix = key_prefix
        self._history = history
        self._queue_size = subscriber_queue_size
        self._finished_ttl_ms = max(1, int(finished_ttl_seconds * 1000))
        self._idle_ttl_ms = max(1, int(idle_ttl_seconds * 1000))
        self._floors: dict[UUID, int] = {}
        self._outbox: deque[_Outgoing] = deque()
        self._outbox_ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self._readers: dict[UUID, _RunReader] = {}
        self._counts = SubscriberCounts(self.subscriber_count)
        self._client: Redis | None = None
        self._reader_client: Redis | None = None
        self._script: AsyncScript | None = None
        self.write_failures = 0

    # --- keys and clients ------------------------------------------------------------------------

    def stream_key(self, run_id: UUID) -> str:
        return f"{self._prefix}:run:{run_id}:events"

    def counter_key(self, run_id: UUID) -> str:
        return f"{self._prefix}:run:{run_id}:seq"

    def base_key(self, run_id: UUID) -> str:
        return f"{self._prefix}:run:{run_id}:base"

    @property
    def client(self) -> Redis:
        assert self._client is not None, "start() the backend first"
        return self._client

    @property
    def reader_client(self) -> Redis:
        # Blocking XREADs get their own pool, so a burst of them never starves the writer.
        assert self._reader_client is not None, "start() the backend first"
        return self._reader_client

    async def start(self) -> None:
        self._client = Redis.from_url(self._url, socket_connect_timeout=2, socket_timeout=5)
        self._reader_client = Redis.from_url(
            # A blocking XREAD answers within its block time; the margin is for a busy host, and the
            # timeout still catches a half-open connection.
            self._url,
            socket_connect_timeout=2,
            socket_timeout=(_XREAD_BLOCK_MS / 1000) + 30,
        )
        self._script = self._client.register_script(_PUBLISH)
        self._writer = asyncio.create_task(self._write_loop(), name="activity-redis-writer")

    async def aclose(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), 5.0)  # what is already published reaches Redis
        tasks = [r.task for r in self._readers.values() if r.task is not None]
        if self._writer is not None:
            tasks.append(self._writer)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for reader in list(self._readers.values()):
            for subscriber in list(reader.subscribers):
                subscriber.close()
        self._readers.clear()
        for client in (self._client, self._reader_client):
            if client is not None:
                await client.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await cast(Any, self.client.ping()))
        except (RedisError, OSError):
            return False

    # --- publishing ------------------------------------------------------------------------------

    def push(self, run_id: UUID, event: ActivityEntry) -> None:
        data = event.model_copy(update={"seq": 0}).to_json()
        head, mark, tail = data.partition(_SEQ_MARK)
        assert mark, "ActivityEntry must serialise seq after id"
        self._outbox.append(_Outgoing(run_id, head + ',"seq":', "," + tail, event.is_terminal))
        self._idle.clear()
        self._outbox_ready.set()

    def ensure_floor(self, run_id: UUID, floor: int) -> None:
        self._floors[run_id] = max(self._floors.get(run_id, 0), floor)

    async def _write_loop(self) -> None:
        while True:
            if not self._outbox:
                self._idle.set()
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            batch = [self._outbox.popleft() for _ in range(min(len(self._outbox), _WRITE_BATCH))]
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                self.write_failures += 1
                metrics.EVENTS_DROPPED.labels("backend_unavailable").inc(len(batch))
                logger.warning("activity feed: %d events dropped, Redis unreachable", len(batch), exc_info=True)
                for run_id in {item.run_id for item in batch}:
                    reader = self._readers.get(run_id)
                    if reader is not None:
                        reader.notice()
                await asyncio.sleep(_RETRY_SECONDS)
            else:
                metrics.EVENTS_PUBLISHED.labels(self.name).inc(len(batch))

    async def _write(self, batch: list[_Outgoing]) -> None:
        assert self._script is not None
        async with self.client.pipeline(transaction=False) as pipe:
            for item in batch:
                await self._script(
                    keys=[
                        self.stream_key(item.run_id),
                        self.counter_key(item.run_id),
                        self.base_key(item.run_id),
                    ],
                    args=[
                        item.head,
                        item.tail,
                        "1" if item.terminal else "0",
                        self._history,
                        self._floors.get(item.run_id, 0),
                        self._finished_ttl_ms,
                        self._idle_ttl_ms,
                    ],
                    client=pipe,
                )
            seqs = await pipe.execute()
        for item, seq in zip(batch, seqs, strict=True):
            if item.terminal:
                self._floors.pop(item.run_id, None)
            else:
                # Should Redis lose the counter (a restart without persistence), numbering resumes
                # above what this process wrote, not at 1.
                self._floors[item.run_id] = max(self._floors.get(item.run_id, 0), int(seq))

    async def flush(self) -> None:
        """Until everything pushed so far has been written (or dropped)."""
        await self._idle.wait()

    # --- reading ---------------------------------------------------------------------------------

    def subscribe(self, run_id: UUID, last_event_id: int | None = None) -> Subscription:
        reader = self._readers.get(run_id)
        if reader is None or (reader.task is not None and reader.task.done()):
            reader = self._readers[run_id] = _RunReader(self, run_id)
            reader.task = asyncio.create_task(reader.run(), name=f"activity-redis-reader-{run_id}")
        subscription = _RedisSubscription(reader, run_id, self._queue_size, last_event_id, self._waker)
        reader.subscribers.add(subscription)
        self._subscribers_changed(reader)
        return subscription

    def _subscribers_changed(self, reader: _RunReader) -> None:
        if not reader.subscribers and self._readers.get(reader.run_id) is reader:
            del self._readers[reader.run_id]
            if reader.task is not None:
                reader.task.cancel()
        self._counts.changed()

    def subscriber_count(self, run_id: UUID) -> int:
        reader = self._readers.get(run_id)
        return len(reader.subscribers) if reader else 0

    async def wait_for_subscribers(self, run_id: UUID, count: int) -> None:
        """Until this process has exactly `count` subscribers on `run_id` (tests, benchmarks)."""
        await self._counts.wait(run_id, count)

    async def last_seq(self, run_id: UUID) -> int | None:
        try:
            top = await cast(Any, self.client.xrevrange(self.stream_key(run_id), "+", "-", count=1))
        except (RedisError, OSError):
            return None
        return _seq_of(top[0][0]) if top else None

    async def recent(self, run_id: UUID) -> list[StreamEvent]:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), 5.0)
        entries = await cast(Any, self.client.xrevrange(self.stream_key(run_id), "+", "-", count=self._history))
        return [_event_of(entry_id, fields) for entry_id, fields in reversed(entries)]
