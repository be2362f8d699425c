"""CORS on the activity stream only, for the origins the settings name.

Stream tokens exist so that a page on another origin can open a run's EventSource; the browser
lets that page read the stream only when the answer carries CORS headers for its origin. Nothing
else in the API is opened to other origins, and no credentials (cookies) are allowed cross-origin.
"""

from __future__ import annotations

import re

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

ACTIVITY_PATH = re.compile(r"/collection/runs/[^/]+/activity")


class StreamCORSMiddleware:
    def __init__(self, app: ASGIApp, *, origins: list[str]) -> None:
        self.app = app
        self.enabled = bool(origins)
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET"],
            allow_headers=["Last-Event-ID", "Cache-Control"],
            allow_credentials=False,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.enabled and scope["type"] == "http" and ACTIVITY_PATH.fullmatch(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
