"""Collection run endpoints, including the live activity feed (SSE)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sse_starlette import EventSourceResponse

from app.auth import Caller, authenticate, caller_from_stream_token, check_permission, require_permission_key
from app.config import Settings
from app.db import Pool
from app.deps import get_pool, get_settings
from app.errors import InvalidInput
from app.models import (
    RunCreate,
    RunHistoryEntry,
    RunHistoryList,
    RunList,
    RunProgress,
    RunResponse,
    StreamTokenResponse,
)
from app.services import activity_feed, collection
from app.services.activity_stream import ActivityStreamManager, get_activity_stream
from app.services.run_executor import RunExecutor

router = APIRouter(prefix="/collection", tags=["collection"])

AUTOMATION = "admin.automation"


def get_executor(request: Request) -> RunExecutor:
    executor: RunExecutor = request.app.state.executor
    return executor


@router.post("/runs", response_model=RunResponse, status_code=201)
async def create_run(
    body: RunCreate,
    caller: Caller = Depends(require_permission_key(AUTOMATION)),
    pool: Pool = Depends(get_pool),
    settings: Settings = Depends(get_settings),
) -> RunResponse:
    """Create a pending run over the given leaf categories (422 names unknown ids; 429 over the open-run limit)."""
    run = await collection.create_run(pool, settings, caller=caller, name=body.name, category_ids=body.category_ids)
    return RunResponse.model_validate(run)


@router.get("/runs", response_model=RunList)
async def list_runs(
    caller: Caller = Depends(require_permission_key(AUTOMATION)),
    pool: Pool = Depends(get_pool),
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RunList:
    """The org's runs, newest first."""
    runs, total = await collection.list_runs(pool, caller=caller, limit=limit, offset=offset)
    return RunList(runs=[RunResponse.model_validate(r) for r in runs], total=total, limit=limit, offset=offset)


@router.get("/runs/history", response_model=RunHistoryList)
async def run_history(
    caller: Caller = Depends(require_permission_key(AUTOMATION)),
    pool: Pool = Depends(get_pool),
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RunHistoryList:
    """Finished runs with duration, categories, products, sellers found and new, and the seller-count snapshot."""
    runs, total = await collection.run_history(pool, caller=caller, limit=limit, offset=offset)
    return RunHistoryList(runs=[RunHistoryEntry.model_validate(r) for r in runs], total=total)


@router.get("/runs/{run_id}", response_model=RunResponse)
async def get_run(
    run_id: UUID, caller: Caller = Depends(require_permission_key(AUTOMATION)), pool: Pool = Depends(get_pool)
) -> RunResponse:
    return RunResponse.model_validate(await collection.get_run(pool, caller=caller, run_id=run_id))


@router.get("/runs/{run_id}/progress", response_model=RunProgress)
async def get_progress(
    run_id: UUID,
    caller: Caller = Depends(require_permission_key(AUTOMATION)),
    pool: Pool = Depends(get_pool),
    executor: RunExecutor = Depends(get_executor),
) -> RunProgress:
    """Phase, counters, item tallies, each worker's current step and any rate-limit wait."""
    return RunProgress.model_validate(await collection.progress(pool, executor, caller=caller, run_id=run_id))


async def _lifecycle(
    action: str, run_id: UUID, caller: Caller, pool: Pool, executor: RunExecutor, stream: ActivityStreamManager
) -> RunResponse:
    handlers = {
        "start": collection.start_run,
        "pause": collection.pause_run,
        "resume": collection.resume_run,
        "cancel": collection.cancel_run,
    }
    run = await handlers[action](pool, executor, stream, caller=caller, run_id=run_id)
    return RunResponse.model_validate(run)


@router.post("/runs/{run_id}/start", response_model=RunResponse)
async def start_run(
    run_id: UUID,
    caller: Caller = Depends(require_permission_key(AUTOMATION)),
    pool: Pool = Depends(get_pool),
    executor: RunExecutor = Depends(get_executor),
    stream: ActivityStreamManager = Depends(get_activity_stream),
) -> RunResponse:
    """Start a pending run (idempotent for a running one)."""
    return await _lifecycle("start", run_id, caller, pool, executor, stream)


@router.post("/runs/{run_id}/pause", response_model=RunResponse)
async def pause_run(
    run_id: UUID,
    caller: Caller = Depends(require_permission_key(AUTOMATION)),
    pool: Pool = Depends(get_pool),
    executor: RunExecutor = Depends(get_executor),
    stream: ActivityStreamManager = Depends(get_activity_stream),
) -> RunResponse:
    """Pause a running run; finished items stay finished."""
    return await _lifecycle("pause", run_id, caller, pool, executor, stream)


@router.post("/runs/{run_id}/resume", response_model=RunResponse)
async def resume_run(
    run_id: UUID,
    caller: Caller = Depends(require_permission_key(AUTOMATION)),
    pool: Pool = Depends(get_pool),
    executor: RunExecutor = Depends(get_executor),
    stream: ActivityStreamManager = Depends(get_activity_stream),
) -> RunResponse:
    """Resume a paused run with its unfinished items only (idempotent for a running one)."""
    return await _lifecycle("resume", run_id, caller, pool, executor, stream)


@router.post("/runs/{run_id}/cancel", response_model=RunResponse)
async def cancel_run(
    run_id: UUID,
    caller: Caller = Depends(require_permission_key(AUTOMATION)),
    pool: Pool = Depends(get_pool),
    executor: RunExecutor = Depends(get_executor),
    stream: ActivityStreamManager = Depends(get_activity_stream),
) -> RunResponse:
    """Cancel an open run; in-flight work is stopped."""
    return await _lifecycle("cancel", run_id, caller, pool, executor, stream)


async def activity_caller(
    request: Request,
    run_id: UUID,
    stream_token: Annotated[str | None, Query(description="Short-lived token from POST .../activity/token")] = None,
    pool: Pool = Depends(get_pool),
) -> Caller:
    """Bearer header, session cookie, or a stream token issued for this very run."""
    if stream_token:
        caller = await caller_from_stream_token(pool, stream_token, run_id)
    else:
        caller = await authenticate(request, pool)
    return check_permission(caller, AUTOMATION)


def _last_event_id(header: str | None, query: int | None) -> int | None:
    # The header (set by the browser on reconnect) wins over the query parameter (a fresh EventSource).
    if header is None or header == "":
        return query
    if not header.isdigit():
        raise InvalidInput("Last-Event-ID must be a non-negative integer")
    return int(header)


@router.post("/runs/{run_id}/activity/token", response_model=StreamTokenResponse)
async def create_activity_token(
    run_id: UUID,
    caller: Caller = Depends(require_permission_key(AUTOMATION)),
    pool: Pool = Depends(get_pool),
    settings: Settings = Depends(get_settings),
) -> StreamTokenResponse:
    """A token that opens this run's activity stream for about a minute (for cross-origin EventSource)."""
    await collection.get_run(pool, caller=caller, run_id=run_id)
    issued = await activity_feed.issue_stream_token(
        pool, caller=caller, run_id=run_id, ttl_seconds=settings.stream_token_ttl_seconds
    )
    return StreamTokenResponse(
        token=issued.token,
        expires_at=issued.expires_at,
        url=f"/collection/runs/{run_id}/activity?stream_token={issued.token}",
    )


@router.get(
    "/runs/{run_id}/activity",
    response_class=EventSourceResponse,
    responses={204: {"description": "The run is over and there is nothing more to send; stop reconnecting."}},
)
async def stream_activity(
    run_id: UUID,
    caller: Caller = Depends(activity_caller),
    last_event_id: Annotated[int | None, Query(ge=0, description="Resume after this event id")] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    pool: Pool = Depends(get_pool),
    settings: Settings = Depends(get_settings),
    manager: ActivityStreamManager = Depends(get_activity_stream),
) -> Response:
    """Stream the run's activity events: `id: <seq>` and `data: <ActivityEntry JSON>`, until the run ends."""
    run = await collection.get_run(pool, caller=caller, run_id=run_id)
    resume_after = _last_event_id(last_event_id_header, last_event_id)
    if activity_feed.nothing_more_to_send(manager, run, resume_after):
        return Response(status_code=204)
    return EventSourceResponse(
        activity_feed.sse_frames(
            manager, run_id=run_id, last_event_id=resume_after, retry_ms=settings.activity_retry_ms
        ),
        ping=settings.activity_keepalive_seconds,
        # sse-starlette arms a timer per send; it is worth its cost only when asked for.
        send_timeout=settings.activity_send_timeout_seconds or None,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
