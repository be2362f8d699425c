"""`sellercollection categories`, `presets` and `schedules`: read-only listings for the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from app.cli.errors import CommandError
from app.cli.orgs import chosen_org, existing_org_id
from app.db.pool import Pool
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


async def org_presets(pool: Pool, org: str | None) -> tuple[str, list[PresetRow]]:
    """The org (named, or the only one) with the built-in presets and its own; CommandError otherwise."""
    name = await chosen_org(pool, org)
    return name, await presets.list_presets(pool, org_id=await existing_org_id(pool, name))


async def org_schedules(pool: Pool, org: str | None) -> tuple[str, list[ScheduleView]]:
    """The org (named, or the only one) with its schedules; CommandError otherwise."""
    name = await chosen_org(pool, org)
    return name, await schedules.list_schedules(pool, org_id=await existing_org_id(pool, name))


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
