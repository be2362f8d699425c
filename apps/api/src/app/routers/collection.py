"""Collection run endpoints, including the live activity feed (SSE)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response

from app import metrics
from app.errors import InvalidInput, TooManyRequests, quote
from app.http.deps import (
    ActivityReaderDep,
    AutomationDep,
    ExecutorDep,
    LifecycleDep,
    PoolDep,
    SettingsDep,
    StreamDep,
    StreamGuardDep,
)
from app.http.event_stream import EventStreamResponse, comment_frame, opening_frame
from app.models import (
    RunCreate,
    RunDetail,
    RunEstimate,
    RunHistoryEntry,
    RunHistoryList,
    RunList,
    RunProgress,
    RunResponse,
    StreamTokenResponse,
)
from app.routers.paging import Limit100, Offset
from app.services import activity_feed
from app.services.exports import run_export
from app.services.runs import estimate, lifecycle
from app.services.runs.lifecycle import LifecycleAction, RunLifecycle

router = APIRouter(prefix="/collection", tags=["collection"])

CREDENTIALS_ENDED = comment_frame("credentials ended")
# One event of the feed, as OpenAPI 3.2's `itemSchema` describes an event stream's items.
ACTIVITY_SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {"type": "string", "contentMediaType": "application/json", "description": "An ActivityEntry"},
        "event": {"type": "string"},
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The event's seq; none on a gap notice"},
        "retry": {"type": "integer", "minimum": 0},
    },
}

TRANSITION_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not allowed from the run's current status"}
}


@router.post(
    "/runs",
    response_model=RunResponse,
    status_code=201,
    responses={404: {"description": "Unknown preset, or another org's"}},
)
async def create_run(body: RunCreate, caller: AutomationDep, pool: PoolDep, settings: SettingsDep) -> RunResponse:
    """Create a pending run over leaf categories or a preset, with the org's settings recorded on it.

    422 names unknown category ids; 404 for an unknown (or another org's) preset; 429 over the open-run limit.
    """
    run = await lifecycle.create_run(
        pool, settings, caller=caller, name=body.name, category_ids=body.category_ids, preset_id=body.preset_id,
        refresh=body.refresh,
    )  # fmt: skip
    return RunResponse.model_validate(run)


@router.post(
    "/runs/estimate",
    response_model=RunEstimate,
    responses={404: {"description": "Unknown preset, or another org's"}},
)
async def estimate_run(body: RunCreate, caller: AutomationDep, pool: PoolDep, settings: SettingsDep) -> RunEstimate:
    """What POST /collection/runs with this body would search and cost, from the org's search memory.

    Nothing is stored. Lists the org never fetched are estimated from the catalogue's usual list size.
    422 and 404 as POST /collection/runs answers them.
    """
    return await estimate.estimate(
        pool, settings, caller=caller, category_ids=body.category_ids, preset_id=body.preset_id, refresh=body.refresh
    )


@router.get("/runs", response_model=RunList)
async def list_runs(caller: AutomationDep, pool: PoolDep, limit: Limit100 = 20, offset: Offset = 0) -> RunList:
    """The org's runs, newest first."""
    runs, total = await lifecycle.list_runs(pool, caller=caller, limit=limit, offset=offset)
    return RunList(runs=[RunResponse.model_validate(r) for r in runs], total=total, limit=limit, offset=offset)


@router.get("/runs/history", response_model=RunHistoryList)
async def run_history(caller: AutomationDep, pool: PoolDep, limit: Limit100 = 50, offset: Offset = 0) -> RunHistoryList:
    """Finished runs with duration, categories, products, sellers found and new, and the seller-count snapshot."""
    runs, total = await lifecycle.run_history(pool, caller=caller, limit=limit, offset=offset)
    return RunHistoryList(runs=[RunHistoryEntry.model_validate(r) for r in runs], total=total)


@router.get("/runs/export", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def export_runs(caller: AutomationDep, pool: PoolDep) -> Response:
    """Finished runs as CSV: requests by kind, pages skipped, seller-line coverage, cost and cost per new seller."""
    body = await run_export.runs_csv(pool, caller=caller)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="runs.csv"'},
    )


# `:uuid`: only a run id reaches this route, so /runs/estimate (POST) is no GET of a run named "estimate".
@router.get("/runs/{run_id:uuid}", response_model=RunDetail)
async def get_run(run_id: UUID, caller: AutomationDep, pool: PoolDep, executor: ExecutorDep) -> RunDetail:
    return RunDetail.model_validate(await lifecycle.run_view(pool, executor, caller=caller, run_id=run_id))


@router.get("/runs/{run_id}/progress", response_model=RunProgress)
async def get_progress(run_id: UUID, caller: AutomationDep, pool: PoolDep, executor: ExecutorDep) -> RunProgress:
    """Phase, counters, item tallies, each worker's current step and any rate-limit wait."""
    return RunProgress.model_validate(await lifecycle.progress(pool, executor, caller=caller, run_id=run_id))


def _lifecycle_endpoint(act: LifecycleAction, doc: str) -> Callable[..., Awaitable[RunResponse]]:
    async def endpoint(run_id: UUID, caller: AutomationDep, lifecycle: LifecycleDep) -> RunResponse:
        return RunResponse.model_validate(await act(lifecycle, caller=caller, run_id=run_id))

    endpoint.__doc__ = doc
    return endpoint


# POST /runs/{run_id}/start, /pause, /resume, /cancel: one route each, straight to its RunLifecycle method.
for _verb, _act, _doc in (
    ("start", RunLifecycle.start, "Start a pending run (idempotent for a running one)."),
    ("pause", RunLifecycle.pause, "Pause a running run; finished items stay finished."),
    (
        "resume",
        RunLifecycle.resume,
        "Resume a paused run with its unfinished items only (idempotent for a running one).",
    ),
    ("cancel", RunLifecycle.cancel, "Cancel an open run; in-flight work is stopped."),
):
    router.post(
        f"/runs/{{run_id}}/{_verb}", response_model=RunResponse, name=f"{_verb}_run", responses=TRANSITION_CONFLICT
    )(_lifecycle_endpoint(_act, _doc))


def _last_event_id(header: str | None, query: int | None) -> int | None:
    # The header (set by the browser on reconnect) wins over the query parameter (a fresh EventSource).
    if header is None or header == "":
        return query
    # ASCII digits only (str.isdigit() also takes "²"), and few enough for a 64-bit sequence number.
    if not (header.isascii() and header.isdigit() and len(header) <= 18):
        raise InvalidInput(f"Last-Event-ID must be a non-negative integer below 10^18, got {quote(header)}")
    return int(header)


@router.post("/runs/{run_id}/activity/token", response_model=StreamTokenResponse)
async def create_activity_token(
    run_id: UUID, caller: AutomationDep, pool: PoolDep, settings: SettingsDep
) -> StreamTokenResponse:
    """A token that opens this run's activity stream for about a minute (for cross-origin EventSource)."""
    await lifecycle.get_run(pool, caller=caller, run_id=run_id)
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
    response_class=EventStreamResponse,
    responses={
        200: {
            "description": "The run's events as Server-Sent Events, until its terminal event",
            # `schema` is the whole stream (the events in order), `itemSchema` each event.
            "content": {
                "text/event-stream": {
                    "schema": {"type": "array", "items": ACTIVITY_SSE_EVENT},
                    "itemSchema": ACTIVITY_SSE_EVENT,
                }
            },
        },
        204: {"description": "The run is over and there is nothing more to send; stop reconnecting."},
    },
)
async def stream_activity(
    run_id: UUID,
    reader: ActivityReaderDep,
    guard: StreamGuardDep,
    pool: PoolDep,
    settings: SettingsDep,
    stream: StreamDep,
    last_event_id: Annotated[int | None, Query(ge=0, lt=10**18, description="Resume after this event id")] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    """Stream the run's activity events: `id: <seq>` and `data: <ActivityEntry JSON>`, until the run ends.

    The stream also ends within one keepalive interval of its credentials ending (token revoked,
    session ended, stream token expired). 429 when the token already holds
    `SELLERCOLLECTION_MAX_STREAMS_PER_TOKEN` open streams.
    """
    run = await lifecycle.get_run(pool, caller=reader.caller, run_id=run_id)
    resume_after = _last_event_id(last_event_id_header, last_event_id)
    source = await activity_feed.open_feed(pool, stream, run=run, last_event_id=resume_after)
    if source is None:
        return Response(status_code=204)
    try:
        opened = guard.open(reader.credential, source)
    except TooManyRequests:
        source.close()
        raise
    metrics.SSE_SUBSCRIBERS.inc()

    def on_close() -> None:
        metrics.SSE_SUBSCRIBERS.dec()
        guard.close(opened)

    return EventStreamResponse(
        source,
        opening=opening_frame(settings.activity_retry_ms),
        closing=lambda: CREDENTIALS_ENDED if opened.ended else b"",
        on_close=on_close,
        send_timeout=settings.activity_send_timeout_seconds or None,
    )
