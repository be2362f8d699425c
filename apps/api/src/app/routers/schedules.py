"""Collection schedules (cron + time zone) with their next fire times and fire records."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from app.http.deps import AutomationDep, ClockDep, PoolDep
from app.models import ScheduleCreate, ScheduleFireList, ScheduleFireOut, ScheduleList, ScheduleOut, ScheduleUpdate
from app.services.scheduling import schedules
from app.services.scheduling.schedules import ScheduleView

router = APIRouter(prefix="/collection/schedules", tags=["schedules"])


def _out(item: ScheduleView) -> ScheduleOut:
    s = item.schedule
    return ScheduleOut(
        id=s.id,
        name=s.name,
        preset_id=s.preset_id,
        preset_name=s.preset_name,
        category_ids=s.category_ids,
        cron_expression=s.cron_expression,
        description=item.description,
        timezone=s.timezone,
        enabled=s.enabled,
        next_run_at=s.next_run_at,
        next_fire_times=item.next_fire_times,
        last_run_at=s.last_run_at,
        last_run_id=s.last_run_id,
        created_by=s.created_by,
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


@router.get("", response_model=ScheduleList)
async def list_schedules(caller: AutomationDep, pool: PoolDep) -> ScheduleList:
    return ScheduleList(schedules=[_out(s) for s in await schedules.list_schedules(pool, org_id=caller.org_id)])


@router.post(
    "",
    response_model=ScheduleOut,
    status_code=201,
    responses={
        404: {"description": "Unknown preset, or another org's"},
        409: {"description": "The name is taken"},
    },
)
async def create_schedule(
    body: ScheduleCreate,
    caller: AutomationDep,
    pool: PoolDep,
    clock: ClockDep,
) -> ScheduleOut:
    """A schedule runs as its creator. 422: bad cron, unknown time zone or category; 404: unknown preset."""
    created = await schedules.create_schedule(
        pool,
        org_id=caller.org_id,
        user_id=caller.user_id,
        name=body.name,
        preset_id=body.preset_id,
        category_ids=body.category_ids,
        cron_expression=body.cron_expression,
        timezone=body.timezone,
        enabled=body.enabled,
        now=clock(),
    )
    return _out(created)


@router.get("/{schedule_id}", response_model=ScheduleOut)
async def get_schedule(schedule_id: UUID, caller: AutomationDep, pool: PoolDep) -> ScheduleOut:
    return _out(await schedules.get_schedule(pool, org_id=caller.org_id, schedule_id=schedule_id))


@router.patch("/{schedule_id}", response_model=ScheduleOut, responses={409: {"description": "The name is taken"}})
async def update_schedule(
    schedule_id: UUID,
    body: ScheduleUpdate,
    caller: AutomationDep,
    pool: PoolDep,
    clock: ClockDep,
) -> ScheduleOut:
    """Change any field; giving `preset_id` or `category_ids` replaces the other."""
    changes = body.model_dump(exclude_unset=True)
    updated = await schedules.update_schedule(
        pool, org_id=caller.org_id, schedule_id=schedule_id, changes=changes, now=clock()
    )
    return _out(updated)


@router.delete("/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: UUID, caller: AutomationDep, pool: PoolDep) -> Response:
    await schedules.delete_schedule(pool, org_id=caller.org_id, schedule_id=schedule_id)
    return Response(status_code=204)


@router.get("/{schedule_id}/fires", response_model=ScheduleFireList)
async def list_fires(
    schedule_id: UUID,
    caller: AutomationDep,
    pool: PoolDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ScheduleFireList:
    """What each fire did, newest first: started (with its run), skipped, missed or failed, with the reason."""
    fires = await schedules.list_fires(pool, org_id=caller.org_id, schedule_id=schedule_id, limit=limit)
    return ScheduleFireList(fires=[ScheduleFireOut.model_validate(f, from_attributes=True) for f in fires])
