"""Collection schedules: create, change, list, delete, with their next fire times.

`next_run_at` is stored while a schedule is enabled; the scheduler (services/scheduler.py)
claims a schedule when it comes due and moves it on. Changing the cron expression, the time
zone or `enabled` recomputes it from now; other changes keep it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import errors as pg_errors

from app.config import Settings
from app.db.pool import Conn, Pool
from app.errors import Conflict, InvalidInput, NotFound
from app.models import Refresh
from app.repositories import presets as presets_repo
from app.repositories import schedules as repo
from app.repositories.schedules import FireRow, ScheduleRow, ScheduleValues
from app.services.catalogue import resolve_categories
from app.services.scheduling import cron

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
UPCOMING = 5


def schedule_clock(settings: Settings) -> Clock:
    """Real UTC time; for tests a faster clock, shared by every process given the same anchor and speed."""
    speed = settings.scheduler_clock_speed
    anchor = settings.scheduler_clock_anchor
    if speed == 1.0 or anchor is None:
        return lambda: datetime.now(UTC)
    start = anchor if anchor.tzinfo else anchor.replace(tzinfo=UTC)

    def fast() -> datetime:
        return start + (datetime.now(UTC) - start) * speed

    return fast


@dataclass(frozen=True)
class ScheduleView(ScheduleRow):
    """A schedule as shown: its row, its cron expression in words, and its next fire times."""

    description: str
    next_fire_times: list[datetime]


def view(schedule: ScheduleRow) -> ScheduleView:
    upcoming: list[datetime] = []
    if schedule.enabled and schedule.next_run_at is not None:
        later = cron.next_fire_times(schedule.cron_expression, schedule.timezone, schedule.next_run_at, UPCOMING - 1)
        upcoming = [schedule.next_run_at, *later]
    return ScheduleView(
        **asdict(schedule), description=cron.describe(schedule.cron_expression), next_fire_times=upcoming
    )


async def _check_target(
    conn: Conn, *, org_id: UUID, preset_id: UUID | None, category_ids: list[str] | None
) -> list[str] | None:
    if (preset_id is None) == (category_ids is None):
        raise InvalidInput("Give exactly one of preset_id and category_ids")
    if preset_id is not None:
        if await presets_repo.get_preset(conn, org_id=org_id, preset_id=preset_id) is None:
            raise NotFound(f"Preset {preset_id} not found")
        return None
    assert category_ids is not None
    if not category_ids:
        raise InvalidInput("category_ids must name at least one category")
    return [c.id for c in resolve_categories(category_ids)]


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput("name must not be blank")
    return cleaned


def _duplicate(name: str) -> Conflict:
    return Conflict(f"A schedule named {name!r} already exists")


async def _reload(conn: Conn, *, org_id: UUID, schedule_id: UUID) -> ScheduleView:
    row = await repo.get_schedule(conn, org_id=org_id, schedule_id=schedule_id)
    assert row is not None
    return view(row)


async def list_schedules(pool: Pool, *, org_id: UUID) -> list[ScheduleView]:
    async with pool.connection() as conn:
        return [view(row) for row in await repo.list_schedules(conn, org_id=org_id)]


async def get_schedule(pool: Pool, *, org_id: UUID, schedule_id: UUID) -> ScheduleView:
    async with pool.connection() as conn:
        row = await repo.get_schedule(conn, org_id=org_id, schedule_id=schedule_id)
    if row is None:
        raise NotFound("Schedule not found")
    return view(row)


async def list_fires(pool: Pool, *, org_id: UUID, schedule_id: UUID, limit: int) -> list[FireRow]:
    async with pool.connection() as conn:
        if await repo.get_schedule(conn, org_id=org_id, schedule_id=schedule_id) is None:
            raise NotFound("Schedule not found")
        return await repo.list_fires(conn, org_id=org_id, schedule_id=schedule_id, limit=limit)


async def _checked(conn: Conn, org_id: UUID, values: ScheduleValues) -> ScheduleValues:
    """`values` validated: 422 (name, cron, zone, categories), 404 (another org's or an unknown preset)."""
    name = _clean_name(values.name)
    expression = cron.normalize_cron(values.cron_expression)
    cron.zone(values.timezone)
    ids = await _check_target(conn, org_id=org_id, preset_id=values.preset_id, category_ids=values.category_ids)
    return replace(values, name=name, cron_expression=expression, category_ids=ids)


def _first_fire(values: ScheduleValues, now: datetime) -> datetime | None:
    return cron.next_fire_time(values.cron_expression, values.timezone, now) if values.enabled else None


async def create_schedule(
    pool: Pool,
    *,
    org_id: UUID,
    user_id: UUID,
    name: str,
    preset_id: UUID | None,
    category_ids: list[str] | None,
    cron_expression: str,
    timezone: str,
    enabled: bool,
    now: datetime,
    refresh: Refresh | None = None,
) -> ScheduleView:
    """Validate everything before anything is stored: 422 (cron, zone, categories), 404 (preset), 409 (name)."""
    wanted = ScheduleValues(
        name, preset_id, category_ids, cron_expression, timezone, enabled, next_run_at=None, refresh=refresh
    )
    async with pool.connection() as conn, conn.transaction():
        values = await _checked(conn, org_id, wanted)
        values = replace(values, next_run_at=_first_fire(values, now))
        try:
            schedule_id = await repo.insert_schedule(conn, org_id=org_id, values=values, created_by=user_id)
        except pg_errors.UniqueViolation:
            raise _duplicate(values.name) from None
        created = await _reload(conn, org_id=org_id, schedule_id=schedule_id)
    logger.info("schedule %s created in org %s (%s %s)", schedule_id, org_id, values.cron_expression, timezone)
    return created


def _changed(current: ScheduleRow, changes: dict[str, Any]) -> ScheduleValues:
    """`current` with the given fields changed; `preset_id` and `category_ids` replace each other."""
    preset_id, category_ids = current.preset_id, current.category_ids
    if "preset_id" in changes or "category_ids" in changes:
        preset_id, category_ids = changes.get("preset_id"), changes.get("category_ids")
    return ScheduleValues(
        name=changes["name"] if changes.get("name") is not None else current.name,
        preset_id=preset_id,
        category_ids=category_ids,
        cron_expression=(
            changes["cron_expression"] if changes.get("cron_expression") is not None else current.cron_expression
        ),
        timezone=changes.get("timezone") or current.timezone,
        enabled=changes["enabled"] if changes.get("enabled") is not None else current.enabled,
        next_run_at=current.next_run_at,
        refresh=changes["refresh"] if changes.get("refresh") is not None else current.refresh,
    )


async def update_schedule(
    pool: Pool, *, org_id: UUID, schedule_id: UUID, changes: dict[str, Any], now: datetime
) -> ScheduleView:
    """Apply the given fields; a new cron expression, zone or `enabled` recomputes the next fire time from now."""
    async with pool.connection() as conn, conn.transaction():
        current = await repo.get_schedule(conn, org_id=org_id, schedule_id=schedule_id, for_update=True)
        if current is None:
            raise NotFound("Schedule not found")
        values = await _checked(conn, org_id, _changed(current, changes))
        timing = (values.cron_expression, values.timezone, values.enabled)
        if timing != (current.cron_expression, current.timezone, current.enabled):
            values = replace(values, next_run_at=_first_fire(values, now))
        try:
            await repo.update_schedule(conn, org_id=org_id, schedule_id=schedule_id, values=values)
        except pg_errors.UniqueViolation:
            raise _duplicate(values.name) from None
        return await _reload(conn, org_id=org_id, schedule_id=schedule_id)


async def delete_schedule(pool: Pool, *, org_id: UUID, schedule_id: UUID) -> None:
    async with pool.connection() as conn:
        if not await repo.delete_schedule(conn, org_id=org_id, schedule_id=schedule_id):
            raise NotFound("Schedule not found")
    logger.info("schedule %s deleted from org %s", schedule_id, org_id)
