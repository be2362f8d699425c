"""Category presets: list, create, rename / re-select, delete. Built-ins are read-only (409)."""

from __future__ import annotations

import logging
from uuid import UUID

from psycopg import errors as pg_errors

from app.db.pool import Conn, Pool
from app.errors import Conflict, InvalidInput, NotFound
from app.models import Refresh
from app.repositories import presets as repo
from app.repositories.presets import PresetRow
from app.services.catalogue import resolve_categories

logger = logging.getLogger(__name__)


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput("name must not be blank")
    return cleaned


def _category_ids(category_ids: list[str]) -> list[str]:
    if not category_ids:
        raise InvalidInput("category_ids must name at least one category")
    return [c.id for c in resolve_categories(category_ids)]


def _duplicate(name: str) -> Conflict:
    return Conflict(f"A preset named {name!r} already exists")


async def _own_preset(conn: Conn, *, org_id: UUID, preset_id: UUID, refusal: str) -> PresetRow:
    """The org's own preset, locked for a change; 404 when unknown, 409 (`refusal`) for a built-in."""
    preset = await repo.get_preset(conn, org_id=org_id, preset_id=preset_id, for_update=True)
    if preset is None:
        raise NotFound("Preset not found")
    if preset.is_builtin:
        raise Conflict(f"{preset.name!r} is a built-in preset and {refusal}")
    return preset


async def list_presets(pool: Pool, *, org_id: UUID) -> list[PresetRow]:
    async with pool.connection() as conn:
        return await repo.list_presets(conn, org_id=org_id)


async def get_preset(pool: Pool, *, org_id: UUID, preset_id: UUID) -> PresetRow:
    async with pool.connection() as conn:
        preset = await repo.get_preset(conn, org_id=org_id, preset_id=preset_id)
    if preset is None:
        raise NotFound("Preset not found")
    return preset


async def find_preset(pool: Pool, *, org_id: UUID, name: str) -> PresetRow:
    """The org's or a built-in preset by name (case-insensitive); 404 naming it."""
    async with pool.connection() as conn:
        preset = await repo.find_by_name(conn, org_id=org_id, name=" ".join(name.split()))
    if preset is None:
        raise NotFound(f"No preset named {name!r}")
    return preset


async def create_preset(
    pool: Pool, *, org_id: UUID, user_id: UUID, name: str, category_ids: list[str], refresh: Refresh = "new"
) -> PresetRow:
    name = _clean_name(name)
    ids = _category_ids(category_ids)
    async with pool.connection() as conn, conn.transaction():
        if await repo.name_taken(conn, org_id=org_id, name=name):
            raise _duplicate(name)
        try:
            preset = await repo.insert_preset(
                conn, org_id=org_id, name=name, category_ids=ids, created_by=user_id, refresh=refresh
            )
        except pg_errors.UniqueViolation:
            raise _duplicate(name) from None  # a concurrent create won the name
    logger.info("preset %s created in org %s", preset.id, org_id)
    return preset


async def update_preset(
    pool: Pool,
    *,
    org_id: UUID,
    preset_id: UUID,
    name: str | None,
    category_ids: list[str] | None,
    refresh: Refresh | None = None,
) -> PresetRow:
    new_name = _clean_name(name) if name is not None else None
    ids = _category_ids(category_ids) if category_ids is not None else None
    async with pool.connection() as conn, conn.transaction():
        refusal = "cannot be changed; save a copy instead"
        preset = await _own_preset(conn, org_id=org_id, preset_id=preset_id, refusal=refusal)
        new_name = new_name or preset.name
        if await repo.name_taken(conn, org_id=org_id, name=new_name, except_id=preset_id):
            raise _duplicate(new_name)
        try:
            return await repo.update_preset(
                conn, org_id=org_id, preset_id=preset_id, name=new_name, category_ids=ids or preset.category_ids,
                refresh=refresh or preset.refresh,
            )  # fmt: skip
        except pg_errors.UniqueViolation:
            raise _duplicate(new_name) from None


async def delete_preset(pool: Pool, *, org_id: UUID, preset_id: UUID) -> None:
    async with pool.connection() as conn, conn.transaction():
        preset = await _own_preset(conn, org_id=org_id, preset_id=preset_id, refusal="cannot be deleted")
        users = await repo.schedules_using(conn, org_id=org_id, preset_id=preset_id)
        if users:
            raise Conflict(f"Preset {preset.name!r} is used by schedule(s) {', '.join(users)}; change those first")
        await repo.delete_preset(conn, org_id=org_id, preset_id=preset_id)
    logger.info("preset %s deleted from org %s", preset_id, org_id)
