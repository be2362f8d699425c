"""One timeline of runs and manual changes, and "sellers at this point" for any entry."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from app.http.deps import PoolDep, SellersReadDep
from app.models import ChangeList, JournalChange, SellersAtPoint, Timeline, TimelineEntry
from app.routers.paging import Limit200, Limit1000, Offset
from app.services.sellers import seller_list

router = APIRouter(prefix="/history", tags=["history"])


@router.get("", response_model=Timeline)
async def timeline(caller: SellersReadDep, pool: PoolDep, limit: Limit200 = 50, offset: Offset = 0) -> Timeline:
    """Runs (once stopped) and manual seller changes, newest first, each with its seller-count snapshot."""
    rows = await seller_list.timeline(pool, caller=caller, limit=limit, offset=offset)
    return Timeline(entries=[TimelineEntry.model_validate(r) for r in rows], limit=limit, offset=offset)


@router.get("/{entry_id}/sellers", response_model=SellersAtPoint)
async def sellers_at_entry(
    entry_id: UUID, caller: SellersReadDep, pool: PoolDep, limit: Limit1000 = 100, cursor: str | None = None
) -> SellersAtPoint:
    """The exact seller list right after this entry, a page at a time, with what the entry added and removed."""
    return SellersAtPoint.model_validate(
        await seller_list.sellers_at_entry(pool, caller=caller, entry_id=entry_id, limit=limit, cursor=cursor)
    )


@router.get("/{entry_id}/changes", response_model=ChangeList)
async def changes_of_entry(
    entry_id: UUID, caller: SellersReadDep, pool: PoolDep, limit: Limit1000 = 100, cursor: str | None = None
) -> ChangeList:
    """Every seller this entry added, removed or renamed, in order, a page at a time (from the seller journal)."""
    rows, next_cursor = await seller_list.changes_of_entry(
        pool, caller=caller, entry_id=entry_id, limit=limit, cursor=cursor
    )
    return ChangeList(
        entry_id=entry_id, changes=[JournalChange.model_validate(r) for r in rows], next_cursor=next_cursor
    )
