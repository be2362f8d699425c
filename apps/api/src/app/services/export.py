"""Seller export: CSV, JSON or plain text, streamed from a server-side cursor in constant memory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from app.db import Pool
from app.repositories import audit as audit_repo
from app.security import Caller
from app.services import collection

ExportFormat = Literal["csv", "json", "text"]

# Spreadsheets run cells that start with these as formulas (CSV injection); a leading ' defuses them.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json", "text": "text/plain; charset=utf-8"}
_EXTENSIONS = {"csv": "csv", "json": "json", "text": "txt"}


def neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    return value


@dataclass(frozen=True)
class Export:
    filename: str
    media_type: str
    count: int
    body: AsyncIterator[bytes]


def _scope(run_id: UUID | None, flagged: bool | None) -> str:
    parts = [f"run-{run_id.hex[:8]}"] if run_id else []
    if flagged is not None:
        parts.append("flagged" if flagged else "unflagged")
    return "_".join(parts) or "all"


async def export_sellers(
    pool: Pool, *, caller: Caller, fmt: ExportFormat, run_id: UUID | None, flagged: bool | None
) -> Export:
    """Count, record the export in the audit log, and return the streaming body."""
    if run_id is not None:
        await collection.get_run(pool, caller=caller, run_id=run_id)  # 404 for another org's run
    scope = _scope(run_id, flagged)
    async with pool.connection() as conn, conn.transaction():
        count = await audit_repo.count_for_export(conn, org_id=caller.org_id, run_id=run_id, flagged=flagged)
        await audit_repo.insert_audit(
            conn, org_id=caller.org_id, action="export", seller_name=f"Exported {count} sellers as {fmt}",
            new_value={"format": fmt, "scope": scope, "count": count}, affected_count=count, user_id=caller.user_id,
        )  # fmt: skip
    exported_at = datetime.now(UTC)
    encoders: dict[str, Callable[[], AsyncIterator[bytes]]] = {
        "csv": lambda: _csv(pool, caller.org_id, run_id, flagged),
        "json": lambda: _json(pool, caller.org_id, run_id, flagged, exported_at, scope, count),
        "text": lambda: _text(pool, caller.org_id, run_id, flagged),
    }
    return Export(
        filename=f"sellers_{exported_at:%Y-%m-%d}_{scope}.{_EXTENSIONS[fmt]}",
        media_type=_MEDIA_TYPES[fmt],
        count=count,
        body=encoders[fmt](),
    )


async def _batches(
    pool: Pool, org_id: UUID, run_id: UUID | None, flagged: bool | None
) -> AsyncIterator[list[dict[str, Any]]]:
    async with pool.connection() as conn, conn.transaction():
        async for batch in audit_repo.stream_for_export(conn, org_id=org_id, run_id=run_id, flagged=flagged):
            yield batch


async def _csv(pool: Pool, org_id: UUID, run_id: UUID | None, flagged: bool | None) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(audit_repo.EXPORT_COLUMNS)
    # The BOM makes Excel read the file as UTF-8.
    yield ("\ufeff" + buffer.getvalue()).encode()
    async for batch in _batches(pool, org_id, run_id, flagged):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([neutralise(_plain(row[c])) for c in audit_repo.EXPORT_COLUMNS] for row in batch)
        yield buffer.getvalue().encode()


async def _json(
    pool: Pool,
    org_id: UUID,
    run_id: UUID | None,
    flagged: bool | None,
    exported_at: datetime,
    scope: str,
    count: int,
) -> AsyncIterator[bytes]:
    head = {"exported_at": exported_at.isoformat(), "scope": scope, "run_id": str(run_id) if run_id else None}
    yield (json.dumps(head)[:-1] + f', "count": {count}, "sellers": [').encode()
    first = True
    async for batch in _batches(pool, org_id, run_id, flagged):
        parts = [json.dumps({c: _plain(row[c]) for c in audit_repo.EXPORT_COLUMNS}) for row in batch]
        chunk = ",".join(parts)
        yield (chunk if first else "," + chunk).encode()
        first = False
    yield b"]}"


async def _text(pool: Pool, org_id: UUID, run_id: UUID | None, flagged: bool | None) -> AsyncIterator[bytes]:
    async for batch in _batches(pool, org_id, run_id, flagged):
        yield "".join(row["display_name"] + "\n" for row in batch).encode()
