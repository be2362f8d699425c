"""Per-org collection settings: open-run limit, provider, eBay pages, price window, workers."""

from __future__ import annotations

from fastapi import APIRouter

from app.http.deps import AutomationDep, PoolDep, SettingsDep
from app.models import CollectionSettingsOut, CollectionSettingsUpdate
from app.services.runs import org_settings

router = APIRouter(prefix="/collection/settings", tags=["collection"])


@router.get("", response_model=CollectionSettingsOut)
async def get_collection_settings(caller: AutomationDep, pool: PoolDep, settings: SettingsDep) -> CollectionSettingsOut:
    """The values new runs of this org are created with (the server's defaults where the org chose none)."""
    return await org_settings.get_settings(pool, settings, org_id=caller.org_id)


@router.patch("", response_model=CollectionSettingsOut)
async def update_collection_settings(
    body: CollectionSettingsUpdate, caller: AutomationDep, pool: PoolDep, settings: SettingsDep
) -> CollectionSettingsOut:
    """Fields left out keep their value; null restores the server's default. 422 names every problem."""
    return await org_settings.update_settings(
        pool, settings, org_id=caller.org_id, user_id=caller.user_id, changes=body
    )
