"""Category presets: saved selections of leaf categories; built-ins first."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from app.http.deps import AutomationDep, PoolDep
from app.models import PresetCreate, PresetList, PresetOut, PresetUpdate
from app.services.scheduling import presets

router = APIRouter(prefix="/amazon/presets", tags=["presets"])


@router.get("", response_model=PresetList)
async def list_presets(caller: AutomationDep, pool: PoolDep) -> PresetList:
    """Built-in presets ("All categories", then one per department), then the org's own, by name."""
    return PresetList(
        presets=[PresetOut.model_validate(p) for p in await presets.list_presets(pool, org_id=caller.org_id)]
    )


@router.post("", response_model=PresetOut, status_code=201, responses={409: {"description": "The name is taken"}})
async def create_preset(body: PresetCreate, caller: AutomationDep, pool: PoolDep) -> PresetOut:
    """422 names unknown category ids; 409 when the name is taken (by the org or a built-in)."""
    preset = await presets.create_preset(
        pool, org_id=caller.org_id, user_id=caller.user_id, name=body.name, category_ids=body.category_ids,
        refresh=body.refresh,
    )  # fmt: skip
    return PresetOut.model_validate(preset)


@router.get("/{preset_id}", response_model=PresetOut)
async def get_preset(preset_id: UUID, caller: AutomationDep, pool: PoolDep) -> PresetOut:
    return PresetOut.model_validate(await presets.get_preset(pool, org_id=caller.org_id, preset_id=preset_id))


@router.patch(
    "/{preset_id}",
    response_model=PresetOut,
    responses={409: {"description": "A built-in preset, or the name is taken"}},
)
async def update_preset(preset_id: UUID, body: PresetUpdate, caller: AutomationDep, pool: PoolDep) -> PresetOut:
    """Rename and/or change the categories or refresh choice of one of the org's presets (built-ins: 409)."""
    preset = await presets.update_preset(
        pool, org_id=caller.org_id, preset_id=preset_id, name=body.name, category_ids=body.category_ids,
        refresh=body.refresh,
    )  # fmt: skip
    return PresetOut.model_validate(preset)


@router.delete(
    "/{preset_id}",
    status_code=204,
    responses={409: {"description": "A built-in preset, or one a schedule uses"}},
)
async def delete_preset(preset_id: UUID, caller: AutomationDep, pool: PoolDep) -> Response:
    """Built-ins and presets a schedule uses answer 409."""
    await presets.delete_preset(pool, org_id=caller.org_id, preset_id=preset_id)
    return Response(status_code=204)
