"""What a Prometheus scrape of `GET /metrics` gets."""

from __future__ import annotations

from app import metrics
from app.db.pool import Pool
from app.repositories import runs as runs_repo
from app.status import RunStatus


def observe_pool(pool: Pool) -> None:
    """Publish this process's pool usage (called at every scrape and periodically by the lifespan)."""
    stats = pool.get_stats()
    size = stats.get("pool_size", 0)
    metrics.DB_POOL_SIZE.set(size)
    metrics.DB_POOL_IN_USE.set(size - stats.get("pool_available", 0))


async def scrape(pool: Pool) -> bytes:
    observe_pool(pool)
    async with pool.connection() as conn:
        counts = await runs_repo.count_by_status(conn)
    by_status = {status.value: 0 for status in RunStatus} | {c.status.value: c.count for c in counts}
    return metrics.render(by_status)
