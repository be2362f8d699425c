"""The seller list: browse, edit, flag, delete, export, and its audit log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from app.config import Settings
from app.db.pool import Pool
from app.errors import InvalidInput, quote
from app.http.deps import ExportSlotsDep, PoolDep, SellersReadDep, SellersWriteDep, SettingsDep
from app.http.download import Download
from app.http.export_slots import ExportSlots
from app.models import (
    AuditEntry,
    AuditList,
    BulkAddResult,
    BulkDeleteResult,
    CleanStr,
    FlagResult,
    IsoDatetime,
    ListingList,
    ListingOut,
    SellerDetail,
    SellerFlag,
    SellerIds,
    SellerList,
    SellerName,
    SellerNames,
    SellerOut,
)
from app.routers.paging import Limit500, Limit1000
from app.security import Caller
from app.services.exports import seller_export
from app.services.sellers import profile_view, seller_list

router = APIRouter(prefix="/sellers", tags=["sellers"])


def as_utc(value: datetime | None) -> datetime | None:
    """A datetime without a zone is taken as UTC, so naive and aware ones compare."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def check_bulk_size(count: int, settings: Settings, what: str) -> None:
    if count > settings.max_bulk_items:
        raise InvalidInput(
            f"Too many {what}: at most {settings.max_bulk_items} per request "
            f"(SELLERCOLLECTION_MAX_BULK_ITEMS), got {count}"
        )


AUDIT_ACTIONS = {"add", "edit", "remove", "flag", "export"}


@router.get("", response_model=SellerList)
async def list_sellers(
    caller: SellersReadDep,
    pool: PoolDep,
    search: Annotated[CleanStr | None, Query(max_length=200, description="Names starting with this")] = None,
    flagged: bool | None = None,
    sort: Literal["newest", "oldest", "name", "score"] = "newest",
    min_score: Annotated[int | None, Query(ge=0, le=100, description="Only sellers scoring at least this")] = None,
    limit: Limit1000 = 100,
    cursor: str | None = None,
) -> SellerList:
    """The org's sellers, a page at a time (keyset pagination: follow `next_cursor`).

    `sort=score` puts the highest dropshipper score first and sellers without one last.
    """
    page = await seller_list.list_sellers(
        pool, caller=caller, sort=sort, limit=limit, search=search, flagged=flagged, cursor=cursor,
        min_score=min_score,
    )  # fmt: skip
    return SellerList(
        sellers=[SellerOut.model_validate(r) for r in page.sellers],
        next_cursor=page.next_cursor,
        total_in_org=page.total_in_org,
        total_matching=page.total_matching,
    )


@router.post("", response_model=SellerOut, status_code=201, responses={409: {"description": "Already in the list"}})
async def add_seller(body: SellerName, caller: SellersWriteDep, pool: PoolDep) -> SellerOut:
    """Add one seller by name (409 if the normalized name is already in the list)."""
    return SellerOut.model_validate(await seller_list.add_seller(pool, caller=caller, name=body.name))


@router.post("/bulk", response_model=BulkAddResult)
async def add_sellers(
    body: SellerNames, caller: SellersWriteDep, pool: PoolDep, settings: SettingsDep
) -> BulkAddResult:
    """Add many names; duplicates within the request or the list are skipped and reported."""
    check_bulk_size(len(body.names), settings, "names")
    return BulkAddResult.model_validate(await seller_list.add_sellers(pool, caller=caller, names=body.names))


@router.post("/bulk-delete", response_model=BulkDeleteResult)
async def delete_sellers(
    body: SellerIds, caller: SellersWriteDep, pool: PoolDep, settings: SettingsDep
) -> BulkDeleteResult:
    check_bulk_size(len(body.ids), settings, "ids")
    return BulkDeleteResult.model_validate(await seller_list.delete_sellers(pool, caller=caller, seller_ids=body.ids))


@router.post("/flag", response_model=FlagResult)
async def flag_sellers(body: SellerFlag, caller: SellersWriteDep, pool: PoolDep, settings: SettingsDep) -> FlagResult:
    check_bulk_size(len(body.ids), settings, "ids")
    return FlagResult.model_validate(
        await seller_list.flag_sellers(pool, caller=caller, seller_ids=body.ids, flagged=body.flagged)
    )


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}, "text/plain": {}}},
        404: {"description": "No such run in this org"},
    },
)
async def export_sellers(
    caller: SellersReadDep,
    pool: PoolDep,
    settings: SettingsDep,
    slots: ExportSlotsDep,
    format: Literal["csv", "json", "text"] = "csv",
    run_id: UUID | None = None,
    flagged: bool | None = None,
) -> Response:
    """The list (or one run's finds, or the flagged ones) as CSV, JSON or text; recorded in the audit log once sent.

    429 when the org already has `SELLERCOLLECTION_MAX_CONCURRENT_EXPORTS_PER_ORG` exports in flight.
    """
    return await _download(
        caller, pool, settings, slots,
        lambda turn: seller_export.export_sellers(
            pool, caller=caller, fmt=format, run_id=run_id, flagged=flagged,
            spool_memory_bytes=settings.export_spool_memory_bytes, turn=turn,
        ),
    )  # fmt: skip


async def _download(
    caller: Caller,
    pool: Pool,
    settings: Settings,
    slots: ExportSlots,
    start: Callable[[AbstractAsyncContextManager[None]], Awaitable[seller_export.Export]],
) -> Response:
    """An export in one of the org's export slots, streamed, and recorded in the audit log once all was sent."""
    slots.acquire(caller.org_id)
    try:
        result = await start(slots.snapshot_turn())
    except BaseException:
        slots.release(caller.org_id)
        raise
    return Download(
        result.chunks(),
        send_timeout=settings.export_send_timeout_seconds,
        on_complete=lambda: seller_export.record_export(pool, caller=caller, export=result),
        on_close=lambda: slots.release(caller.org_id),
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
    date_from: IsoDatetime | None = None,
    date_to: IsoDatetime | None = None,
    limit: Limit500 = 50,
    cursor: str | None = None,
) -> AuditList:
    """Manual changes and exports, newest first."""
    unknown = sorted(set(action or []) - AUDIT_ACTIONS)
    if unknown:
        shown = ", ".join(quote(a) for a in unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
        raise InvalidInput(f"Unknown action(s): {shown}; known: {', '.join(sorted(AUDIT_ACTIONS))}")
    date_from, date_to = as_utc(date_from), as_utc(date_to)
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("date_from must not be after date_to")
    rows, next_cursor = await seller_list.audit_log(
        pool, caller=caller, limit=limit, actions=action, source=source,
        date_from=date_from, date_to=date_to, cursor=cursor,
    )  # fmt: skip
    return AuditList(entries=[AuditEntry.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/evidence/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, 404: {"description": "No such seller in this org"}},
)
async def export_evidence(
    caller: SellersReadDep,
    pool: PoolDep,
    settings: SettingsDep,
    slots: ExportSlotsDep,
    seller_id: UUID | None = None,
) -> Response:
    """The evidence listings of one seller (or of every seller) as CSV, streamed like the seller export.

    429 when the org already has `SELLERCOLLECTION_MAX_CONCURRENT_EXPORTS_PER_ORG` exports in flight.
    """
    return await _download(
        caller, pool, settings, slots,
        lambda turn: seller_export.export_evidence(
            pool, caller=caller, seller_id=seller_id, spool_memory_bytes=settings.export_spool_memory_bytes, turn=turn
        ),
    )  # fmt: skip


@router.get("/{seller_id:uuid}", response_model=SellerDetail, responses={404: {"description": "No such seller"}})
async def get_seller(seller_id: UUID, caller: SellersReadDep, pool: PoolDep) -> SellerDetail:
    """The seller with its profile and its dropshipper score's reasons."""
    return SellerDetail.model_validate(await profile_view.seller_detail(pool, caller=caller, seller_id=seller_id))


@router.get(
    "/{seller_id:uuid}/listings", response_model=ListingList, responses={404: {"description": "No such seller"}}
)
async def seller_listings(
    seller_id: UUID, caller: SellersReadDep, pool: PoolDep, limit: Limit500 = 50, cursor: str | None = None
) -> ListingList:
    """The eBay listings that are evidence for this seller, newest listing first (follow `next_cursor`)."""
    rows, next_cursor = await profile_view.seller_listings(
        pool, caller=caller, seller_id=seller_id, limit=limit, cursor=cursor
    )
    return ListingList(listings=[ListingOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.patch(
    "/{seller_id:uuid}", response_model=SellerOut, responses={409: {"description": "Another seller has that name"}}
)
async def rename_seller(seller_id: UUID, body: SellerName, caller: SellersWriteDep, pool: PoolDep) -> SellerOut:
    """Rename a seller (409 if another seller already has that normalized name)."""
    return SellerOut.model_validate(
        await seller_list.rename_seller(pool, caller=caller, seller_id=seller_id, name=body.name)
    )


@router.delete("/{seller_id:uuid}", status_code=204)
async def delete_seller(seller_id: UUID, caller: SellersWriteDep, pool: PoolDep) -> Response:
    await seller_list.delete_seller(pool, caller=caller, seller_id=seller_id)
    return Response(status_code=204)
