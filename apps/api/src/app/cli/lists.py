"""`sellercollection categories`, `presets` and `schedules`: read-only listings for the terminal."""

from __future__ import annotations

from uuid import UUID

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from app.config import Settings
from app.db.pool import Pool, make_pool
from app.repositories import org_settings as org_repo
from app.services.catalogue import catalogue_document
from app.services.scheduling import presets, schedules


class ListError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def print_categories(console: Console, department: str | None) -> None:
    """The catalogue as a tree, or one department's categories; ListError naming the known departments."""
    departments = catalogue_document()["departments"]
    if department is not None:
        wanted = department.strip().lower()
        departments = [d for d in departments if wanted in (d["id"], d["name"].lower())]
        if not departments:
            known = ", ".join(d["id"] for d in catalogue_document()["departments"])
            raise ListError(f"Unknown department {department!r}; known: {known}")
    tree = Tree("Amazon Best Sellers")
    for dep in departments:
        branch = tree.add(f"[bold]{dep['name']}[/bold]  [dim]{dep['id']}[/dim]")
        for category in dep["categories"]:
            branch.add(f"{category['id']}  [dim]{category['name']}[/dim]")
    console.print(tree)


async def _org_id(pool: Pool, org: str) -> UUID:
    async with pool.connection() as conn:
        org_id = await org_repo.find_org_id(conn, name=org)
    if org_id is None:
        raise ListError(f"No org named {org!r}")
    return org_id


async def print_presets(_settings: Settings, url: str, org: str, console: Console) -> None:
    pool = make_pool(url, min_size=1, max_size=2)
    await pool.open(wait=True)
    try:
        found = await presets.list_presets(pool, org_id=await _org_id(pool, org))
    finally:
        await pool.close()
    table = Table("Name", "Kind", "Categories", "Id", title=f"Presets of {org}")
    for preset in found:
        ids = (
            ", ".join(preset.category_ids)
            if len(preset.category_ids) <= 5
            else f"{len(preset.category_ids)} categories"
        )
        table.add_row(preset.name, "built-in" if preset.is_builtin else "org", ids, str(preset.id))
    console.print(table)


async def print_schedules(_settings: Settings, url: str, org: str, console: Console) -> None:
    pool = make_pool(url, min_size=1, max_size=2)
    await pool.open(wait=True)
    try:
        found = await schedules.list_schedules(pool, org_id=await _org_id(pool, org))
    finally:
        await pool.close()
    table = Table("Name", "When", "Time zone", "Collects", "Next run (UTC)", "Last run", title=f"Schedules of {org}")
    for s in found:
        collects = f"preset {s.preset_name}" if s.preset_name else ", ".join(s.category_ids or [])
        next_run = f"{s.next_run_at:%Y-%m-%d %H:%M}" if s.enabled and s.next_run_at else "disabled"
        last = f"{s.last_run_at:%Y-%m-%d %H:%M} ({s.last_run_id})" if s.last_run_at else "never"
        table.add_row(s.name, f"{s.cron_expression}  [dim]{s.description}[/dim]", s.timezone, collects, next_run, last)
    if not found:
        console.print(f"Org {org!r} has no schedules (create them with POST /collection/schedules).")
        return
    console.print(table)
