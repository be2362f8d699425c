"""Every FastAPI dependency, as `Annotated` aliases: the runtime's parts, and who is calling.

The lifespan puts one `Runtime` on `app.state`; handlers ask for its parts (`PoolDep`, `StreamDep`,
...) and for a caller with the permissions they need (`CallerDep`, `AutomationDep`, ...). Reading
credentials from the request happens here; turning them into a `Caller` is `app.security`'s job.
"""

from __future__ import annotations

from typing import Annotated, cast
from uuid import UUID

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from app.config import Settings
from app.db import Database, Pool
from app.errors import NotAuthenticated
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
)
from app.services.activity_stream import ActivityBackend, get_activity_stream
from app.services.collection import RunLifecycle
from app.services.export_slots import ExportSlots
from app.services.run_executor import RunExecutor

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Declared for the OpenAPI document (and /docs' Authorize button); the credentials are read below.
bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearerAuth", description="An API token: `sc_...`")
session_scheme = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, scheme_name="sessionCookie", description="From POST /auth/session"
)
BearerDeclared = Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]
SessionDeclared = Annotated[str | None, Security(session_scheme)]


def get_runtime(conn: HTTPConnection) -> Runtime:
    return cast(Runtime, conn.app.state.runtime)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


def get_database(runtime: RuntimeDep) -> Database:
    return runtime.database


def get_pool(runtime: RuntimeDep) -> Pool:
    return runtime.pool


def get_stream(runtime: RuntimeDep) -> ActivityBackend:
    return get_activity_stream(runtime)


def get_executor(runtime: RuntimeDep) -> RunExecutor:
    return runtime.executor


def get_lifecycle(runtime: RuntimeDep) -> RunLifecycle:
    return RunLifecycle(pool=runtime.pool, executor=runtime.executor, stream=get_activity_stream(runtime))


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
PoolDep = Annotated[Pool, Depends(get_pool)]
StreamDep = Annotated[ActivityBackend, Depends(get_stream)]
ExecutorDep = Annotated[RunExecutor, Depends(get_executor)]
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


async def authenticate(
    request: Request, pool: PoolDep, _bearer: BearerDeclared = None, _session: SessionDeclared = None
) -> Caller:
    """The caller, from a Bearer token or else a session cookie; 401 when neither is valid."""
    token = bearer_token(request)
    if token is not None:
        return await caller_from_token(pool, token)
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        raise NotAuthenticated("Not authenticated: send 'Authorization: Bearer <token>' or a session cookie")
    # A state-changing cookie request must prove it comes from our page (CSRF); an absent header proves nothing.
    csrf = None if request.method in _SAFE_METHODS else request.headers.get(CSRF_HEADER, "")
    return await caller_from_session(pool, session, csrf_token=csrf)


CallerDep = Annotated[Caller, Depends(authenticate)]


def _automation(caller: CallerDep) -> Caller:
    return check_permission(caller, AUTOMATION)


def _sellers_read(caller: CallerDep) -> Caller:
    return check_permission(caller, *SELLERS_READ)


def _sellers_write(caller: CallerDep) -> Caller:
    return check_permission(caller, *SELLERS_WRITE)


async def _activity_caller(
    request: Request,
    run_id: UUID,
    pool: PoolDep,
    stream_token: Annotated[str | None, Query(description="Short-lived token from POST .../activity/token")] = None,
    _bearer: BearerDeclared = None,
    _session: SessionDeclared = None,
) -> Caller:
    """Bearer header, session cookie, or a stream token issued for this very run."""
    if stream_token:
        caller = await caller_from_stream_token(pool, stream_token, run_id)
    else:
        caller = await authenticate(request, pool)
    return check_permission(caller, AUTOMATION)


# Callers holding the permission an endpoint needs (403 otherwise).
AutomationDep = Annotated[Caller, Depends(_automation)]
SellersReadDep = Annotated[Caller, Depends(_sellers_read)]
SellersWriteDep = Annotated[Caller, Depends(_sellers_write)]
ActivityReaderDep = Annotated[Caller, Depends(_activity_caller)]


def get_export_slots(conn: HTTPConnection) -> ExportSlots:
    return cast(ExportSlots, conn.app.state.export_slots)


ExportSlotsDep = Annotated[ExportSlots, Depends(get_export_slots)]
