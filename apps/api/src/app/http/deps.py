"""Every FastAPI dependency, as `Annotated` aliases: the runtime's parts, and who is calling.

The lifespan builds one `ServerState` (app.http.state); handlers ask for its parts (`PoolDep`,
`StreamDep`, `ExportSlotsDep`, ...), all read through `ServerDep`, and for a caller with the
permissions they need (`CallerDep`, `AutomationDep`, ...). Reading
credentials from the request happens here; turning them into a `Caller` is `app.security`'s job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar
from urllib.parse import unquote_plus
from uuid import UUID

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from app.config import Settings
from app.db.pool import Database, Pool
from app.errors import NotAuthenticated
from app.http.export_slots import ExportSlots
from app.http.state import ServerState, server_state
from app.http.stream_guard import StreamCredential, StreamGuard
from app.runtime import Runtime
from app.security import (
    AUTOMATION,
    CSRF_HEADER,
    SELLERS_READ,
    SELLERS_WRITE,
    SESSION_COOKIE,
    Caller,
    caller_from_session,
    caller_from_stream_token,
    caller_from_token,
    check_permission,
    hash_secret,
)
from app.services.activity_stream import ActivityBackend, get_activity_stream
from app.services.runs.executor import RunExecutor
from app.services.runs.lifecycle import RunLifecycle
from app.services.scheduling.schedules import Clock

T = TypeVar("T")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Declared for the OpenAPI document (and /docs' Authorize button); the credentials are read below.
bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearerAuth", description="An API token: `sc_...`")
session_scheme = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, scheme_name="sessionCookie", description="From POST /auth/session"
)
BearerDeclared = Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]
SessionDeclared = Annotated[str | None, Security(session_scheme)]


def get_server(conn: HTTPConnection) -> ServerState:
    return server_state(conn.app)


ServerDep = Annotated[ServerState, Depends(get_server)]


def _server_part(read: Callable[[ServerState], T]) -> Callable[[ServerState], T]:
    """A dependency on one part of the server state."""

    def part(server: ServerDep) -> T:
        return read(server)

    return part


RuntimeDep = Annotated[Runtime, Depends(_server_part(lambda server: server.runtime))]
SettingsDep = Annotated[Settings, Depends(_server_part(lambda server: server.runtime.settings))]
DatabaseDep = Annotated[Database, Depends(_server_part(lambda server: server.runtime.database))]
PoolDep = Annotated[Pool, Depends(_server_part(lambda server: server.runtime.pool))]
StreamDep = Annotated[ActivityBackend, Depends(_server_part(lambda server: get_activity_stream(server.runtime)))]
ExecutorDep = Annotated[RunExecutor, Depends(_server_part(lambda server: server.runtime.executor))]
ExportSlotsDep = Annotated[ExportSlots, Depends(_server_part(lambda server: server.export_slots))]
StreamGuardDep = Annotated[StreamGuard, Depends(_server_part(lambda server: server.stream_guard))]
# The scheduler's clock (real time, or a test's faster one), so next fire times agree with it.
ClockDep = Annotated[Clock, Depends(_server_part(lambda server: server.scheduler.clock))]


def get_lifecycle(runtime: RuntimeDep) -> RunLifecycle:
    return RunLifecycle(pool=runtime.pool, executor=runtime.executor, stream=get_activity_stream(runtime))


LifecycleDep = Annotated[RunLifecycle, Depends(get_lifecycle)]


# --- who is calling --------------------------------------------------------------------------------


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header; None without the header, 401 when it is malformed."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("Malformed Authorization header: expected 'Bearer <token>'")
    return token.strip()


async def signed_in(request: HTTPConnection, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run a credential check under the client address's failed-attempt limit (429 past it, before any query).

    Every check of a credential a client sends goes through here: API tokens, sessions, stream
    tokens and the metrics scrape token, so guessing any of them is throttled alike.
    """
    throttle = server_state(request.app).signin_throttle
    address = request.client.host if request.client else "unknown"
    throttle.check(address)
    try:
        return await attempt()
    except NotAuthenticated:
        throttle.failed(address)
        raise


async def authenticate(
    request: Request, pool: PoolDep, _bearer: BearerDeclared = None, _session: SessionDeclared = None
) -> Caller:
    """The caller, from a Bearer token or else a session cookie; 401 when neither is valid."""
    token = bearer_token(request)
    if token is not None:
        return await signed_in(request, lambda: caller_from_token(pool, token))
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        raise NotAuthenticated("Not authenticated: send 'Authorization: Bearer <token>' or a session cookie")
    # A state-changing cookie request must prove it comes from our page (CSRF); an absent header proves nothing.
    csrf = None if request.method in _SAFE_METHODS else request.headers.get(CSRF_HEADER, "")
    return await signed_in(request, lambda: caller_from_session(pool, session, csrf_token=csrf))


CallerDep = Annotated[Caller, Depends(authenticate)]


async def optional_caller(request: Request, pool: Pool) -> Caller | None:
    """The caller when the request sends credentials (checked as everywhere: 401, 429), None when it sends none."""
    if "authorization" not in request.headers and not request.cookies.get(SESSION_COOKIE):
        return None
    return await authenticate(request, pool)


def _automation(caller: CallerDep) -> Caller:
    return check_permission(caller, AUTOMATION)


def _sellers_read(caller: CallerDep) -> Caller:
    return check_permission(caller, *SELLERS_READ)


def _sellers_write(caller: CallerDep) -> Caller:
    return check_permission(caller, *SELLERS_WRITE)


STREAM_TOKEN_PARAM = "stream_token"


def exact_query_param(request: HTTPConnection, name: str) -> str | None:
    """A query parameter spelled exactly `name` in the raw query string (a percent-encoded name does not count).

    Starlette decodes names, so `?stream_tok%65n=` would read as `stream_token`; a credential is
    taken only from the spelling that every log redactor and proxy recognises.
    """
    wanted = name.encode()
    for part in request.scope.get("query_string", b"").split(b"&"):
        key, sep, value = part.partition(b"=")
        if sep and key == wanted:
            return unquote_plus(value.decode("latin-1"))
    return None


@dataclass(frozen=True)
class ActivityReader:
    caller: Caller
    credential: StreamCredential


async def _activity_reader(
    request: Request,
    run_id: UUID,
    pool: PoolDep,
    stream_token: Annotated[
        str | None, Query(description="Short-lived token from POST .../activity/token (this exact name only)")
    ] = None,
    _bearer: BearerDeclared = None,
    _session: SessionDeclared = None,
) -> ActivityReader:
    """Bearer header, session cookie, or a stream token issued for this very run."""
    exact = exact_query_param(request, STREAM_TOKEN_PARAM)
    if exact:
        caller = await signed_in(request, lambda: caller_from_stream_token(pool, exact, run_id))
        # The session it was issued through (if any) is checked with it: the stream ends with the session.
        credential = StreamCredential(
            token_id=caller.token_id, session_id=caller.session_id, stream_token_hash=hash_secret(exact)
        )
    else:
        caller = await authenticate(request, pool)
        credential = StreamCredential(token_id=caller.token_id, session_id=caller.session_id)
    return ActivityReader(caller=check_permission(caller, AUTOMATION), credential=credential)


# Callers holding the permission an endpoint needs (403 otherwise).
AutomationDep = Annotated[Caller, Depends(_automation)]
SellersReadDep = Annotated[Caller, Depends(_sellers_read)]
SellersWriteDep = Annotated[Caller, Depends(_sellers_write)]
ActivityReaderDep = Annotated[ActivityReader, Depends(_activity_reader)]
