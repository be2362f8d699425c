"""SQL for collection items: the durable work items (categories and products) of a run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from psycopg.types.json import Jsonb

from app.db.pool import Conn, fetch_all, fetch_scalar
from app.status import ItemKind, ItemStatus

# Finished items are never handed out again; failed ones are retried when a run resumes.
_UNFINISHED = "status IN ('pending', 'processing', 'failed')"


@dataclass(frozen=True, slots=True)
class CategoryPayload:
    """A category item: which Amazon best-seller list to fetch."""

    id: str
    node_id: str
    name: str
    display_name: str


@dataclass(frozen=True, slots=True)
class ProductPayload:
    """A product item: an Amazon best seller to search eBay for (price in dollars, as text)."""

    asin: str
    title: str | None
    price: str | None
    currency: str | None
    rating: float | None
    url: str | None
    position: int | None
    category_id: str | None
    category: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProductPayload:
        return cls(
            asin=data["asin"],
            title=data.get("title"),
            price=data.get("price"),
            currency=data.get("currency"),
            rating=data.get("rating"),
            url=data.get("url"),
            position=data.get("position"),
            category_id=data.get("category_id"),
            category=data.get("category"),
        )


P = TypeVar("P", CategoryPayload, ProductPayload)


@dataclass(frozen=True, slots=True)
class WorkItem(Generic[P]):
    id: int
    attempts: int
    payload: P


async def insert_category_items(conn: Conn, *, run_id: UUID, categories: list[CategoryPayload]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            """
            INSERT INTO collection_items (run_id, kind, external_id, payload)
            VALUES (%(run_id)s, 'category', %(id)s, %(payload)s)
            ON CONFLICT (run_id, kind, external_id) DO NOTHING
            """,
            [{"run_id": run_id, "id": c.id, "payload": Jsonb(asdict(c))} for c in categories],
        )


async def insert_product_items(
    conn: Conn, *, run_id: UUID, products: list[ProductPayload], remembered: str | None = None
) -> int:
    """Insert products not yet in the run (an ASIN already found in another category is skipped).

    With `remembered` (the reason), they go in finished: skipped, marked remembered, never searched.
    Rows go in ASIN order so two workers storing overlapping categories lock keys in the same
    order and cannot deadlock.
    """
    if not products:
        return 0
    cur = await conn.execute(
        """
        INSERT INTO collection_items (run_id, kind, external_id, payload, status, result, completed_at)
        SELECT %(run_id)s, 'product', p ->> 'asin', p, %(status)s, %(result)s,
               CASE WHEN %(status)s = 'skipped' THEN now() END
        FROM jsonb_array_elements(%(products)s) AS p
        ORDER BY p ->> 'asin'
        ON CONFLICT (run_id, kind, external_id) DO NOTHING
        RETURNING 1
        """,
        {
            "run_id": run_id,
            "products": Jsonb([asdict(p) for p in products]),
            "status": ItemStatus.PENDING if remembered is None else ItemStatus.SKIPPED,
            "result": None if remembered is None else Jsonb({"reason": remembered, "remembered": True}),
        },
    )
    # Counting returned rows (not rowcount) also works in pipeline mode.
    return len(await cur.fetchall())


async def _unfinished(
    conn: Conn, run_id: UUID, kind: ItemKind, parse: Callable[[dict[str, Any]], P]
) -> list[WorkItem[P]]:
    cur = await conn.execute(
        f"""
        SELECT id, attempts, payload FROM collection_items
        WHERE run_id = %(run_id)s AND kind = %(kind)s AND {_UNFINISHED}
        ORDER BY id
        """,
        {"run_id": run_id, "kind": kind},
    )
    return [WorkItem(row["id"], row["attempts"], parse(row["payload"])) for row in await cur.fetchall()]


async def unfinished_categories(conn: Conn, *, run_id: UUID) -> list[WorkItem[CategoryPayload]]:
    return await _unfinished(conn, run_id, ItemKind.CATEGORY, lambda payload: CategoryPayload(**payload))


async def unfinished_products(conn: Conn, *, run_id: UUID) -> list[WorkItem[ProductPayload]]:
    return await _unfinished(conn, run_id, ItemKind.PRODUCT, ProductPayload.from_json)


async def mark_processing(conn: Conn, *, item_id: int, worker_id: int) -> None:
    await conn.execute(
        """
        UPDATE collection_items
        SET status = 'processing', attempts = attempts + 1, worker_id = %(worker_id)s,
            started_at = now(), updated_at = now()
        WHERE id = %(id)s
        """,
        {"id": item_id, "worker_id": worker_id},
    )


async def mark_finished(
    conn: Conn, *, item_id: int, status: ItemStatus, result: dict[str, Any] | None = None, error: str | None = None
) -> bool:
    """Record an item's outcome; False if it was already finished (so counters must not move)."""
    cur = await conn.execute(
        f"""
        UPDATE collection_items
        SET status = %(status)s, result = %(result)s, last_error = %(error)s,
            completed_at = now(), updated_at = now()
        WHERE id = %(id)s AND {_UNFINISHED}
        RETURNING id
        """,
        {"id": item_id, "status": status, "result": Jsonb(result) if result is not None else None, "error": error},
    )
    # Fetching (not rowcount) also works in pipeline mode, where it is the sync point.
    return await cur.fetchone() is not None


async def release_in_flight(conn: Conn, *, run_id: UUID, refund_attempts: bool = False) -> None:
    """Items a stopped executor was working on go back to the queue (with their attempt given back, if asked)."""
    await conn.execute(
        "UPDATE collection_items SET status = 'pending', updated_at = now(), "
        "attempts = CASE WHEN %(refund)s THEN greatest(attempts - 1, 0) ELSE attempts END "
        "WHERE run_id = %(run_id)s AND status = 'processing'",
        {"run_id": run_id, "refund": refund_attempts},
    )


async def count_by_status(conn: Conn, *, run_id: UUID) -> dict[tuple[ItemKind, ItemStatus], int]:
    cur = await conn.execute(
        "SELECT kind, status, count(*) AS n FROM collection_items WHERE run_id = %(run_id)s GROUP BY kind, status",
        {"run_id": run_id},
    )
    return {(ItemKind(row["kind"]), ItemStatus(row["status"])): row["n"] for row in await cur.fetchall()}


@dataclass(frozen=True, slots=True)
class SkipCount:
    """Products of a run counted as searched without a search, for one reason."""

    reason: str
    count: int


async def skipped_products(conn: Conn, *, run_id: UUID) -> list[SkipCount]:
    """The run's skipped products by reason, the most frequent first (remembered ones are counted apart)."""
    return await fetch_all(
        conn,
        SkipCount,
        """
        SELECT coalesce(result ->> 'reason', 'no reason given') AS reason, count(*)::int AS count
        FROM collection_items WHERE run_id = %(run_id)s AND kind = 'product' AND status = 'skipped'
          AND NOT coalesce(result ? 'remembered', false)
        GROUP BY 1 ORDER BY 2 DESC, 1
        """,
        {"run_id": run_id},
    )


async def products_finished_since(conn: Conn, *, run_id: UUID, since: datetime) -> int:
    """Products of the run searched, skipped or failed at or after `since` (for its recent rate)."""
    n: int = await fetch_scalar(
        conn,
        """
        SELECT count(*) FROM collection_items
        WHERE run_id = %(run_id)s AND kind = 'product' AND status IN ('completed', 'skipped', 'failed')
          AND completed_at >= %(since)s AND NOT coalesce(result ? 'remembered', false)
        """,
        {"run_id": run_id, "since": since},
    )
    return n
