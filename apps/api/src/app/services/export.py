"""Seller export: CSV, JSON or plain text, snapshotted with `COPY ... TO STDOUT` into a bounded spool.

The snapshot is taken in one REPEATABLE READ transaction (count and rows agree) and written to a
SpooledTemporaryFile: in memory up to a limit, on disk beyond it. The pooled connection goes back
to the pool before the first byte is sent, so however slowly (or never) a client reads, it holds
a temporary file and nothing else. The audit row is written only once the whole body was sent.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Literal
from uuid import UUID

from app.db import Pool
from app.errors import NotFound
from app.repositories import audit as audit_repo
from app.repositories import exports as exports_repo
from app.repositories import runs as runs_repo
from app.security import Caller

ExportFormat = Literal["csv", "json", "text"]

_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json", "text": "text/plain; charset=utf-8"}
_EXTENSIONS = {"csv": "csv", "json": "json", "text": "txt"}
_READ_CHUNK = 64 * 1024

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
    spool: IO[bytes] = field(repr=False)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The spooled body, from the start, in chunks; closes the spool when done or abandoned."""
        try:
            self.spool.seek(0)
            while chunk := self.spool.read(_READ_CHUNK):
                yield chunk
        finally:
            self.spool.close()


def _scope(run_id: UUID | None, flagged: bool | None) -> str:
    parts = [f"run-{run_id.hex[:8]}"] if run_id else []
    if flagged is not None:
        parts.append("flagged" if flagged else "unflagged")
    return "_".join(parts) or "all"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


async def export_sellers(
    pool: Pool,
    *,
    caller: Caller,
    fmt: ExportFormat,
    run_id: UUID | None,
    flagged: bool | None,
    spool_memory_bytes: int,
) -> Export:
    """Snapshot the rows into a spool and give the connection back; the caller streams `Export.chunks()`."""
    if run_id is not None:
        async with pool.connection() as conn:
            if await runs_repo.get_run(conn, org_id=caller.org_id, run_id=run_id) is None:
                raise NotFound("Run not found")  # also for another org's run
    scope = _scope(run_id, flagged)
    exported_at = datetime.now(UTC)
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=spool_memory_bytes, prefix="sc_export_")  # noqa: SIM115
    try:
        async with pool.connection() as conn, exports_repo.snapshot(conn) as snap:
            count = await snap.count(org_id=caller.org_id, run_id=run_id, flagged=flagged)
            if fmt == "csv":
                # The BOM makes Excel read the file as UTF-8.
                spool.write(b"\xef\xbb\xbf" + exports_repo.CSV_HEADER)
                async for data in snap.copy_csv(org_id=caller.org_id, run_id=run_id, flagged=flagged):
                    spool.write(data)
            elif fmt == "json":
                head = {"exported_at": exported_at.isoformat(), "scope": scope, "run_id": run_id and str(run_id)}
                spool.write((json.dumps(head)[:-1] + f', "count": {count}, "sellers": [').encode())
                separator = b""
                async for row in snap.copy_json_rows(org_id=caller.org_id, run_id=run_id, flagged=flagged):
                    spool.write(separator + _unescape_copy_text(row).rstrip(b"\n"))
                    separator = b","
                spool.write(b"]}")
            else:
                async for row in snap.copy_names(org_id=caller.org_id, run_id=run_id, flagged=flagged):
                    spool.write(_unescape_copy_text(row))
    except BaseException:
        spool.close()
        raise
    return Export(
        filename=f"sellers_{exported_at:%Y-%m-%d}_{scope}.{_EXTENSIONS[fmt]}",
        media_type=_MEDIA_TYPES[fmt],
        fmt=fmt,
        scope=scope,
        count=count,
        spool=spool,
    )


async def record_export(pool: Pool, *, caller: Caller, export: Export) -> None:
    """The audit row of an export whose whole body was sent."""
    async with pool.connection() as conn:
        await audit_repo.insert_audit(
            conn, org_id=caller.org_id, action="export",
            seller_name=f"Exported {_plural(export.count, 'seller')} as {export.fmt}",
            new_value={"format": export.fmt, "scope": export.scope, "count": export.count},
            affected_count=export.count, user_id=caller.user_id,
        )  # fmt: skip
