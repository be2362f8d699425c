"""A streamed download that ends a stalled client, and tells whether its whole body was sent."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


class Download(StreamingResponse):
    """`on_complete` runs once the last data byte was handed to the server (before the body's end).

    `on_close` runs in every case.

    A client that takes no data for `send_timeout` seconds is dropped: the response stops, and the
    server closes the connection because the body was never completed.
    """

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        send_timeout: float,
        on_complete: Callable[[], Awaitable[None]],
        on_close: Callable[[], None],
        media_type: str,
        headers: dict[str, str],
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._send_timeout = send_timeout
        self._on_complete = on_complete
        self._on_close = on_close

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.body_iterator:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        # Before the body's end: a client that has read the whole body finds the export recorded.
        await self._on_complete()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def timed_send(message: Message) -> None:
            with anyio.fail_after(self._send_timeout):
                await send(message)

        try:
            await super().__call__(scope, receive, timed_send)
        except TimeoutError:
            logger.warning("download stalled for %.0f s; dropping the client", self._send_timeout)
        finally:
            self._on_close()
