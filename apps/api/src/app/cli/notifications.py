"""`sellercollection notifications`: an org's webhooks and e-mail recipients, then its latest delivery tries."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from app.cli.orgs import chosen_org, existing_org_id
from app.config import Settings
from app.db.pool import Pool
from app.repositories.notifications import AttemptRow, SubscriptionRow
from app.services.notifications import subscriptions


@dataclass(frozen=True)
class OrgNotifications:
    webhooks: list[SubscriptionRow]
    recipients: list[SubscriptionRow]
    tries: list[AttemptRow]


async def org_notifications(pool: Pool, org: str | None, limit: int) -> tuple[str, OrgNotifications]:
    """The org (named, or the only one), its subscriptions and its `limit` latest tries; CommandError otherwise."""
    name = await chosen_org(pool, org)
    org_id = await existing_org_id(pool, name)
    return name, OrgNotifications(
        webhooks=await subscriptions.list_subscriptions(pool, org_id=org_id, kind="webhook"),
        recipients=await subscriptions.list_subscriptions(pool, org_id=org_id, kind="email"),
        tries=(await subscriptions.deliveries(pool, org_id=org_id, limit=limit, cursor=None))[0],
    )


def _state(subscription: SubscriptionRow) -> str:
    if not subscription.enabled:
        return f"[red]disabled[/red] [dim]{subscription.disabled_reason or ''}[/dim]"
    if subscription.failing_since is not None:
        return f"[yellow]failing since {subscription.failing_since:%Y-%m-%d %H:%M} UTC[/yellow]"
    return "[green]enabled[/green]"


def print_notifications(console: Console, org: str, found: OrgNotifications, settings: Settings) -> None:
    subscribed = Table("Kind", "Sends to", "Events", "State", "Id", title=f"Notifications of {org}")
    for s in [*found.webhooks, *found.recipients]:
        subscribed.add_row(s.kind, s.url or s.address or "", ", ".join(s.events), _state(s), str(s.id))
    console.print(subscribed if subscribed.rows else f"Org {org!r} has no webhooks or e-mail recipients.")
    console.print(subscriptions.email_status(settings)[1], highlight=False)
    if not found.tries:
        console.print("Nothing has been sent yet.")
        return
    tried = Table("When (UTC)", "Event", "To", "Try", "Outcome", "Status", "ms", "Error", title="Latest deliveries")
    for t in found.tries:
        tried.add_row(
            f"{t.attempted_at:%Y-%m-%d %H:%M:%S}", t.event_type, t.target, str(t.attempt), t.outcome,
            str(t.status_code or "–"), str(t.duration_ms), t.error or "",
        )  # fmt: skip
    console.print(tried)
