"""An org's webhooks and e-mail recipients: add, change, remove, test; and the log of every delivery try.

A webhook's secret is made here, returned once in the answer that creates it, and kept only sealed
(sealing.py). Its URL is checked when it is stored (targets.py) and again when anything is sent to it.
Recipients can only be added while e-mail is on (`SELLERCOLLECTION_SMTP_URL`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID, uuid4

from psycopg import errors as pg_errors

from app.config import Settings
from app.db.pool import Pool
from app.errors import Conflict, InvalidInput, found
from app.models import NotificationEvent, SubscriptionKind
from app.repositories import notifications as repo
from app.repositories.notifications import AttemptRow, SubscriptionRow
from app.security import new_secret
from app.services.cursors import keyset_after, keyset_cursor
from app.services.notifications import mail, sealing, targets

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
_NOT_FOUND: dict[SubscriptionKind, str] = {"webhook": "Webhook not found", "email": "E-mail recipient not found"}


@dataclass(frozen=True, slots=True)
class CreatedWebhook(SubscriptionRow):
    """A new webhook with its secret, which is never shown again."""

    secret: str


def email_status(settings: Settings) -> tuple[bool, str]:
    """Whether e-mail is on, and what to tell people about it."""
    server = mail.smtp_server(settings)
    if server is None:
        return False, f"{mail.OFF}; recipients get nothing until it is"
    return True, f"E-mail is sent through {server.hostname}:{server.port}"


async def list_subscriptions(pool: Pool, *, org_id: UUID, kind: SubscriptionKind) -> list[SubscriptionRow]:
    async with pool.connection() as conn:
        return await repo.list_subscriptions(conn, org_id=org_id, kind=kind)


async def get_subscription(
    pool: Pool, *, org_id: UUID, kind: SubscriptionKind, subscription_id: UUID
) -> SubscriptionRow:
    async with pool.connection() as conn:
        row = await repo.get_subscription(conn, org_id=org_id, kind=kind, subscription_id=subscription_id)
    return found(row, _NOT_FOUND[kind])


async def create_webhook(
    pool: Pool,
    settings: Settings,
    *,
    org_id: UUID,
    user_id: UUID,
    url: str,
    events: list[NotificationEvent],
    description: str | None,
) -> CreatedWebhook:
    targets.check_webhook_url(url, allow_private=settings.webhook_allow_private)
    subscription_id, secret = uuid4(), new_secret(SECRET_PREFIX)
    async with pool.connection() as conn, conn.transaction():
        sealed, key_id = await sealing.seal(conn, settings, secret, subscription_id=subscription_id)
        row = await repo.insert_subscription(
            conn,
            {
                "id": subscription_id, "org_id": org_id, "kind": "webhook", "url": url, "events": events,
                "description": description, "secret_sealed": sealed, "secret_key_id": key_id, "created_by": user_id,
            },
        )  # fmt: skip
    logger.info("webhook %s added for org %s (%s)", row.id, org_id, ", ".join(events))
    return CreatedWebhook(**asdict(row), secret=secret)


async def create_email(
    pool: Pool, settings: Settings, *, org_id: UUID, user_id: UUID, address: str, events: list[NotificationEvent]
) -> SubscriptionRow:
    if mail.smtp_server(settings) is None:
        raise Conflict(f"{mail.OFF}: set it to send e-mail, then add recipients")
    values = {"id": uuid4(), "org_id": org_id, "kind": "email", "address": address, "events": events,
              "created_by": user_id}  # fmt: skip
    try:
        async with pool.connection() as conn:
            return await repo.insert_subscription(conn, values)
    except pg_errors.UniqueViolation as exc:
        raise Conflict(f"{address} is already a recipient") from exc


async def update_subscription(
    pool: Pool,
    *,
    org_id: UUID,
    kind: SubscriptionKind,
    subscription_id: UUID,
    changes: dict[str, Any],
    allow_private: bool = False,
) -> SubscriptionRow:
    """Change url (checked as when created), events, description or enabled; disabling drops what is waiting."""
    for name in ("url", "events", "enabled"):
        if name in changes and changes[name] is None:
            raise InvalidInput(f"{name} must not be null")
    if "url" in changes:
        targets.check_webhook_url(changes["url"], allow_private=allow_private)
    async with pool.connection() as conn, conn.transaction():
        row = await repo.update_subscription(
            conn, org_id=org_id, kind=kind, subscription_id=subscription_id, changes=changes
        )
        if row is not None and changes.get("enabled") is False:
            await repo.drop_pending(conn, subscription_id=subscription_id)
    return found(row, _NOT_FOUND[kind])


async def delete_subscription(pool: Pool, *, org_id: UUID, kind: SubscriptionKind, subscription_id: UUID) -> None:
    async with pool.connection() as conn:
        deleted = await repo.delete_subscription(conn, org_id=org_id, kind=kind, subscription_id=subscription_id)
    found(deleted or None, _NOT_FOUND[kind])


async def send_test(
    pool: Pool, settings: Settings, *, org_id: UUID, kind: SubscriptionKind, subscription_id: UUID
) -> UUID:
    """Queue a `ping` for this one subscription (whatever its events); the id of its event."""
    data = {"message": "A test from SellerCollection", "url": f"{settings.public_base_url}/notifications"}
    async with pool.connection() as conn, conn.transaction():
        subscription = await repo.get_subscription(conn, org_id=org_id, kind=kind, subscription_id=subscription_id)
        found(subscription, _NOT_FOUND[kind])
        if kind == "email" and mail.smtp_server(settings) is None:
            raise Conflict(mail.OFF)
        event_id = await repo.enqueue(
            conn, org_id=org_id, event_type="ping", data=data, kinds=[kind], subscription_id=subscription_id
        )
    assert event_id is not None  # the subscription exists, so the ping has its delivery
    return event_id


async def deliveries(
    pool: Pool, *, org_id: UUID, limit: int, cursor: str | None
) -> tuple[list[AttemptRow], str | None]:
    """The org's delivery tries, newest first, a page at a time (keyset; pass `next_cursor` back)."""
    after = keyset_after(cursor, as_datetime=True) if cursor else None
    async with pool.connection() as conn:
        rows = await repo.list_attempts(conn, org_id=org_id, limit=limit + 1, after=after)
    page, more = rows[:limit], len(rows) > limit
    return page, keyset_cursor(page[-1].attempted_at, page[-1].id) if more else None
