"""Collection runs: lookup scoped to the caller's org (the lifecycle and pipeline build on this)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from app.auth import Caller
from app.db import Pool
from app.errors import NotFound
from app.repositories import runs as runs_repo


async def get_run(pool: Pool, *, caller: Caller, run_id: UUID) -> dict[str, Any]:
    """The run, if it belongs to the caller's org; otherwise 404 (the same answer for both cases)."""
    async with pool.connection() as conn:
        run = await runs_repo.get_run(conn, org_id=caller.org_id, run_id=run_id)
    if run is None:
        raise NotFound("Run not found")
    return run
