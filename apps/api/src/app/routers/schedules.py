"""Collection schedules (cron + time zone) with their next fire times and fire records."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from app.http.deps import AutomationDep, ClockDep, PoolDep
from app.models import ScheduleCreate, ScheduleFireList, ScheduleFireOut, ScheduleList, ScheduleOut, ScheduleUpdate
from app.routers.paging import Limit500
from app.services.scheduling import schedules

router = APIRouter(prefix="/collection/schedules", tags=["schedules"])


@router.get("", response_model=ScheduleList)
async def list_schedules(caller: AutomationDep, pool: PoolDep) -> ScheduleList:
    found = await schedules.list_schedules(pool, org_id=caller.org_id)
    return ScheduleList(schedules=[ScheduleOut.model_validate(s) for s in found])


@router.post(
    "",
    response_model=ScheduleOut,
    status_code=201,
    responses={
        404: {"description": "Unknown preset, or another org's"},
        409: {"description": "The name is taken"},
    },
)
async def create_schedule(body: ScheduleCreate, caller: AutomationDep, pool: PoolDep, clock: ClockDep) -> ScheduleOut:
    """A schedule runs as its creator. 422: bad cron, unknown time zone or category; 404: unknown preset."""
    created = await schedules.create_schedule(
        pool, org_id=caller.org_id, user_id=caller.user_id, now=clock(), **body.model_dump()
    )
    return ScheduleOut.model_validate(created)


@router.get("/{schedule_id}", response_model=ScheduleOut)
async def get_schedule(schedule_id: UUID, caller: AutomationDep, pool: PoolDep) -> ScheduleOut:
    return ScheduleOut.model_validate(await schedules.get_schedule(pool, org_id=caller.org_id, schedule_id=schedule_id))


@router.patch("/{schedule_id}", response_model=ScheduleOut, responses={409: {"description": "The name is taken"}})
async def update_schedule(
    schedule_id: UUID, body: ScheduleUpdate, caller: AutomationDep, pool: PoolDep, clock: ClockDep
) -> ScheduleOut:
    """Change any field; giving `preset_id` or `category_ids` replaces the other."""
    changes = body.model_dump(exclude_unset=True)
    updated = await schedules.update_schedule(
        pool, org_id=caller.org_id, schedule_id=schedule_id, changes=changes, now=clock()
    )
    return ScheduleOut.model_validate(updated)


@router.delete("/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: UUID, caller: AutomationDep, pool: PoolDep) -> Response:
    await schedules.delete_schedule(pool, org_id=caller.org_id, schedule_id=schedule_id)
    return Response(status_code=204)


@router.get("/{schedule_id}/fires", response_model=ScheduleFireList)
async def list_fires(schedule_id: UUID, caller: AutomationDep, pool: PoolDep, limit: Limit500 = 50) -> ScheduleFireList:
    """What each fire did, newest first: started (with its run), skipped, missed or failed, with the reason."""
    fires = await schedules.list_fires(pool, org_id=caller.org_id, schedule_id=schedule_id, limit=limit)
    return ScheduleFireList(fires=[ScheduleFireOut.model_validate(f) for f in fires])
