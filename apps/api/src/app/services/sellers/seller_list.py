"""The seller list: listing, manual changes (each with one audit row in the same transaction), history.

Every change writes its audit row in the transaction that makes it, carrying the org's seller
count after the change (`seller_count_snapshot`) and its journal position, both exact under
concurrent edits and running collections (see migration 047).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import errors as pg_errors

from app.db.pool import Conn, Pool
from app.errors import Conflict, InvalidInput, NotFound, found
from app.models import EntryKind, SkipReason
from app.repositories import audit as audit_repo
from app.repositories import runs as runs_repo
from app.repositories import sellers as sellers_repo
from app.repositories.audit import AuditRow, JournalRow, TimelineRow
from app.repositories.runs import RunRow
from app.repositories.sellers import SellerRow
from app.security import Caller
from app.services.cursors import BAD_CURSOR, keyset_after, keyset_cursor, position_after, position_cursor
from app.services.sellers.names import normalize_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: SkipReason


@dataclass(frozen=True)
class BulkAdded:
    added: list[str]
    skipped: list[Skipped]


@dataclass(frozen=True)
class Deleted:
    deleted: int
    not_found: list[UUID]


@dataclass(frozen=True)
class Flagged:
    updated: int
    not_found: list[UUID]


@dataclass(frozen=True)
class SellersAtEntry:
    entry_id: UUID
    kind: EntryKind
    seller_count_snapshot: int | None
    count: int
    sellers: list[str]
    next_cursor: str | None
    added_count: int
    removed_count: int
    added: list[str]
    removed: list[str]


# Bulk changes keep their audit rows small: a count and the first names (the journal has them all).
AUDIT_SAMPLE = 10
# Names a history entry's answer lists inline as added or removed (GET /history/{id}/changes has them all).
CHANGES_SAMPLE = 100


def _sample(names: list[str]) -> list[str]:
    return names[:AUDIT_SAMPLE]


def _summary(names: list[str]) -> str:
    """How a multi-seller audit entry is named: "first (+N more)"."""
    if not names:
        return "(none)"
    return names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1} more)"


def _clean(name: str) -> tuple[str, str]:
    display = " ".join(name.split())
    normalized = normalize_name(name)
    if not normalized:
        raise InvalidInput("Seller name must not be empty")
    return display, normalized


def _score_after(value: str) -> int:
    """The score a `sort=score` cursor continues after (-1: among the sellers without one)."""
    if not (re.fullmatch(r"-?[0-9]{1,3}", value) and -1 <= int(value) <= 100):
        raise InvalidInput(BAD_CURSOR)
    return int(value)


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SellerPage:
    """One page of the list, where the next starts, the org's count and how many match the filters."""

    sellers: list[SellerRow]
    next_cursor: str | None
    total_in_org: int
    total_matching: int


async def list_sellers(
    pool: Pool,
    *,
    caller: Caller,
    sort: str,
    limit: int,
    search: str | None,
    flagged: bool | None,
    cursor: str | None,
    min_score: int | None = None,
) -> SellerPage:
    order = sellers_repo.SORTS[sort]
    after = keyset_after(cursor, as_datetime=order.cursor_column == "created_at") if cursor else None
    if after is not None and order.cursor_column == "score":
        after = (_score_after(after[0]), after[1])
    prefix = normalize_name(search) if search else None
    async with pool.connection() as conn:
        rows = await sellers_repo.list_sellers(
            conn, org_id=caller.org_id, sort=order, limit=limit + 1, prefix=prefix, flagged=flagged,
            min_score=min_score, after=after,
        )  # fmt: skip
        total, _ = await sellers_repo.snapshot(conn, org_id=caller.org_id)
        # Without a filter every seller matches: the org's count row says how many, without counting.
        matching = (
            await sellers_repo.count_matching(
                conn, org_id=caller.org_id, prefix=prefix, flagged=flagged, min_score=min_score
            )
            if prefix or flagged is not None or min_score is not None
            else total
        )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = keyset_cursor(order.cursor_value(rows[-1]), rows[-1].id)
    return SellerPage(rows, next_cursor, total, matching)


# --- changing ------------------------------------------------------------------------------------


async def add_seller(pool: Pool, *, caller: Caller, name: str) -> SellerRow:
    display, normalized = _clean(name)
    async with pool.connection() as conn, conn.transaction():
        rows = await sellers_repo.insert_manual(conn, org_id=caller.org_id, names=[(display, normalized)])
        if not rows:
            raise Conflict(f"Seller '{display}' already exists")
        seller = rows[0]
        await audit_repo.insert_audit(
            conn, org_id=caller.org_id, action="add", seller_id=seller.id, seller_name=display,
            new_value={"display_name": display}, user_id=caller.user_id,
        )  # fmt: skip
    return seller


async def add_sellers(pool: Pool, *, caller: Caller, names: list[str]) -> BulkAdded:
    """Add many names; report which were added and which were skipped, and why."""
    skipped: list[Skipped] = []
    wanted: dict[str, str] = {}
    for name in names:
        display = " ".join(name.split())
        normalized = normalize_name(name)
        if not normalized:
            skipped.append(Skipped(name, "empty"))
        elif normalized in wanted:
            skipped.append(Skipped(display, "duplicate in request"))
        else:
            wanted[normalized] = display
    async with pool.connection() as conn, conn.transaction():
        inserted = await sellers_repo.insert_manual(
            conn, org_id=caller.org_id, names=[(d, n) for n, d in wanted.items()]
        )
        added = {row.normalized_name for row in inserted}
        skipped += [Skipped(d, "already in list") for n, d in wanted.items() if n not in added]
        added_names = [wanted[n] for n in wanted if n in added]
        if added_names:
            await audit_repo.insert_audit(
                conn, org_id=caller.org_id, action="add", seller_name=_summary(added_names),
                new_value={"names": _sample(added_names), "count": len(added_names)},
                affected_count=len(added_names), user_id=caller.user_id,
            )  # fmt: skip
    return BulkAdded(added=added_names, skipped=skipped)


async def rename_seller(pool: Pool, *, caller: Caller, seller_id: UUID, name: str) -> SellerRow:
    display, normalized = _clean(name)
    async with pool.connection() as conn, conn.transaction():
        before = found(
            await sellers_repo.get_seller(conn, org_id=caller.org_id, seller_id=seller_id), "Seller not found"
        )
        try:
            async with conn.transaction():
                after = await sellers_repo.rename(
                    conn, org_id=caller.org_id, seller_id=seller_id, display_name=display, normalized_name=normalized
                )
        except pg_errors.UniqueViolation as exc:
            raise Conflict(f"Seller '{display}' already exists") from exc
        assert after is not None
        if before.display_name != display:
            await audit_repo.insert_audit(
                conn, org_id=caller.org_id, action="edit", seller_id=seller_id, seller_name=display,
                old_value={"display_name": before.display_name}, new_value={"display_name": display},
                user_id=caller.user_id,
            )  # fmt: skip
    return after


async def delete_sellers(pool: Pool, *, caller: Caller, seller_ids: list[UUID]) -> Deleted:
    unique_ids = list(dict.fromkeys(seller_ids))
    async with pool.connection() as conn, conn.transaction():
        deleted = await sellers_repo.delete_many(conn, org_id=caller.org_id, seller_ids=unique_ids)
        names = [row.display_name for row in deleted]
        if deleted:
            single = len(deleted) == 1
            await audit_repo.insert_audit(
                conn, org_id=caller.org_id, action="remove", seller_name=_summary(names),
                old_value={"display_name": names[0], "id": str(deleted[0].id)}
                if single
                else {"names": _sample(names), "count": len(names)},
                affected_count=len(deleted), user_id=caller.user_id,
            )  # fmt: skip
    gone = {row.id for row in deleted}
    return Deleted(deleted=len(deleted), not_found=[i for i in unique_ids if i not in gone])


async def delete_seller(pool: Pool, *, caller: Caller, seller_id: UUID) -> None:
    result = await delete_sellers(pool, caller=caller, seller_ids=[seller_id])
    if result.deleted == 0:
        raise NotFound("Seller not found")


async def flag_sellers(pool: Pool, *, caller: Caller, seller_ids: list[UUID], flagged: bool) -> Flagged:
    unique_ids = list(dict.fromkeys(seller_ids))
    async with pool.connection() as conn, conn.transaction():
        updated = await sellers_repo.set_flagged(conn, org_id=caller.org_id, seller_ids=unique_ids, flagged=flagged)
        names = [row.display_name for row in updated]
        if updated:
            await audit_repo.insert_audit(
                conn, org_id=caller.org_id, action="flag", seller_name=_summary(names),
                new_value={"flagged": flagged, "sellers": _sample(names), "count": len(names)},
                affected_count=len(updated),
                user_id=caller.user_id,
            )  # fmt: skip
    hit = {row.id for row in updated}
    return Flagged(updated=len(updated), not_found=[i for i in unique_ids if i not in hit])


# --- history -------------------------------------------------------------------------------------


async def audit_log(
    pool: Pool,
    *,
    caller: Caller,
    limit: int,
    actions: list[str] | None,
    source: str | None,
    date_from: datetime | None,
    date_to: datetime | None,
    cursor: str | None,
) -> tuple[list[AuditRow], str | None]:
    after = keyset_after(cursor, as_datetime=True) if cursor else None
    async with pool.connection() as conn:
        rows = await audit_repo.list_audit(
            conn, org_id=caller.org_id, limit=limit + 1, actions=actions, source=source,
            date_from=date_from, date_to=date_to, after=after,
        )  # fmt: skip
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = keyset_cursor(rows[-1].created_at, rows[-1].id)
    return rows, next_cursor


async def timeline(pool: Pool, *, caller: Caller, limit: int, offset: int) -> list[TimelineRow]:
    async with pool.connection() as conn:
        return await audit_repo.timeline(conn, org_id=caller.org_id, limit=limit, offset=offset)


def _diff(journal: list[JournalRow]) -> tuple[list[str], list[str]]:
    added: list[str] = []
    removed: list[str] = []
    for row in journal:
        if row.op == "add":
            added.append(row.display_name)
        elif row.op == "remove":
            removed.append(row.display_name)
        else:
            assert row.old_display_name is not None
            removed.append(row.old_display_name)
            added.append(row.display_name)
    return added, removed


async def _entry(conn: Conn, *, caller: Caller, entry_id: UUID) -> tuple[EntryKind, AuditRow | RunRow, dict[str, Any]]:
    """(kind, entry row, journal filter) of a history entry; 404 when the org has no such entry."""
    entry = await audit_repo.get_audit(conn, org_id=caller.org_id, entry_id=entry_id)
    if entry is not None:
        return "audit", entry, {"xact_id": entry.xact_id}
    run = await runs_repo.get_run(conn, org_id=caller.org_id, run_id=entry_id)
    if run is None or run.journal_seq is None:
        raise NotFound("History entry not found")
    return "run", run, {"run_id": entry_id, "up_to": run.journal_seq}


async def sellers_at_entry(
    pool: Pool, *, caller: Caller, entry_id: UUID, limit: int, cursor: str | None
) -> SellersAtEntry:
    """A page of the exact seller list right after a history entry, with what that entry added and removed."""
    after = keyset_after(cursor, as_datetime=False) if cursor else None
    async with pool.connection() as conn:
        kind, entry, journal = await _entry(conn, caller=caller, entry_id=entry_id)
        seq = entry.journal_seq or 0
        rows = await audit_repo.sellers_at(conn, org_id=caller.org_id, journal_seq=seq, limit=limit + 1, after=after)
        count = await audit_repo.count_sellers_at(conn, org_id=caller.org_id, journal_seq=seq)
        added_count, removed_count = await audit_repo.journal_counts(conn, org_id=caller.org_id, **journal)
        first = await audit_repo.journal_page(conn, org_id=caller.org_id, limit=CHANGES_SAMPLE, **journal)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = keyset_cursor(rows[-1].display_name, rows[-1].seller_id)
    added, removed = _diff(first)
    return SellersAtEntry(
        entry_id=entry_id,
        kind=kind,
        seller_count_snapshot=entry.seller_count_snapshot,
        count=count,
        sellers=[r.display_name for r in rows],
        next_cursor=next_cursor,
        added_count=added_count,
        removed_count=removed_count,
        added=added[:CHANGES_SAMPLE],
        removed=removed[:CHANGES_SAMPLE],
    )


async def changes_of_entry(
    pool: Pool, *, caller: Caller, entry_id: UUID, limit: int, cursor: str | None
) -> tuple[list[JournalRow], str | None]:
    """Every seller-list change a history entry made, in order, a page at a time."""
    after = position_after(cursor) if cursor else None
    async with pool.connection() as conn:
        _, _, journal = await _entry(conn, caller=caller, entry_id=entry_id)
        rows = await audit_repo.journal_page(conn, org_id=caller.org_id, limit=limit + 1, after=after, **journal)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = position_cursor(rows[-1].id)
    return rows, next_cursor
