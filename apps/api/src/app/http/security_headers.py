"""Security headers on every answer: no framing, no inline script, no sniffing, no referrer off the origin, no caching.

A pure ASGI middleware that only adds headers to the response's start message, so streamed answers
(the SSE feed, exports) stream exactly as before: no body passes through it. An endpoint that sets
one of these headers itself keeps its own value.

- `Content-Security-Policy`: scripts, styles, connections, fonts and frames only from this origin,
  images also as `data:` URLs (the run page's favicon, Swagger UI's icons), no plugins, no `<base>`,
  forms post only here, and `frame-ancestors 'none'`: no page on any origin may frame this one.
  `X-Frame-Options: DENY` says the same to browsers that predate `frame-ancestors`.
- `Cache-Control: no-store` on everything but the static assets (their URLs carry the version),
  because API answers carry an org's data, which no shared or browser cache should keep.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, cacheable_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.cacheable_prefixes = cacheable_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = not scope["path"].startswith(self.cacheable_prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
                if no_store:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
