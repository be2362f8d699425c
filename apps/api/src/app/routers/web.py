"""The web page: one HTML shell for every page address, and its static files.

The browser routes between pages itself (History API); the server answers each page address with
the same shell so a reload stays where it was. Page routes stay out of the OpenAPI schema: they
are not API.

`/history`, `/sellers` and `/sellers/{seller_id}` are also API paths (JSON). A browser's top-level
navigation says so in `Sec-Fetch-Dest: document`, which `fetch()`, curl and other API clients never
send: those navigations get the page, everything else gets the API unchanged. Only a seller *id*
(a UUID) is a page address: `/sellers/export` and the other API paths below `/sellers` stay API,
whoever asks (a download link is a navigation too).
"""

from __future__ import annotations

import re

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from app import __version__
from app.web import STATIC_DIR, TEMPLATES_DIR

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES_DIR)

# The shell must never be served stale (it names the asset version); assets are versioned by URL.
_NO_STORE = {"Cache-Control": "no-store"}


def _shell(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "shell.html", {"version": __version__}, headers=_NO_STORE)


@router.get("/", response_class=HTMLResponse)
async def runs_page(request: Request) -> HTMLResponse:
    return _shell(request)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: str) -> HTMLResponse:
    # The id is checked by the page against the API, which answers "not found" for a foreign or unknown run.
    return _shell(request)


@router.get("/schedules", response_class=HTMLResponse)
async def schedules_page(request: Request) -> HTMLResponse:
    return _shell(request)


@router.get("/notifications", response_class=HTMLResponse)
async def notifications_page(request: Request) -> HTMLResponse:
    return _shell(request)


# Page addresses that are API paths too; see the module docstring.
SHARED_PAGE_PATHS = frozenset({"/history", "/sellers"})
# A seller's page: /sellers/{seller_id}, the id in any of the forms the API's UUID path accepts.
SELLER_PAGE = re.compile(r"/sellers/[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}/?")


def is_page_path(path: str) -> bool:
    return path.rstrip("/") in SHARED_PAGE_PATHS or SELLER_PAGE.fullmatch(path) is not None


class PageNavigation:
    """ASGI middleware: a browser navigation to a shared path gets the page shell, not the JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and is_page_path(scope["path"])
            and (b"sec-fetch-dest", b"document") in scope["headers"]
        ):
            await _shell(Request(scope, receive))(scope, receive, send)
            return
        await self.app(scope, receive, send)


def install(app: FastAPI) -> None:
    """Mount the page's static files and its routes on `app`."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    app.add_middleware(PageNavigation)
