"""The seller list: browse, edit, flag, delete, export, and its audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from app.deps import PoolDep, SellersReadDep, SellersWriteDep
from app.errors import InvalidInput
from app.models import (
    AuditEntry,
    AuditList,
    BulkAddResult,
    BulkDeleteResult,
    CleanStr,
    FlagResult,
    SellerFlag,
    SellerIds,
    SellerList,
    SellerName,
    SellerNames,
    SellerOut,
)
from app.services import export, sellers

router = APIRouter(prefix="/sellers", tags=["sellers"])

AUDIT_ACTIONS = {"add", "edit", "remove", "flag", "export"}


@router.get("", response_model=SellerList)
async def list_sellers(
    caller: SellersReadDep,
    pool: PoolDep,
    search: Annotated[CleanStr | None, Query(max_length=200, description="Names starting with this")] = None,
    flagged: bool | None = None,
    sort: Literal["newest", "oldest", "name"] = "newest",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> SellerList:
    """The org's sellers, a page at a time (keyset pagination: follow `next_cursor`)."""
    rows, next_cursor, total = await sellers.list_sellers(
        pool, caller=caller, sort=sort, limit=limit, search=search, flagged=flagged, cursor=cursor
    )
    return SellerList(sellers=[SellerOut.model_validate(r) for r in rows], next_cursor=next_cursor, total_in_org=total)


@router.post("", response_model=SellerOut, status_code=201)
async def add_seller(body: SellerName, caller: SellersWriteDep, pool: PoolDep) -> SellerOut:
    """Add one seller by name (409 if the normalized name is already in the list)."""
    return SellerOut.model_validate(await sellers.add_seller(pool, caller=caller, name=body.name))


@router.post("/bulk", response_model=BulkAddResult)
async def add_sellers(body: SellerNames, caller: SellersWriteDep, pool: PoolDep) -> BulkAddResult:
    """Add many names; duplicates within the request or the list are skipped and reported."""
    return BulkAddResult.model_validate(await sellers.add_sellers(pool, caller=caller, names=body.names))


@router.post("/bulk-delete", response_model=BulkDeleteResult)
async def delete_sellers(body: SellerIds, caller: SellersWriteDep, pool: PoolDep) -> BulkDeleteResult:
    return BulkDeleteResult.model_validate(await sellers.delete_sellers(pool, caller=caller, seller_ids=body.ids))


@router.post("/flag", response_model=FlagResult)
async def flag_sellers(body: SellerFlag, caller: SellersWriteDep, pool: PoolDep) -> FlagResult:
    return FlagResult.model_validate(
        await sellers.flag_sellers(pool, caller=caller, seller_ids=body.ids, flagged=body.flagged)
    )


@router.get("/export", response_class=StreamingResponse)
async def export_sellers(
    caller: SellersReadDep,
    pool: PoolDep,
    format: Literal["csv", "json", "text"] = "csv",
    run_id: UUID | None = None,
    flagged: bool | None = None,
) -> StreamingResponse:
    """Stream the list (or one run's finds, or the flagged ones) as CSV, JSON or text; recorded in the audit log."""
    result = await export.export_sellers(pool, caller=caller, fmt=format, run_id=run_id, flagged=flagged)
    return StreamingResponse(
        result.body,
        media_type=result.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{result.filename}"',
            "X-Export-Count": str(result.count),
        },
    )


@router.get("/audit-log", response_model=AuditList)
async def audit_log(
    caller: SellersReadDep,
    pool: PoolDep,
    action: Annotated[list[str] | None, Query(description="Repeatable: add, edit, remove, flag, export")] = None,
    source: Literal["manual", "collection_run"] | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> AuditList:
    """Manual changes and exports, newest first."""
    unknown = sorted(set(action or []) - AUDIT_ACTIONS)
    if unknown:
        raise InvalidInput(f"Unknown action(s): {', '.join(unknown)}; known: {', '.join(sorted(AUDIT_ACTIONS))}")
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("date_from must not be after date_to")
    rows, next_cursor = await sellers.audit_log(
        pool, caller=caller, limit=limit, actions=action, source=source,
        date_from=date_from, date_to=date_to, cursor=cursor,
    )  # fmt: skip
    return AuditList(entries=[AuditEntry.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{seller_id}", response_model=SellerOut)
async def get_seller(seller_id: UUID, caller: SellersReadDep, pool: PoolDep) -> SellerOut:
    return SellerOut.model_validate(await sellers.get_seller(pool, caller=caller, seller_id=seller_id))


@router.patch("/{seller_id}", response_model=SellerOut)
async def rename_seller(seller_id: UUID, body: SellerName, caller: SellersWriteDep, pool: PoolDep) -> SellerOut:
    """Rename a seller (409 if another seller already has that normalized name)."""
    return SellerOut.model_validate(
        await sellers.rename_seller(pool, caller=caller, seller_id=seller_id, name=body.name)
    )


@router.delete("/{seller_id}", status_code=204)
async def delete_seller(seller_id: UUID, caller: SellersWriteDep, pool: PoolDep) -> Response:
    await sellers.delete_seller(pool, caller=caller, seller_id=seller_id)
    return Response(status_code=204)
