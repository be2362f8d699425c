"""Per-org collection settings: the org's choices over the server's defaults, validated.

A run records the effective values when it is created (`RunSettingsOut`), and the executor runs it
with exactly those, so changing a setting never alters a run that already exists.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from uuid import UUID

from app.config import Settings
from app.db.pool import Conn, Pool
from app.errors import InvalidInput
from app.models import CollectionSettingsOut, CollectionSettingsUpdate, Provider, RunSettingsOut
from app.repositories import org_settings as repo

logger = logging.getLogger(__name__)

_THOUSANDTH = Decimal("0.001")
# The settings a run records are the server's settings of the same names.
_RUN_FIELDS = set(RunSettingsOut.model_fields)


def apply(recorded: RunSettingsOut, settings: Settings) -> Settings:
    """The server's settings with a run's recorded values in place (what its pipeline reads).

    The provider is not among them: the executor builds the run's marketplace from `run.provider`.
    """
    return settings.model_copy(update=recorded.model_dump(exclude={"provider"}))


def effective(own: CollectionSettingsUpdate, settings: Settings) -> CollectionSettingsOut:
    """The org's choices over the server's defaults."""
    defaults = CollectionSettingsOut(
        max_open_runs=settings.max_open_runs_per_org, **settings.model_dump(include=_RUN_FIELDS)
    )
    return defaults.model_copy(update=own.model_dump(exclude_none=True))


def run_settings(values: CollectionSettingsOut, settings: Settings, *, provider: str | None = None) -> RunSettingsOut:
    """`provider` (the command line's choice) wins over the org's; the server decides the eBay phase's."""
    chosen = settings.model_copy(update={"provider": provider or values.provider})
    return RunSettingsOut.model_validate({**values.model_dump(), "provider": chosen.run_provider})


async def load(conn: Conn, settings: Settings, *, org_id: UUID) -> CollectionSettingsOut:
    return effective(await repo.get(conn, org_id=org_id), settings)


async def get_settings(pool: Pool, settings: Settings, *, org_id: UUID) -> CollectionSettingsOut:
    async with pool.connection() as conn:
        return await load(conn, settings, org_id=org_id)


def _as_stored(field: str, value: object) -> object:
    # Prices are stored with three decimals; rounded here so the answer and the checks see what is stored.
    if field.startswith("price_") and value is not None:
        return float(Decimal(str(value)).quantize(_THOUSANDTH))
    return value


async def update_settings(
    pool: Pool, settings: Settings, *, org_id: UUID, user_id: UUID, changes: CollectionSettingsUpdate
) -> CollectionSettingsOut:
    """Apply the fields set in `changes` (None: back to the server's default); 422 naming each problem."""
    changed = changes.model_dump(exclude_unset=True)
    async with pool.connection() as conn, conn.transaction():
        current = await repo.get(conn, org_id=org_id, for_update=True)
        own = current.model_copy(update={field: _as_stored(field, value) for field, value in changed.items()})
        result = effective(own, settings)
        problems = []
        if result.price_min_multiplier >= result.price_max_multiplier:
            problems.append(
                f"price_min_multiplier ({result.price_min_multiplier}) must be below "
                f"price_max_multiplier ({result.price_max_multiplier})"
            )
        if result.provider == Provider.OXYLABS and not settings.oxylabs_configured:
            problems.append("provider 'oxylabs' needs OXYLABS_USERNAME and OXYLABS_PASSWORD on the server")
        if problems:
            raise InvalidInput("; ".join(problems))
        await repo.upsert(conn, org_id=org_id, choices=own, updated_by=user_id)
    logger.info("org %s collection settings changed: %s", org_id, sorted(changed))
    return result
