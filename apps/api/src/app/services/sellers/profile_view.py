"""Reading one seller's profile and its evidence listings (org-scoped: another org's seller is 404)."""

from __future__ import annotations

from uuid import UUID

from app.db.pool import Pool
from app.errors import InvalidInput, found
from app.repositories import evidence as evidence_repo
from app.repositories import seller_profiles as profiles_repo
from app.repositories import sellers as sellers_repo
from app.repositories.evidence import ListingRow
from app.repositories.seller_profiles import SellerDetailRow
from app.security import Caller
from app.services.cursors import BAD_CURSOR, decode_cursor, encode_cursor

_NOT_FOUND = "Seller not found"


async def seller_detail(pool: Pool, *, caller: Caller, seller_id: UUID) -> SellerDetailRow:
    async with pool.connection() as conn:
        return found(await profiles_repo.seller_detail(conn, org_id=caller.org_id, seller_id=seller_id), _NOT_FOUND)


async def seller_listings(
    pool: Pool, *, caller: Caller, seller_id: UUID, limit: int, cursor: str | None
) -> tuple[list[ListingRow], str | None]:
    """A page of the seller's evidence listings, newest listing first; the cursor continues after the last one."""
    before = _before_item(cursor, seller_id) if cursor else None
    async with pool.connection() as conn:
        found(await sellers_repo.get_seller(conn, org_id=caller.org_id, seller_id=seller_id), _NOT_FOUND)
        rows = await evidence_repo.seller_listings(conn, seller_id=seller_id, limit=limit + 1, before_item=before)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].item_id, str(seller_id))
    return rows, next_cursor


def _before_item(cursor: str, seller_id: UUID) -> int:
    """The item id a listings cursor continues after; 422 for a cursor of another seller or list."""
    item_id, of_seller = decode_cursor(cursor, int, str)
    if of_seller != str(seller_id) or not (isinstance(item_id, int) and 0 < item_id < 2**63):
        raise InvalidInput(BAD_CURSOR)
    return item_id
