"""Queries built from values: a WHERE clause of optional filters, one org's row by id, an INSERT of one row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from app.db.pool import Conn, columns, fetch_one

T = TypeVar("T")


class Where:
    """Conditions joined by AND; `str(where)` is the clause, `where.params` its parameters."""

    def __init__(self, condition: str, **params: Any) -> None:
        self.conditions = [condition]
        self.params: dict[str, Any] = params

    def add(self, condition: str, **params: Any) -> None:
        self.conditions.append(condition)
        self.params |= params

    def add_if(self, applies: bool, condition: str, **params: Any) -> None:
        """Add `condition` (with the parameters it names) when its filter was given."""
        if applies:
            self.add(condition, **params)

    def __str__(self) -> str:
        return " AND ".join(self.conditions)


async def fetch_org_row(
    conn: Conn,
    row_type: type[T],
    table: str,
    *,
    org_id: UUID,
    row_id: UUID,
    select: str | None = None,
    for_update: bool = False,
) -> T | None:
    """One of the org's rows by id: None for an unknown id and for another org's row alike."""
    lock = " FOR UPDATE" if for_update else ""
    return await fetch_one(
        conn,
        row_type,
        f"SELECT {select or columns(row_type)} FROM {table} WHERE id = %(id)s AND org_id = %(org_id)s{lock}",
        {"id": row_id, "org_id": org_id},
    )


async def insert_one(conn: Conn, row_type: type[T], table: str, values: Mapping[str, Any]) -> T:
    """Insert one row (`values`: column -> value) into `table` and return it as a `row_type`."""
    names = ", ".join(values)
    placeholders = ", ".join(f"%({name})s" for name in values)
    row = await fetch_one(
        conn,
        row_type,
        f"INSERT INTO {table} ({names}) VALUES ({placeholders}) RETURNING {columns(row_type)}",
        values,
    )
    assert row is not None
    return row
