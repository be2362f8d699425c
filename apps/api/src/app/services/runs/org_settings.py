"""Per-org collection settings: the org's choices over the server's defaults, validated.

A run copies the effective values when it is created (`RunSettings`), and the executor runs it
with exactly those, so changing a setting never alters a run that already exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Any, Literal, cast
from uuid import UUID

from app.config import Settings
from app.db.pool import Conn, Pool
from app.errors import InvalidInput
from app.repositories import org_settings as repo
from app.repositories.runs import RunSettings

logger = logging.getLogger(__name__)

ProviderChoice = Literal["auto", "demo", "oxylabs"]
_THOUSANDTH = Decimal("0.001")


@dataclass(frozen=True)
class EffectiveSettings:
    max_open_runs: int
    provider: ProviderChoice
    ebay_pages_per_product: int
    price_min_multiplier: float
    price_max_multiplier: float
    workers: int


def apply(recorded: RunSettings, settings: Settings) -> Settings:
    """The server's settings with a run's recorded values in place (what its pipeline reads)."""
    return settings.model_copy(
        update={
            "ebay_pages_per_product": recorded.ebay_pages_per_product,
            "price_min_multiplier": recorded.price_min_multiplier,
            "price_max_multiplier": recorded.price_max_multiplier,
            "workers": recorded.workers,
        }
    )


def _float(value: Decimal | None, default: float) -> float:
    return float(value) if value is not None else default


def values_of(row: repo.OrgSettingsRow | None) -> repo.OrgSettingsValues:
    if row is None:
        return repo.OrgSettingsValues()
    return repo.OrgSettingsValues(**{f.name: getattr(row, f.name) for f in fields(repo.OrgSettingsValues)})


def effective(own: repo.OrgSettingsValues, settings: Settings) -> EffectiveSettings:
    return EffectiveSettings(
        max_open_runs=own.max_open_runs or settings.max_open_runs_per_org,
        provider=cast(ProviderChoice, own.provider or settings.provider),
        ebay_pages_per_product=own.ebay_pages_per_product or settings.ebay_pages_per_product,
        price_min_multiplier=_float(own.price_min_multiplier, settings.price_min_multiplier),
        price_max_multiplier=_float(own.price_max_multiplier, settings.price_max_multiplier),
        workers=own.workers or settings.workers,
    )


def run_settings(values: EffectiveSettings, settings: Settings, *, provider: str | None = None) -> RunSettings:
    """`provider` (the command line's choice) wins over the org's; the server decides the eBay phase's."""
    chosen = settings.model_copy(update={"provider": provider or values.provider})
    return RunSettings(
        provider=chosen.run_provider,
        ebay_pages_per_product=values.ebay_pages_per_product,
        price_min_multiplier=values.price_min_multiplier,
        price_max_multiplier=values.price_max_multiplier,
        workers=values.workers,
    )


async def load(conn: Conn, settings: Settings, *, org_id: UUID) -> EffectiveSettings:
    return effective(values_of(await repo.get(conn, org_id=org_id)), settings)


async def get_settings(pool: Pool, settings: Settings, *, org_id: UUID) -> EffectiveSettings:
    async with pool.connection() as conn:
        return await load(conn, settings, org_id=org_id)


async def update_settings(
    pool: Pool, settings: Settings, *, org_id: UUID, user_id: UUID, changes: dict[str, Any]
) -> EffectiveSettings:
    """Apply `changes` (a field set to None goes back to the server's default); 422 naming each problem."""
    async with pool.connection() as conn, conn.transaction():
        current = values_of(await repo.get(conn, org_id=org_id, for_update=True))
        updates: dict[str, Any] = {
            # Stored with three decimals; rounded here so the answer and the checks see what is stored.
            k: (Decimal(str(v)).quantize(_THOUSANDTH) if k.startswith("price_") and v is not None else v)
            for k, v in changes.items()
        }
        values = replace(current, **updates)
        result = effective(values, settings)
        problems = []
        if result.price_min_multiplier >= result.price_max_multiplier:
            problems.append(
                f"price_min_multiplier ({result.price_min_multiplier}) must be below "
                f"price_max_multiplier ({result.price_max_multiplier})"
            )
        if result.provider == "oxylabs" and not settings.oxylabs_configured:
            problems.append("provider 'oxylabs' needs OXYLABS_USERNAME and OXYLABS_PASSWORD on the server")
        if problems:
            raise InvalidInput("; ".join(problems))
        await repo.upsert(conn, org_id=org_id, values=values, updated_by=user_id)
    logger.info("org %s collection settings changed: %s", org_id, sorted(changes))
    return result
