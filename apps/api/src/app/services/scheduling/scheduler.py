"""The scheduler: every server process looks for due schedules; exactly one fires each due time.

A tick reads the due schedules, then for each one claims it with one conditional UPDATE that
moves `next_run_at` from the value it read to the next fire time after now. Only one process
can win that UPDATE, and in the same transaction the winner records the outcome and creates
the run (already `running`, as the schedule's creator, `trigger = 'schedule'`). So a fire is
never doubled by several servers, and never half-done: if the process dies after the commit,
the run is a running run without a lease, which any server adopts.

Fire times missed while no server ran: the latest one still within the grace period fires
once; the others are recorded as one `missed` entry. A fire is `skipped` (with the reason) when
the org is at its open-run limit, the schedule's previous run is still open, or its creator may
no longer collect; `failed` when the run cannot be made (a category left the catalogue).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from app.config import Settings
from app.db.pool import Conn, Pool
from app.errors import AppError, TooManyOpenRuns
from app.repositories import runs as runs_repo
from app.repositories import schedules as repo
from app.repositories.runs import RunRow
from app.repositories.schedules import FireRow, ScheduleRow
from app.services.activity_stream import ActivityBackend
from app.services.notifications import outbox
from app.services.parallel_runner import create_activity_event
from app.services.runs import lifecycle
from app.services.runs.executor import RunExecutor
from app.services.scheduling import cron
from app.services.scheduling.schedules import Clock
from app.status import OPEN_STATUSES

logger = logging.getLogger(__name__)

PERMISSION = "admin.automation"
_BATCH = 50
# Only counted for the `missed` message; an every-minute schedule down for weeks stops counting here.
_COUNT_LIMIT = 10_000


@dataclass(frozen=True)
class _Decision:
    fire_time: datetime | None  # the one to fire now, if any
    missed: list[datetime]


@dataclass(frozen=True)
class _Outcome:
    """What became of a fire time (or of `count` missed ones from `fire_time` on), before it is recorded."""

    fire_time: datetime
    outcome: str
    reason: str | None = None
    run: RunRow | None = None
    count: int = 1


class Scheduler:
    def __init__(
        self,
        *,
        pool: Pool,
        settings: Settings,
        executor: RunExecutor,
        stream: ActivityBackend,
        clock: Clock,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.executor = executor
        self.stream = stream
        self.clock = clock
        # What a fire records as `claimed_by`: opaque, since anyone reading the fires sees it; the
        # log line at start ties it to this process (the executor's owner: host and process id).
        self.claim_id = f"server-{secrets.token_hex(4)}"
        self._owner = executor.owner
        self._task: asyncio.Task[None] | None = None
        self._ticks = 0
        self._ticked = asyncio.Condition()

    async def start(self) -> None:
        """Tick at once (a restart fires what it missed), then every `scheduler_tick_seconds`."""
        logger.info("scheduler %s started in process %s", self.claim_id, self._owner)
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                logger.exception("scheduler tick failed; trying again next tick")
            async with self._ticked:
                self._ticks += 1
                self._ticked.notify_all()
            await asyncio.sleep(self.settings.scheduler_tick_seconds)

    async def wait_for_ticks(self, count: int) -> None:
        """Until the loop has finished `count` more ticks (lets tests await the loop instead of sleeping)."""
        async with self._ticked:
            target = self._ticks + count
            await self._ticked.wait_for(lambda: self._ticks >= target)

    async def tick(self, now: datetime | None = None) -> list[FireRow]:
        """Fire every schedule due at `now` (default: the clock) that no other process claims first."""
        now = now or self.clock()
        async with self.pool.connection() as conn:
            due = await repo.due_schedules(conn, now=now, limit=_BATCH)
        recorded: list[FireRow] = []
        for schedule in due:
            try:
                recorded += await self._fire(schedule, now)
            except Exception:
                logger.exception("schedule %s could not be fired", schedule.id)
        return recorded

    def _decide(self, schedule: ScheduleRow, now: datetime) -> _Decision:
        assert schedule.next_run_at is not None
        times = cron.fire_times_until(
            schedule.cron_expression, schedule.timezone, schedule.next_run_at, now, limit=_COUNT_LIMIT
        )
        latest = cron.latest_fire_time(schedule.cron_expression, schedule.timezone, schedule.next_run_at, now)
        if now - latest <= timedelta(seconds=self.settings.schedule_grace_seconds):
            return _Decision(fire_time=latest, missed=[t for t in times if t < latest])
        return _Decision(fire_time=None, missed=times)

    async def _fire(self, schedule: ScheduleRow, now: datetime) -> list[FireRow]:
        assert schedule.next_run_at is not None
        decision = self._decide(schedule, now)
        new_next = cron.next_fire_time(schedule.cron_expression, schedule.timezone, now)
        started: RunRow | None = None
        recorded: list[FireRow] = []
        async with self.pool.connection() as conn, conn.transaction():
            if not await repo.claim(
                conn, schedule_id=schedule.id, expected_next=schedule.next_run_at, new_next=new_next
            ):
                return []  # another process fired it (or it was changed meanwhile)
            if decision.missed:
                recorded.append(await self._record(conn, schedule, self._missed(decision.missed), now))
            if decision.fire_time is not None:
                outcome = await self._start_run(conn, schedule, decision.fire_time)
                recorded.append(await self._record(conn, schedule, outcome, now))
                started = outcome.run
        for fire in recorded:
            level = logging.INFO if fire.outcome == "started" else logging.WARNING
            logger.log(
                level, "schedule %s fire at %s: %s %s", schedule.id, fire.fire_time, fire.outcome, fire.reason or ""
            )
        if started is not None:
            self.stream.ensure_floor(started.id, started.event_seq_reserved)
            self.stream.push(started.id, create_activity_event(0, "run", "started"))
            await self.executor.ensure_running(started.id)
        return recorded

    async def _record(self, conn: Conn, schedule: ScheduleRow, fire: _Outcome, now: datetime) -> FireRow:
        run_id = fire.run.id if fire.run is not None else None
        recorded = await repo.insert_fire(
            conn, schedule_id=schedule.id, org_id=schedule.org_id, fire_time=fire.fire_time, fire_count=fire.count,
            outcome=fire.outcome, reason=fire.reason, run_id=run_id, claimed_by=self.claim_id, recorded_at=now,
        )  # fmt: skip
        await outbox.fire_recorded(conn, self.settings, schedule, recorded)
        return recorded

    def _missed(self, missed: list[datetime]) -> _Outcome:
        count = len(missed)
        more = "+" if count >= _COUNT_LIMIT else ""
        grace = timedelta(seconds=self.settings.schedule_grace_seconds)
        when = (
            f"at {missed[0]:%Y-%m-%d %H:%M} UTC"
            if count == 1
            else (f"from {missed[0]:%Y-%m-%d %H:%M} to {missed[-1]:%Y-%m-%d %H:%M} UTC")
        )
        reason = (
            f"{count}{more} fire time(s) {when} passed while no server was running "
            f"(fire times older than the {grace} grace period are not made up)"
        )
        return _Outcome(fire_time=missed[0], outcome="missed", reason=reason, count=count)

    async def _skip_reason(self, conn: Conn, schedule: ScheduleRow) -> str | None:
        if schedule.created_by is None or not await repo.member_may_collect(
            conn, org_id=schedule.org_id, user_id=schedule.created_by, permission=PERMISSION
        ):
            return f"the schedule's creator is no longer a member of the org with {PERMISSION}"
        if schedule.last_run_id is not None:
            previous = await runs_repo.get_run(conn, org_id=schedule.org_id, run_id=schedule.last_run_id)
            if previous is not None and previous.status in OPEN_STATUSES:
                return f"the previous run {previous.name!r} ({previous.id}) is still {previous.status}"
        return None

    async def _start_run(self, conn: Conn, schedule: ScheduleRow, fire_time: datetime) -> _Outcome:
        """Start the schedule's run for `fire_time`: started, or skipped / failed with the reason."""
        reason = await self._skip_reason(conn, schedule)
        if reason is not None:
            return _Outcome(fire_time, "skipped", reason)
        local = fire_time.astimezone(ZoneInfo(schedule.timezone))
        try:
            # A savepoint: a refused run must not undo the claim and its record.
            async with conn.transaction():
                run = await lifecycle.create_run_in(
                    conn,
                    self.settings,
                    org_id=schedule.org_id,
                    user_id=schedule.created_by,
                    name=f"{schedule.name} ({local:%Y-%m-%d %H:%M %Z})",
                    category_ids=schedule.category_ids,
                    preset_id=schedule.preset_id,
                    trigger="schedule",
                    schedule_id=schedule.id,
                    start=True,
                    refresh=schedule.refresh,
                )
            await repo.set_last_run(conn, schedule_id=schedule.id, run_at=fire_time, run_id=run.id)
        except TooManyOpenRuns as exc:
            return _Outcome(fire_time, "skipped", exc.detail)
        except AppError as exc:
            return _Outcome(fire_time, "failed", exc.detail)
        return _Outcome(fire_time, "started", run=run)
