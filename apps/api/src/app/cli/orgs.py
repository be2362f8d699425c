"""Which org a command acts in: the one named with --org, else the only one there is, never one made up.

Without --org, a command on a database with exactly one org uses it; with none or several it
lists them and exits 2 (bad input), so a run never lands in an org nobody signs in to.
"""

from __future__ import annotations

from uuid import UUID

from app.cli.errors import CommandError
from app.db.pool import Pool
from app.repositories import org_settings as org_repo

# Orgs named in the message that asks for --org; a longer list ends in "…".
LISTED = 20


async def chosen_org(pool: Pool, named: str | None) -> str:
    """`named`, or the only org there is; CommandError listing the orgs when that is not one."""
    if named is not None:
        return named
    async with pool.connection() as conn:
        names = await org_repo.org_names(conn, limit=LISTED + 1)
    if len(names) == 1:
        return names[0]
    if not names:
        raise CommandError(
            "There is no org yet: name one with --org NAME, or create one with "
            "`sellercollection create-token --org NAME --email EMAIL -p admin.automation`"
        )
    raise CommandError(f"There are several orgs; name one with --org: {_listed(names)}")


async def existing_org_id(pool: Pool, org: str) -> UUID:
    """The org called `org`; CommandError naming the orgs there are when there is none."""
    async with pool.connection() as conn:
        org_id = await org_repo.find_org_id(conn, name=org)
        names = await org_repo.org_names(conn, limit=LISTED + 1) if org_id is None else []
    if org_id is None:
        known = f"; the orgs are: {_listed(names)}" if names else "; there is no org yet"
        raise CommandError(f"No org named {org!r}{known}")
    return org_id


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:LISTED])
    return f"{shown}, …" if len(names) > LISTED else shown
