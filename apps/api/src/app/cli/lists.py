"""`sellercollection categories`, `presets` and `schedules`: read-only listings for the terminal."""

from __future__ import annotations

from uuid import UUID

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from app.cli.errors import CommandError
from app.db.pool import Pool
from app.repositories import org_settings as org_repo
from app.repositories.presets import PresetRow
from app.services.catalogue import catalogue_document
from app.services.scheduling import presets, schedules
from app.services.scheduling.schedules import ScheduleView


def print_categories(console: Console, department: str | None) -> None:
    """The catalogue as a tree, or one department's categories; CommandError naming the known departments."""
    departments = catalogue_document()["departments"]
    if department is not None:
        wanted = department.strip().lower()
        departments = [d for d in departments if wanted in (d["id"], d["name"].lower())]
        if not departments:
            known = ", ".join(d["id"] for d in catalogue_document()["departments"])
            raise CommandError(f"Unknown department {department!r}; known: {known}")
    tree = Tree("Amazon Best Sellers")
    for dep in departments:
        branch = tree.add(f"[bold]{dep['name']}[/bold]  [dim]{dep['id']}[/dim]")
        for category in dep["categories"]:
            branch.add(f"{category['id']}  [dim]{category['name']}[/dim]")
    console.print(tree)


async def org_id_named(pool: Pool, org: str) -> UUID:
    """The id of the org named `org`; CommandError when there is none."""
    async with pool.connection() as conn:
        org_id = await org_repo.find_org_id(conn, name=org)
    if org_id is None:
        raise CommandError(f"No org named {org!r}")
    return org_id


async def org_presets(pool: Pool, org: str) -> list[PresetRow]:
    """The built-in presets and the org's own; CommandError for an unknown org."""
    return await presets.list_presets(pool, org_id=await org_id_named(pool, org))


async def org_schedules(pool: Pool, org: str) -> list[ScheduleView]:
    """The org's schedules; CommandError for an unknown org."""
    return await schedules.list_schedules(pool, org_id=await org_id_named(pool, org))


def print_presets(console: Console, org: str, found: list[PresetRow]) -> None:
    table = Table("Name", "Kind", "Categories", "Id", title=f"Presets of {org}")
    for preset in found:
        ids = (
            ", ".join(preset.category_ids)
            if len(preset.category_ids) <= 5
            else f"{len(preset.category_ids)} categories"
        )
        table.add_row(preset.name, "built-in" if preset.is_builtin else "org", ids, str(preset.id))
    console.print(table)


def print_schedules(console: Console, org: str, found: list[ScheduleView]) -> None:
    if not found:
        console.print(f"Org {org!r} has no schedules (create them with POST /collection/schedules).")
        return
    table = Table("Name", "When", "Time zone", "Collects", "Next run (UTC)", "Last run", title=f"Schedules of {org}")
    for s in found:
        collects = f"preset {s.preset_name}" if s.preset_name else ", ".join(s.category_ids or [])
        next_run = f"{s.next_run_at:%Y-%m-%d %H:%M}" if s.enabled and s.next_run_at else "disabled"
        last = f"{s.last_run_at:%Y-%m-%d %H:%M} ({s.last_run_id})" if s.last_run_at else "never"
        table.add_row(s.name, f"{s.cron_expression}  [dim]{s.description}[/dim]", s.timezone, collects, next_run, last)
    console.print(table)
