"""Seller export: CSV, JSON or plain text, snapshotted with `COPY ... TO STDOUT` into a bounded spool.

The snapshot is taken in one REPEATABLE READ transaction (count and rows agree) and written to a
spool: in memory up to a limit, on disk beyond it. The response reads the spool behind the
snapshot, so a fast client gets its first bytes at once, and the pooled connection goes back to
the pool as soon as COPY is done, however slowly (or never) the client reads: a stalled client
holds a spool and nothing else. The audit row is written only once the whole body was sent.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from uuid import UUID

from app.db.pool import Pool
from app.errors import NotFound, found
from app.repositories import audit as audit_repo
from app.repositories import exports as exports_repo
from app.repositories import runs as runs_repo
from app.repositories import sellers as sellers_repo
from app.security import Caller
from app.services.exports.spool import Spool
from app.text import plural

ExportFormat = Literal["csv", "json", "text"]

_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json", "text": "text/plain; charset=utf-8"}
_EXTENSIONS = {"csv": "csv", "json": "json", "text": "txt"}
# COPY hands over one row at a time; rows go to the spool in pieces of about this size.
_BATCH = 64 * 1024

# COPY's text format escapes these; JSON documents and names are restored to what the row held.
_COPY_ESCAPE = re.compile(rb"\\(.)")
_COPY_UNESCAPE = {b"\\": b"\\", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"v": b"\v"}


def _unescape_copy_text(row: bytes) -> bytes:
    if b"\\" not in row:
        return row
    return _COPY_ESCAPE.sub(lambda m: _COPY_UNESCAPE.get(m.group(1), m.group(1)), row)


@dataclass
class Export:
    filename: str
    media_type: str
    fmt: ExportFormat
    scope: str
    count: int
    spool: Spool = field(repr=False)
    writer: asyncio.Task[None] = field(repr=False)
    noun: str = "seller"  # what each row is, for the audit log

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, as the snapshot fills the spool; the spool is dropped when done or abandoned."""
        try:
            async for chunk in self.spool.read():
                yield chunk
        finally:
            if not self.writer.done():
                # The client left before the snapshot was even complete: stop reading the database.
                self.writer.cancel()
            self.spool.close()


def _scope(run_id: UUID | None, flagged: bool | None) -> str:
    parts = [f"run-{run_id.hex[:8]}"] if run_id else []
    if flagged is not None:
        parts.append("flagged" if flagged else "unflagged")
    return "_".join(parts) or "all"


@dataclass(frozen=True)
class _Selection:
    """Which sellers an export holds: one org's, optionally one run's, optionally only (un)flagged ones."""

    org_id: UUID
    run_id: UUID | None
    flagged: bool | None
    fmt: ExportFormat

    @property
    def where(self) -> dict[str, Any]:
        return {"org_id": self.org_id, "run_id": self.run_id, "flagged": self.flagged}

    async def count(self, snap: exports_repo.Snapshot) -> int:
        return await snap.count(**self.where)

    def head(self, *, count: int, exported_at: datetime, scope: str) -> bytes:
        if self.fmt == "csv":
            return b"\xef\xbb\xbf" + exports_repo.CSV_HEADER  # the BOM makes Excel read UTF-8
        if self.fmt == "json":
            meta = {"exported_at": exported_at.isoformat(), "scope": scope, "run_id": self.run_id and str(self.run_id)}
            return (json.dumps(meta)[:-1] + f', "count": {count}, "sellers": [').encode()
        return b""

    async def fill(self, snap: exports_repo.Snapshot, spool: Spool) -> None:
        if self.fmt == "csv":
            await _copy_into(spool, snap.copy_csv(**self.where))
        elif self.fmt == "json":
            await _copy_into(spool, snap.copy_json_rows(**self.where), row=_json_row, closing=b"]}")
        else:
            await _copy_into(spool, snap.copy_names(**self.where), row=_unescape_copy_text)


@dataclass(frozen=True)
class _EvidenceSelection:
    """The evidence listings of one org's sellers, or of one seller, as CSV."""

    org_id: UUID
    seller_id: UUID | None

    async def count(self, snap: exports_repo.Snapshot) -> int:
        return await snap.count_evidence(org_id=self.org_id, seller_id=self.seller_id)

    def head(self, *, count: int, exported_at: datetime, scope: str) -> bytes:
        return b"\xef\xbb\xbf" + exports_repo.EVIDENCE_CSV_HEADER

    async def fill(self, snap: exports_repo.Snapshot, spool: Spool) -> None:
        await _copy_into(spool, snap.copy_evidence_csv(org_id=self.org_id, seller_id=self.seller_id))


def _json_row(row: bytes) -> bytes:
    return _unescape_copy_text(row).rstrip(b"\n")


async def _copy_into(
    spool: Spool, rows: AsyncIterator[bytes], *, row: Callable[[bytes], bytes] | None = None, closing: bytes = b""
) -> None:
    """COPY's output into the spool in pieces of about _BATCH bytes (JSON rows: joined by commas, then closed)."""
    batch = bytearray()
    separator = b""
    async for data in rows:
        if row is None:
            batch += data
        else:
            batch += separator + row(data)
            separator = b"," if closing else b""
        if len(batch) >= _BATCH:
            spool.write(bytes(batch))
            batch.clear()
    spool.write(bytes(batch + closing))


class _Source(Protocol):
    async def count(self, snap: exports_repo.Snapshot) -> int: ...
    def head(self, *, count: int, exported_at: datetime, scope: str) -> bytes: ...
    async def fill(self, snap: exports_repo.Snapshot, spool: Spool) -> None: ...


@dataclass
class _Snapshot:
    """The background task that counts the selection, then copies it into the spool."""

    pool: Pool
    source: _Source
    scope: str
    exported_at: datetime
    spool: Spool
    turn: AbstractAsyncContextManager[None] | None
    counted: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    async def run(self) -> None:
        try:
            async with self.turn or nullcontext(), self.pool.connection() as conn, exports_repo.snapshot(conn) as snap:
                count = await self.source.count(snap)
                self.counted.set_result(count)
                self.spool.write(self.source.head(count=count, exported_at=self.exported_at, scope=self.scope))
                await self.source.fill(snap, self.spool)
        except BaseException as exc:
            if not self.counted.done():
                self.counted.set_exception(exc)
            self.spool.finish(exc)
            raise
        self.spool.finish()


@dataclass(frozen=True)
class _Naming:
    name: str  # the file name's start
    scope: str
    fmt: ExportFormat
    noun: str  # what a row is


async def _start(
    pool: Pool,
    source: _Source,
    naming: _Naming,
    spool_memory_bytes: int,
    turn: AbstractAsyncContextManager[None] | None,
) -> Export:
    """Count the rows, then snapshot them into a spool in the background; the caller streams `Export.chunks()`.

    The count and the rows come from one REPEATABLE READ transaction. The pooled connection is
    held only while COPY runs, which goes at the database's pace whatever the client's; `turn`
    (if given) is held for as long, to cap how many snapshots run at once.
    """
    snapshot = _Snapshot(pool, source, naming.scope, datetime.now(UTC), Spool(spool_memory_bytes), turn)
    writer = asyncio.create_task(snapshot.run(), name="export snapshot")
    # Its failure reaches the client through the spool; retrieving it here keeps asyncio from logging it again.
    writer.add_done_callback(lambda task: task.cancelled() or task.exception())
    try:
        count = await snapshot.counted
    except BaseException:
        writer.cancel()
        snapshot.spool.close()
        raise
    return Export(
        filename=f"{naming.name}_{snapshot.exported_at:%Y-%m-%d}_{naming.scope}.{_EXTENSIONS[naming.fmt]}",
        media_type=_MEDIA_TYPES[naming.fmt],
        fmt=naming.fmt,
        scope=naming.scope,
        count=count,
        spool=snapshot.spool,
        writer=writer,
        noun=naming.noun,
    )


async def export_sellers(
    pool: Pool,
    *,
    caller: Caller,
    fmt: ExportFormat,
    run_id: UUID | None,
    flagged: bool | None,
    spool_memory_bytes: int,
    turn: AbstractAsyncContextManager[None] | None = None,
) -> Export:
    """The seller list (or one run's finds, or the flagged ones) as CSV, JSON or text."""
    if run_id is not None:
        async with pool.connection() as conn:
            if await runs_repo.get_run(conn, org_id=caller.org_id, run_id=run_id) is None:
                raise NotFound("Run not found")  # also for another org's run
    selection = _Selection(org_id=caller.org_id, run_id=run_id, flagged=flagged, fmt=fmt)
    naming = _Naming("sellers", _scope(run_id, flagged), fmt, "seller")
    return await _start(pool, selection, naming, spool_memory_bytes, turn)


async def export_evidence(
    pool: Pool,
    *,
    caller: Caller,
    seller_id: UUID | None,
    spool_memory_bytes: int,
    turn: AbstractAsyncContextManager[None] | None = None,
) -> Export:
    """The evidence listings of one seller (404 unless the org's) or of all its sellers, as CSV."""
    if seller_id is not None:
        async with pool.connection() as conn:
            found(await sellers_repo.get_seller(conn, org_id=caller.org_id, seller_id=seller_id), "Seller not found")
    naming = _Naming("evidence", f"seller-{seller_id.hex[:8]}" if seller_id else "all", "csv", "listing")
    return await _start(pool, _EvidenceSelection(caller.org_id, seller_id), naming, spool_memory_bytes, turn)


async def record_export(pool: Pool, *, caller: Caller, export: Export) -> None:
    """The audit row of an export whose whole body was sent."""
    async with pool.connection() as conn:
        await audit_repo.insert_audit(
            conn, org_id=caller.org_id, action="export",
            seller_name=f"Exported {plural(export.count, export.noun)} as {export.fmt}",
            new_value={"format": export.fmt, "scope": export.scope, "count": export.count, "rows": export.noun},
            affected_count=export.count, user_id=caller.user_id,
        )  # fmt: skip
