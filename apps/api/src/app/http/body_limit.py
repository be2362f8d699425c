"""A request body limit, enforced while the body arrives rather than after it was all read.

A declared `Content-Length` over the limit is refused before any of the body is kept. A chunked
(or understated) body is counted as it streams in and refused as soon as the count passes the
limit, so memory never holds more than the limit. The rest of a refused body is read and dropped
before the 413 goes out: most clients send their whole body before they read an answer, and
would see a reset connection instead of the 413 if the server stopped reading.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.errors import error_response


class _TooLarge(HTTPException):
    # An HTTPException, because FastAPI turns any other error raised while it reads a body into a 400.
    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _detail(self) -> str:
        return f"Request body too large: the limit is {self.max_bytes} bytes (SELLERCOLLECTION_MAX_REQUEST_BODY_BYTES)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _drain(receive)
                await error_response(413, self._detail())(scope, receive, send)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if message.get("more_body", False):
                        await _drain(receive)
                    raise _TooLarge(self._detail())
            return message

        await self.app(scope, counting_receive, send)
