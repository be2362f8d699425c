"""Collection run lifecycle: create, start, pause, resume, cancel, list, progress. Scoped to the caller's org.

Transitions (anything else is 409 naming the current status):
    pending -> running (start)      running -> paused (pause; also the failure breaker)
    paused -> running (resume)      pending | running | paused -> cancelled (cancel)
    running -> completed | failed   (the executor)
Start and resume are idempotent and never start a second executor (the lease sees to that).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

from app.config import Settings
from app.db.pool import Conn, Pool
from app.errors import Conflict, InvalidInput, TooManyOpenRuns, found
from app.models import ActivityAction, Refresh, RunTrigger
from app.repositories import items as items_repo
from app.repositories import presets as presets_repo
from app.repositories import runs as runs_repo
from app.repositories.items import CategoryPayload, SkipCount
from app.repositories.runs import FinishedRunRow, RunRow
from app.security import Caller
from app.services.activity_stream import ActivityBackend
from app.services.catalogue import Category, resolve_categories
from app.services.notifications import outbox
from app.services.parallel_runner import create_activity_event
from app.services.runs import org_settings
from app.services.runs.executor import RunExecutor
from app.services.runs.forecast import Forecast, RecentProducts, forecast, recent_window
from app.services.runs.pipeline import WorkerState
from app.services.runs.usage import prices_per_1000
from app.status import TERMINAL_STATUSES, ItemKind, ItemStatus, RunStatus

logger = logging.getLogger(__name__)


async def get_run(pool: Pool, *, caller: Caller, run_id: UUID) -> RunRow:
    """The run, if it belongs to the caller's org; otherwise 404 (the same answer for both cases)."""
    async with pool.connection() as conn:
        return found(await runs_repo.get_run(conn, org_id=caller.org_id, run_id=run_id), "Run not found")


async def list_runs(pool: Pool, *, caller: Caller, limit: int, offset: int) -> tuple[list[RunRow], int]:
    async with pool.connection() as conn:
        return await runs_repo.list_runs(conn, org_id=caller.org_id, limit=limit, offset=offset)


async def run_history(pool: Pool, *, caller: Caller, limit: int, offset: int) -> tuple[list[FinishedRunRow], int]:
    """Finished runs (completed, failed, cancelled), most recently finished first."""
    async with pool.connection() as conn:
        return await runs_repo.list_finished_runs(conn, org_id=caller.org_id, limit=limit, offset=offset)


async def create_run(
    pool: Pool,
    settings: Settings,
    *,
    caller: Caller,
    name: str | None,
    category_ids: list[str] | None,
    preset_id: UUID | None = None,
    provider: str | None = None,
    refresh: Refresh | None = None,
) -> RunRow:
    """A pending run over `category_ids` or a preset's categories, with the org's settings recorded."""
    async with pool.connection() as conn, conn.transaction():
        return await create_run_in(
            conn,
            settings,
            org_id=caller.org_id,
            user_id=caller.user_id,
            name=name,
            category_ids=category_ids,
            preset_id=preset_id,
            provider=provider,
            refresh=refresh,
        )


async def create_run_in(
    conn: Conn,
    settings: Settings,
    *,
    org_id: UUID,
    user_id: UUID | None,
    name: str | None,
    category_ids: list[str] | None,
    preset_id: UUID | None = None,
    provider: str | None = None,
    trigger: RunTrigger = "manual",
    schedule_id: UUID | None = None,
    start: bool = False,
    refresh: Refresh | None = None,
) -> RunRow:
    """Create a run inside the caller's transaction (the scheduler claims and creates in one).

    `start` creates it already running: a process that dies before executing it leaves a running
    run without a lease, which any server adopts. `refresh` unset: the preset's choice, else "new".
    """
    categories, chosen = await resolve_target(conn, org_id, category_ids, preset_id, refresh)
    name = (name or "").strip() or f"Collection {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    org = await org_settings.load(conn, settings, org_id=org_id)
    open_runs = await runs_repo.count_open_runs_locked(conn, org_id=org_id)
    if open_runs >= org.max_open_runs:
        raise TooManyOpenRuns(
            f"Your org already has {open_runs} open runs (limit {org.max_open_runs}); "
            "finish, cancel or wait for one before creating another"
        )
    recorded = org_settings.run_settings(org, settings, provider=provider)
    run = await runs_repo.insert_run(
        conn,
        org_id=org_id,
        name=name,
        category_ids=[c.id for c in categories],
        created_by=user_id,
        provider=recorded.provider,
        categories_total=len(categories),
        trigger=trigger,
        preset_id=preset_id,
        schedule_id=schedule_id,
        settings=recorded,
        refresh=chosen,
    )
    await items_repo.insert_category_items(
        conn,
        run_id=run.id,
        categories=[
            CategoryPayload(id=c.id, node_id=c.node_id, name=c.name, display_name=c.display_name) for c in categories
        ],
    )
    if start:
        run = await runs_repo.set_status(conn, run_id=run.id, status=RunStatus.RUNNING)
    logger.info("run %s created (%s) with %d categories", run.id, trigger, len(categories))
    return run


async def resolve_target(
    conn: Conn, org_id: UUID, category_ids: list[str] | None, preset_id: UUID | None, refresh: Refresh | None
) -> tuple[list[Category], Refresh]:
    """The run's categories (the preset's, if one is named) and its refresh choice (else the preset's, else "new")."""
    if preset_id is not None:
        preset = found(
            await presets_repo.get_preset(conn, org_id=org_id, preset_id=preset_id), f"Preset {preset_id} not found"
        )
        category_ids = preset.category_ids
        refresh = refresh or preset.refresh
    if category_ids is None:
        raise InvalidInput("Give category_ids or preset_id")
    return resolve_categories(category_ids), refresh or "new"


@dataclass(frozen=True)
class _Transition:
    """One lifecycle action: from which statuses, to which, and what the executor and the feed are told."""

    verb: str
    allowed: frozenset[RunStatus]
    to: RunStatus
    action: ActivityAction
    message: str | None = None

    @property
    def runs(self) -> bool:
        return self.to is RunStatus.RUNNING


_START = _Transition("start", frozenset({RunStatus.PENDING}), RunStatus.RUNNING, "started")
_RESUME = _Transition("resume", frozenset({RunStatus.PAUSED}), RunStatus.RUNNING, "resumed")
_PAUSE = _Transition("pause", frozenset({RunStatus.RUNNING}), RunStatus.PAUSED, "paused", "Paused by a user")
_CANCEL = _Transition(
    "cancel", frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED}), RunStatus.CANCELLED, "cancelled"
)


class LifecycleAction(Protocol):
    """A `RunLifecycle` method, unbound: `RunLifecycle.start` and the like."""

    def __call__(self, lifecycle: RunLifecycle, /, *, caller: Caller, run_id: UUID) -> Awaitable[RunRow]: ...


@dataclass(frozen=True)
class RunLifecycle:
    """Start, pause, resume and cancel a run of the caller's org, telling the executor and the feed."""

    pool: Pool
    executor: RunExecutor
    stream: ActivityBackend

    async def start(self, *, caller: Caller, run_id: UUID) -> RunRow:
        return await self._apply(_START, caller, run_id)

    async def resume(self, *, caller: Caller, run_id: UUID) -> RunRow:
        return await self._apply(_RESUME, caller, run_id)

    async def pause(self, *, caller: Caller, run_id: UUID) -> RunRow:
        return await self._apply(_PAUSE, caller, run_id)

    async def cancel(self, *, caller: Caller, run_id: UUID) -> RunRow:
        return await self._apply(_CANCEL, caller, run_id)

    async def _apply(self, transition: _Transition, caller: Caller, run_id: UUID) -> RunRow:
        async with self.pool.connection() as conn, conn.transaction():
            before = found(
                await runs_repo.get_run(conn, org_id=caller.org_id, run_id=run_id, for_update=True), "Run not found"
            )
            run = before
            changed = before.status != transition.to
            if changed:
                if before.status not in transition.allowed:
                    raise Conflict(f"Cannot {transition.verb} a run that is {before.status}")
                run = await runs_repo.set_status(conn, run_id=run_id, status=transition.to)
                if not transition.runs:
                    # Wakes the executing process, wherever it is (delivered on commit).
                    await runs_repo.notify_control(conn, run_id=run_id)
                    await outbox.run_ended(conn, self.executor.settings, run)
        if transition.runs:
            if changed:
                self.stream.ensure_floor(run_id, run.event_seq_reserved)
                self.stream.push(run_id, create_activity_event(0, "run", transition.action))
            # Also for a run already running: it may have lost its executor (idempotent; the lease decides).
            await self.executor.ensure_running(run_id)
        elif changed:
            # Executing here: stop the local workers, then announce it (their last events come first).
            # Executing in another live process: that one does both when the notification arrives.
            # Executing nowhere: announce it here.
            stopped = await self.executor.stop_for_user(run_id, transition.to, transition.message)
            if not stopped and not _executed_elsewhere(before, self.executor):
                self.stream.ensure_floor(run_id, before.event_seq_reserved)
                await self.executor.announce(run_id, transition.to, transition.message)
        return run


def _executed_elsewhere(before: RunRow, executor: RunExecutor) -> bool:
    """Another live process held the run's lease."""
    return (
        before.lease_owner is not None
        and before.lease_owner != executor.owner
        and before.lease_expires_at is not None
        and before.lease_expires_at > datetime.now(UTC)
    )


@dataclass(frozen=True)
class ItemTally:
    kind: ItemKind
    status: ItemStatus
    count: int


@dataclass(frozen=True)
class Progress:
    run: RunRow
    items: list[ItemTally]
    skipped_products: list[SkipCount]
    forecast: Forecast
    workers: list[WorkerState]
    executing_here: bool
    rate_limited_for_seconds: float | None
    concurrency_limit: int | None = None
    paced_rps: float | None = None
    max_rps: float | None = None
    waiting_for_database_since: datetime | None = None


@dataclass(frozen=True)
class RunView(RunRow):
    """The run's row, and since when it has been waiting for its database (known only where it executes)."""

    waiting_for_database_since: datetime | None = None


async def run_view(pool: Pool, executor: RunExecutor, *, caller: Caller, run_id: UUID) -> RunView:
    run = await get_run(pool, caller=caller, run_id=run_id)
    ctx = executor.context(run_id)
    row = {f.name: getattr(run, f.name) for f in fields(run)}
    return RunView(**row, waiting_for_database_since=ctx.outage.waiting_since if ctx is not None else None)


async def progress(pool: Pool, executor: RunExecutor, *, caller: Caller, run_id: UUID) -> Progress:
    run = await get_run(pool, caller=caller, run_id=run_id)
    now = datetime.now(UTC)
    since = recent_window(run, now)
    async with pool.connection() as conn:
        counts = await items_repo.count_by_status(conn, run_id=run_id)
        skipped = await items_repo.skipped_products(conn, run_id=run_id)
        recent = (
            RecentProducts(await items_repo.products_finished_since(conn, run_id=run_id, since=since), since, now)
            if since is not None
            else None
        )
    # A finished run's executor may still be tidying up (storing its last events, releasing the
    # lease) for a moment after its terminal event: it has no live lanes any more.
    ctx = executor.context(run_id) if run.status not in TERMINAL_STATUSES else None
    if ctx is not None:
        workers = sorted(ctx.workers.values(), key=lambda w: w.worker_id)
    elif run.status is RunStatus.RUNNING and run.worker_lanes:
        # Executed by another process, which publishes its lanes to the row every control tick.
        workers = [WorkerState(**lane) for lane in run.worker_lanes]
    else:
        workers = []
    waiting = ctx.gate.remaining() if ctx else 0.0
    limiter = ctx.limiter.state if ctx else None
    return Progress(
        run=run,
        items=[ItemTally(kind, status, n) for (kind, status), n in sorted(counts.items())],
        skipped_products=skipped,
        forecast=forecast(run, recent, prices_per_1000(executor.settings)),
        workers=workers,
        executing_here=ctx is not None,
        rate_limited_for_seconds=round(waiting, 3) if waiting > 0 else None,
        concurrency_limit=limiter.concurrency_limit if limiter else None,
        paced_rps=limiter.paced_rps if limiter else None,
        max_rps=limiter.max_rps if limiter else None,
        waiting_for_database_since=ctx.outage.waiting_since if ctx else None,
    )
