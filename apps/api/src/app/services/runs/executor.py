"""Executes running runs in this process, one task per run, each held by a lease in PostgreSQL.

Exactly one process executes a running run: the one holding its lease (`lease_owner`,
`lease_expires_at`). A maintenance loop renews our leases, stops runs we lost, and adopts
running runs whose owner is gone (a crash, a kill -9, a stopped server), so a restart resumes
them by itself. Completed items are never fetched again because each one is committed as done.

Control from any process: pause and cancel change the run row in whichever process receives
them and send a PostgreSQL NOTIFY. A control loop here LISTENs on a dedicated connection and,
on a wake-up or every `run_control_poll_seconds` (the fallback when notifications are lost),
syncs its runs in one statement: it publishes their worker lanes and event-id reservations, and
reads back their status, so a run paused or cancelled elsewhere stops here within a second.

Event ids survive restarts: claiming a run reserves `EVENT_ID_BLOCK` ids in the row, and every
tick keeps the reservation that far ahead of the last id used. A process that takes a run over
numbers above the reservation, so no client ever sees an id twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from uuid import UUID

import psutil

from app.config import Settings
from app.db.outage import is_database_fault
from app.db.pool import Pool, connect_dedicated
from app.errors import AppError
from app.repositories import items as items_repo
from app.repositories import runs as runs_repo
from app.repositories.runs import RunRow
from app.scrapers.base import Marketplace
from app.services.activity_history import finish_feed
from app.services.activity_stream import ActivityBackend
from app.services.notifications import outbox
from app.services.parallel_runner import ActivityEvent, CollectionPausedException, create_activity_event
from app.services.runs import org_settings
from app.services.runs.outage import DATABASE_UNAVAILABLE
from app.services.runs.pipeline import RunContext, RunFailed, run_amazon_phase, run_ebay_phase
from app.status import RunPhase, RunStatus

logger = logging.getLogger(__name__)


def _dead_here(owner: str) -> bool:
    """Whether a lease owner (`host:pid:nonce`) was an executor on this host whose process no longer exists."""
    parts = owner.split(":")
    if len(parts) < 3 or not parts[-2].isdigit():
        return False
    host, pid = ":".join(parts[:-2]), int(parts[-2])
    return host == socket.gethostname() and pid != os.getpid() and not psutil.pid_exists(pid)


MarketplaceFactory = Callable[[str], Marketplace]

# Activity-event ids reserved ahead of use (see the module docstring). Big enough that a tick
# delayed by seconds at hundreds of events a second stays inside it; the cost is a jump in the
# numbering after a takeover.
EVENT_ID_BLOCK = 10_000
# How long a stopping run waits for its items' `processing` marks in flight (longer only in an outage).
MARKS_SETTLE_SECONDS = 5.0


@dataclass
class _Execution:
    task: asyncio.Task[None]
    ctx: RunContext
    stopping: bool = False  # a user's pause/cancel is being carried out; its event comes from that path
    settling: bool = False  # the run is ending by itself (done, failed, breaker): let it finish its way


class RunExecutor:
    def __init__(
        self,
        *,
        pool: Pool,
        settings: Settings,
        stream: ActivityBackend,
        marketplace_factory: MarketplaceFactory,
        adopt_orphans: bool = True,
    ) -> None:
        self.pool = pool
        self._adopt = adopt_orphans
        self.settings = settings
        self.stream = stream
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._factory = marketplace_factory
        self._marketplaces: dict[str, Marketplace] = {}
        self._executions: dict[UUID, _Execution] = {}
        self._maintenance: asyncio.Task[None] | None = None
        self._control: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.listening = asyncio.Event()  # set while the control LISTEN connection is up
        self._stopped_for_user: dict[UUID, str] = {}  # run -> status announced, until it runs here again

    # --- lifecycle of the executor ---------------------------------------------------------------

    async def start(self) -> None:
        """Begin lease upkeep; a server also adopts orphaned runs (a CLI executing one run does not)."""
        if self._adopt:
            await self.adopt_orphans()
        self._maintenance = asyncio.create_task(self._maintain(), name="run-executor-maintenance")
        self._control = asyncio.create_task(self._control_loop(), name="run-executor-control")

    async def close(self) -> None:
        """Stop executing (runs stay `running`), hand our leases back, close upstream clients."""
        for background in (self._maintenance, self._control):
            if background is not None:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
        for run_id in list(self._executions):
            await self.stop(run_id)
        async with self.pool.connection() as conn:
            await runs_repo.release_leases(conn, owner=self.owner)
        for marketplace in self._marketplaces.values():
            await marketplace.aclose()
        self._marketplaces.clear()

    async def _maintain(self) -> None:
        interval = self.settings.run_lease_seconds / 3
        clock = asyncio.get_running_loop().time
        # After a database outage every lease looks lapsed, the live owners' too: orphans are adopted
        # only once the database has answered long enough for their owners to have renewed.
        grace = 2 * self.settings.run_lease_seconds
        answering_since: float | None = clock() - grace
        while True:
            await asyncio.sleep(interval)
            try:
                await self.renew()
                if answering_since is None:
                    answering_since = clock()
                if self._adopt and clock() - answering_since >= grace:
                    await self.adopt_orphans()
            except Exception as exc:
                if not is_database_fault(exc):
                    logger.exception("run executor maintenance failed; retrying in %.1fs", interval)
                    continue
                answering_since = None
                logger.warning("run executor maintenance: the database does not answer (%s); our runs stay ours", exc)

    async def _control_loop(self) -> None:
        poll = self.settings.run_control_poll_seconds
        while True:
            try:
                conn = await connect_dedicated(self.pool)
            except Exception:
                logger.warning("run control: cannot LISTEN (polling every %.1fs meanwhile)", poll, exc_info=True)
                await self._poll_for(5.0)
                continue
            try:
                async with conn:
                    await runs_repo.listen_control(conn)
                    self.listening.set()
                    while True:
                        async for _ in conn.notifies(timeout=poll, stop_after=1):
                            pass
                        await self.sync()
            except Exception:
                logger.warning("run control: LISTEN connection lost; reconnecting", exc_info=True)
            finally:
                self.listening.clear()
            await self._poll_for(1.0)

    async def _poll_for(self, seconds: float) -> None:
        """The fallback while LISTEN is down: look at our runs' rows every poll interval."""
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            await asyncio.sleep(min(left, self.settings.run_control_poll_seconds))
            with contextlib.suppress(Exception):
                await self.sync()

    async def sync(self) -> None:
        """Publish our runs' lanes and id reservations; stop those paused, cancelled or taken elsewhere."""
        local = {
            run_id: ex
            for run_id, ex in self._executions.items()
            if not ex.task.done() and not ex.stopping and not ex.settling
        }
        if not local:
            return
        updates = [
            runs_repo.ExecutionSync(
                run_id=run_id,
                lanes=ex.ctx.lanes(),
                reserve_to=(await self.stream.last_seq(run_id) or 0) + EVENT_ID_BLOCK,
            )
            for run_id, ex in local.items()
        ]
        async with self.pool.connection() as conn:
            states = await runs_repo.sync_executions(conn, owner=self.owner, updates=updates)
        for state in states:
            if state.status is RunStatus.RUNNING and state.lease_owner == self.owner:
                continue
            if state.status in (RunStatus.PAUSED, RunStatus.CANCELLED):
                await self.stop_for_user(state.id, state.status, state.status_reason)
            else:
                logger.warning("run %s is no longer ours to execute (%s)", state.id, state.status)
                await self.stop(state.id)

    async def stop_for_user(self, run_id: UUID, status: str, reason: str | None = None) -> bool:
        """Carry out a pause or cancel of a run executing here, then announce it. False if not executing here.

        Whichever path gets here first (the request in this process, or the control loop woken by
        another process) announces it; the other finds the execution already stopping.
        """
        execution = self._executions.get(run_id)
        if execution is not None and execution.settling:
            # It was ending by itself; the user's change came first, so its own ending records
            # nothing (it needs the run still running): the caller announces the user's change.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(execution.task)
            return False
        if execution is None or execution.task.done():
            return self._stopped_for_user.get(run_id) == status
        if execution.stopping:
            return True
        execution.stopping = True
        self._stopped_for_user[run_id] = status
        # Stop local workers first, so their last events come before "paused" / "cancelled".
        await self.stop(run_id)
        await self.announce(run_id, status, reason)
        return True

    async def announce(self, run_id: UUID, status: str, reason: str | None = None) -> None:
        """The feed event for a user's pause or cancel."""
        if status == "cancelled":
            await self.finish(run_id, create_activity_event(0, "run", "cancelled"))
        else:
            event = create_activity_event(0, "run", "paused", error_message=reason or "Paused by a user")
            self.stream.push(run_id, event)

    async def finish(self, run_id: UUID, event: ActivityEvent) -> None:
        """Publish the run's terminal event and keep its last events with the run."""
        await finish_feed(self.pool, self.stream, run_id=run_id, event=event, keep=self.settings.activity_history)

    async def renew(self) -> None:
        local = [run_id for run_id, ex in self._executions.items() if not ex.task.done() and not ex.settling]
        async with self.pool.connection() as conn:
            kept = await runs_repo.renew_leases(
                conn, owner=self.owner, run_ids=local, ttl_seconds=self.settings.run_lease_seconds
            )
        for run_id in set(local) - kept:
            execution = self._executions.get(run_id)
            if execution is not None and execution.settling:
                # It ended by itself while we asked (e.g. the breaker paused it): cancelling it now
                # would lose the event it is about to publish.
                continue
            logger.warning("run %s is no longer ours to execute (paused, cancelled or taken over)", run_id)
            await self.stop(run_id)

    async def expire_dead_local_leases(self) -> None:
        """End at once the leases of executors that ran on this host and whose process is gone.

        Their leases would otherwise keep the runs for up to `run_lease_seconds` after a crash or
        `kill -9`; on the same host the pid says for certain that the owner is dead.
        """
        async with self.pool.connection() as conn:
            owners = await runs_repo.lease_owners(conn)
            dead = [owner for owner in owners if _dead_here(owner)]
            if dead:
                logger.info("executors %s on this host are gone; their runs are free to take over", dead)
                await runs_repo.expire_leases(conn, owners=dead)

    async def adopt_orphans(self) -> None:
        await self.expire_dead_local_leases()
        async with self.pool.connection() as conn:
            orphans = await runs_repo.orphaned_running_runs(conn)
        for run_id in orphans:
            if await self.ensure_running(run_id):
                logger.info("resumed run %s whose executor was gone", run_id)

    # --- per run ---------------------------------------------------------------------------------

    def is_executing(self, run_id: UUID) -> bool:
        execution = self._executions.get(run_id)
        return execution is not None and not execution.task.done()

    def context(self, run_id: UUID) -> RunContext | None:
        execution = self._executions.get(run_id)
        return execution.ctx if execution is not None and not execution.task.done() else None

    async def ensure_running(self, run_id: UUID) -> bool:
        """Execute the run here unless it already runs here or another live process holds it."""
        async with self._lock:
            if self.is_executing(run_id):
                return True
            await self.expire_dead_local_leases()
            async with self.pool.connection() as conn:
                run = await runs_repo.claim_lease(
                    conn,
                    run_id=run_id,
                    owner=self.owner,
                    ttl_seconds=self.settings.run_lease_seconds,
                    reserve_ids=EVENT_ID_BLOCK,
                )
                if run is None:
                    return False
                # Whatever a dead executor had in flight goes back to the queue.
                await items_repo.release_in_flight(conn, run_id=run_id)
            self.stream.ensure_floor(run_id, run.event_seq_reserved - EVENT_ID_BLOCK)
            try:
                marketplace = self._marketplace(run.provider)
            except AppError as exc:
                await self._fail(run_id, reason=exc.detail)
                return False
            # The run goes with the settings it recorded when it was created, not today's.
            settings = self.settings if run.settings is None else org_settings.apply(run.settings, self.settings)
            ctx = RunContext(
                run_id=run_id,
                org_id=run.org_id,
                pool=self.pool,
                settings=settings,
                marketplace=marketplace,
                stream=self.stream,
                refresh=run.refresh,
            )
            self._stopped_for_user.pop(run_id, None)
            task = asyncio.create_task(self._execute(ctx), name=f"run-{run_id}")
            self._executions[run_id] = _Execution(task=task, ctx=ctx)
            task.add_done_callback(partial(self._forget, run_id))
            return True

    def _forget(self, run_id: UUID, task: asyncio.Task[None]) -> None:
        execution = self._executions.get(run_id)
        if execution is not None and execution.task is task:
            del self._executions[run_id]

    async def stop(self, run_id: UUID, timeout: float = 30.0) -> None:
        """Stop executing `run_id` here: workers are cancelled, in-flight items go back to pending."""
        execution = self._executions.get(run_id)
        if execution is None or execution.task.done():
            return
        execution.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(execution.task), timeout)

    async def wait(self, run_id: UUID) -> None:
        """Until the local execution of `run_id` ends (for the CLI and tests)."""
        execution = self._executions.get(run_id)
        if execution is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(execution.task)

    def _marketplace(self, provider: str) -> Marketplace:
        if provider not in self._marketplaces:
            self._marketplaces[provider] = self._factory(provider)
        return self._marketplaces[provider]

    async def _execute(self, ctx: RunContext) -> None:
        """Run the phases to the end; a database outage is waited out and the run goes on from where it was."""
        try:
            await self._execute_phases(ctx)
        finally:
            # A step cancelled mid-wait (a pause, a cancel, a shutdown) leaves no reminder timer behind.
            ctx.outage.close()

    async def _execute_phases(self, ctx: RunContext) -> None:
        run_id = ctx.run_id
        while True:
            try:
                await self._run_phases(ctx)
                return
            except CollectionPausedException as exc:
                if exc.reason != "database":
                    await self._paused(ctx, exc)
                    return
                paused = True  # the workers waited for the database as long as the run may
            except RunFailed as exc:
                self._settle(run_id)
                await self._fail(run_id, reason=exc.detail)
                return
            except asyncio.CancelledError:
                await self._release(ctx)
                raise
            except Exception as exc:
                if not is_database_fault(exc):
                    logger.exception("run %s crashed", run_id)
                    self._settle(run_id)
                    await self._release(ctx)
                    await self._fail(run_id, reason=f"Internal error: {type(exc).__name__}: {exc}")
                    return
                paused = False
            if not await self._outlast_outage(ctx, paused=paused):
                return

    async def _run_phases(self, ctx: RunContext) -> None:
        run_id = ctx.run_id
        async with self.pool.connection() as conn:
            run = await runs_repo.get_run_unscoped(conn, run_id=run_id)
        assert run is not None
        if run.phase is RunPhase.AMAZON:
            await run_amazon_phase(ctx)
        await run_ebay_phase(ctx)
        self._settle(run_id)
        async with self.pool.connection() as conn, conn.transaction():
            done = await runs_repo.complete_run(conn, run_id=run_id, owner=self.owner)
            await outbox.run_ended(conn, self.settings, done)
        if done is not None:
            await self.finish(
                run_id,
                create_activity_event(
                    0, "run", "complete", new_sellers_count=done.sellers_new, items_count=done.sellers_found
                ),
            )
            logger.info("run %s completed: %s new sellers", run_id, done.sellers_new)

    async def _paused(self, ctx: RunContext, exc: CollectionPausedException) -> None:
        """The run stopped itself (the breaker, or unreadable pages); a user's pause or cancel says nothing here."""
        run_id = ctx.run_id
        self._settle(run_id)
        await self._release(ctx)
        if exc.reason not in ("failures", "layout"):
            return
        reason = f"Paused after {exc}" if exc.reason == "failures" else f"Paused: {exc}"
        async with self.pool.connection() as conn, conn.transaction():
            paused = await runs_repo.stop_if_running(
                conn, run_id=run_id, owner=self.owner, status=RunStatus.PAUSED, reason=reason
            )
            await outbox.run_ended(conn, self.settings, paused)
        if paused:
            await ctx.emit(create_activity_event(0, "run", "paused", error_message=reason))
            logger.warning("run %s paused: %s", run_id, reason)

    async def _outlast_outage(self, ctx: RunContext, *, paused: bool) -> bool:
        """Wait for the database after a fault; True if the run is still ours to go on with.

        Past `db_outage_pause_seconds` the run is paused "database unavailable" (in its feed: its
        row cannot be written while the database is away), and it resumes by itself once the
        database answers, unless a person paused or cancelled it meanwhile, or another process
        holds it by then. The row stays `running` all along, so a restart adopts it as usual.
        """
        run_id = ctx.run_id
        execution = self._executions.get(run_id)
        if execution is not None:
            execution.settling = False  # it may have been ending when the database went away
        reclaim = partial(self._reclaim, run_id)
        run: RunRow | None = None
        if not paused:
            try:
                run = await ctx.outage.hold(reclaim)
            except Exception as exc:
                if not is_database_fault(exc):
                    raise
                paused = True
        if paused:
            logger.warning("run %s paused: %s", run_id, DATABASE_UNAVAILABLE)
            await ctx.emit(create_activity_event(0, "run", "paused", error_message=DATABASE_UNAVAILABLE))
            ctx.paused_for_database = True
            run = await ctx.outage.hold(reclaim, bounded=False)
            ctx.paused_for_database = False
        if run is None:
            logger.warning("run %s is no longer ours to execute after the database outage", run_id)
            return False
        if paused:
            await ctx.emit(create_activity_event(0, "run", "resumed"))
        return True

    async def _reclaim(self, run_id: UUID) -> RunRow | None:
        """Our lease again (even if it lapsed meanwhile), unless the run stopped or another process holds it.

        What was in flight goes back to the queue without using up an attempt: the outage was not the item's doing.
        """
        async with self.pool.connection() as conn, conn.transaction():
            run = await runs_repo.claim_lease(
                conn, run_id=run_id, owner=self.owner, ttl_seconds=self.settings.run_lease_seconds
            )
            if run is not None:
                await items_repo.release_in_flight(conn, run_id=run_id, refund_attempts=True)
        return run

    def _settle(self, run_id: UUID) -> None:
        """From here the run ends by itself; the control loop and lease upkeep leave it alone."""
        execution = self._executions.get(run_id)
        if execution is not None:
            execution.settling = True

    async def _release(self, ctx: RunContext) -> None:
        """Put whatever is still in flight back in the queue.

        While the database is away they stay marked: whoever claims the run next releases them first.
        """
        # A mark landing after the release would leave its item `processing` while the run is paused.
        await ctx.settle_marks(MARKS_SETTLE_SECONDS)
        try:
            async with self.pool.connection() as conn:
                await items_repo.release_in_flight(conn, run_id=ctx.run_id)
        except Exception as exc:
            if not is_database_fault(exc):
                raise
            logger.warning("run %s: in-flight items stay marked, the database does not answer (%s)", ctx.run_id, exc)

    async def _fail(self, run_id: UUID, *, reason: str) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            failed = await runs_repo.stop_if_running(
                conn, run_id=run_id, owner=self.owner, status=RunStatus.FAILED, reason=reason
            )
            await outbox.run_ended(conn, self.settings, failed)
        if failed:
            logger.warning("run %s failed: %s", run_id, reason)
            await self.finish(run_id, create_activity_event(0, "run", "failed", error_message=reason))
