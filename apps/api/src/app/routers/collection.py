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
from app.models import StreamTokenResponse
from app.services import activity_feed, collection
from app.services.activity_stream import ActivityStreamManager, get_activity_stream

router = APIRouter(prefix="/collection", tags=["collection"])

AUTOMATION = "admin.automation"


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
        send_timeout=settings.activity_send_timeout_seconds,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
