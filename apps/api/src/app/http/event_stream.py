"""The activity feed on the wire: one lean Server-Sent Events response per connection.

Thousands of browsers may hold a run's feed open at once, so an open connection must cost little.
sse-starlette's `EventSourceResponse` runs four tasks in an anyio task group per connection (the
stream, a ping timer, a disconnect listener and a shutdown listener): about 44 KB per idle
subscriber, measured by `bench/stream_bench.py`. Here the request's own task writes the frames,
one small task waits for the disconnect, and the process-wide parts are shared: keepalives and
credential checks come from the `StreamGuard`'s one ticker, and server shutdown from
sse-starlette's one shutdown watcher (`close_streams_on_exit`).

The frames are sse-starlette's: events are encoded by `activity_stream.sse_frame` (checked byte
for byte against sse-starlette's encoder in the unit tests), comments and `retry:` by
`sse_starlette.ServerSentEvent` itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from app.http.stream_guard import StreamGuard
from app.services.activity_feed import FeedSource

logger = logging.getLogger(__name__)

KEEPALIVE = ServerSentEvent(comment="ping").encode()
# Never stored (the events are an org's data), and no buffering in proxies (nginx honours X-Accel-Buffering),
# so each frame goes out at once.
# No `Connection` header: HTTP/1.1 keeps the connection by default, and HTTP/2 forbids the header.
_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def opening_frame(retry_ms: int) -> bytes:
    """The first frame: flushes the headers at once and tells the browser how soon to reconnect."""
    return ServerSentEvent(comment="connected", retry=retry_ms).encode()


def comment_frame(text: str) -> bytes:
    return ServerSentEvent(comment=text).encode()


class EventStreamResponse(Response):
    """Streams `source`'s frames after `opening`, a keepalive comment whenever the source says one is due.

    Ends when the source ends (then sends `closing()`, if it gives anything) or the client goes
    (then the source is closed at once). `send_timeout` (seconds, None: off) ends a connection whose
    client stops taking data; it costs a timer per send. `on_close` runs once, however it ended.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        source: FeedSource,
        *,
        opening: bytes,
        closing: Callable[[], bytes] = lambda: b"",
        on_close: Callable[[], None] = lambda: None,
        send_timeout: float | None = None,
        status_code: int = 200,  # FastAPI's OpenAPI reads a response class's default status from here
    ) -> None:
        self.status_code = status_code
        self.background: BackgroundTask | None = None
        self.init_headers(_HEADERS)
        self._source = source
        self._opening = opening
        self._closing = closing
        self._on_close = on_close
        self._send_timeout = send_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnect = asyncio.create_task(self._close_on_disconnect(receive))
        try:
            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            await self._send(send, start)
            await self._send_body(send, self._opening)
            while True:
                try:
                    frame = await self._source.next_frame()
                except StopAsyncIteration:
                    break
                await self._send_body(send, KEEPALIVE if frame is None else frame)
            await self._send(send, {"type": "http.response.body", "body": self._closing(), "more_body": False})
        except TimeoutError:
            logger.info("ended an activity stream whose client took no data for %s s", self._send_timeout)
        finally:
            disconnect.cancel()
            self._source.close()
            self._on_close()

    async def _send_body(self, send: Send, body: bytes) -> None:
        await self._send(send, {"type": "http.response.body", "body": body, "more_body": True})

    async def _send(self, send: Send, message: Message) -> None:
        if self._send_timeout is None:
            await send(message)
        else:
            async with asyncio.timeout(self._send_timeout):
                await send(message)

    async def _close_on_disconnect(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._source.close()


async def close_streams_on_exit(guard: StreamGuard) -> None:
    """End every open stream when the server starts shutting down, so it need not wait for them.

    sse-starlette keeps one shutdown watcher per event loop (it notices uvicorn's exit signal);
    this waits on it once for the whole process. Run it as a task beside the app.
    """
    while True:
        await EventSourceResponse._listen_for_exit_signal()
        if guard.streams_open:
            logger.info("server shutting down: ending %d open activity streams", guard.streams_open)
        guard.close_all()
        # The signal stays raised while the server drains (and for good in a process where an
        # earlier server exited): end streams opened meanwhile too, as often as the watcher looks.
        await asyncio.sleep(0.5)
