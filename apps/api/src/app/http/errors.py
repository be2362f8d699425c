"""Where the error hierarchy meets HTTP: every error, the app's and the framework's, as `{"detail": "..."}`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from app.db.outage import is_database_fault
from app.errors import AppError, TooManyRequests, quote

logger = logging.getLogger(__name__)


def error_response(status_code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error body: `{"detail": "<message>"}`; a lone surrogate in a message is shown escaped."""
    safe = detail.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse({"detail": safe}, status_code=status_code, headers=headers)


async def _handle_app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers: dict[str, str] = {}
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyRequests) and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after + 0.49)))
    return error_response(exc.status_code, exc.detail, headers or None)


def _location(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc) or "request"


def _shown(value: object) -> str:
    """A bad value as sent: JSON's spelling for numbers, booleans and null (5, true), so none reads as a string."""
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    return quote(value)


def describe_validation_errors(errors: Sequence[Any], limit: int = 3) -> str:
    """Pydantic's errors as one sentence, quoting at most a short prefix of each bad value."""
    parts = []
    for error in list(errors)[:limit]:
        message = f"{_location(error.get('loc', ()))}: {error.get('msg', 'invalid')}"
        if "input" in error and not isinstance(error["input"], dict | list):
            message += f" (got {_shown(error['input'])})"
        parts.append(message)
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


async def _handle_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, describe_validation_errors(exc.errors()))


class MethodTable:
    """Which methods each path serves, for a 405's Allow header (Starlette's names only the first route's)."""

    def __init__(self, routers: Sequence[APIRouter]) -> None:
        self._paths: list[tuple[re.Pattern[str], set[str]]] = []
        for router in routers:
            for route in router.routes:
                if isinstance(route, APIRoute):
                    self._paths.append((compile_path(route.path)[0], set(route.methods or ())))

    def allowed(self, path: str) -> list[str]:
        return sorted({m for pattern, methods in self._paths if pattern.match(path) for m in methods})


def _http_exception_handler(table: MethodTable) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's own errors (unknown route 404, wrong method 405, bad body 400), in the one body shape.
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(table.allowed(request.url.path))
        return error_response(exc.status_code, detail, headers or None)

    return handle


# What a client is told to wait before asking again while the database is away.
DATABASE_RETRY_AFTER_SECONDS = 5


async def _handle_database_error(_request: Request, exc: Exception) -> JSONResponse:
    """A database outage is the service's temporary state, not a bug: 503 with Retry-After. Other errors stay 500."""
    if not is_database_fault(exc):
        raise exc
    logger.warning("answering 503: the database does not answer (%s)", exc)
    return error_response(
        503,
        "The database is not available right now; try again shortly",
        {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def register_error_handlers(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    app.add_exception_handler(AppError, _handle_app_error)
    # PoolTimeout is an OperationalError; anything these classes hold that is not an outage is re-raised (500).
    for database_error in (psycopg.OperationalError, psycopg.InterfaceError):
        app.add_exception_handler(database_error, _handle_database_error)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler(MethodTable(routers)))
