"""Notifications: an org's webhooks and e-mail recipients, test pings, and the log of every delivery try."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from app.http.deps import AutomationDep, PoolDep, SettingsDep
from app.models import (
    DeliveryList,
    DeliveryOut,
    EmailCreate,
    EmailList,
    EmailOut,
    EmailUpdate,
    PingSent,
    SubscriptionKind,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
    WebhookUpdate,
)
from app.routers.paging import Limit200
from app.services.notifications import subscriptions

router = APIRouter(prefix="/notifications", tags=["notifications"])

_RECIPIENT_CONFLICTS: dict[int | str, dict[str, Any]] = {
    409: {"description": "E-mail is off, or the address is already a recipient"}
}
_EMAIL_OFF: dict[int | str, dict[str, Any]] = {
    409: {"description": "E-mail is off (SELLERCOLLECTION_SMTP_URL is unset)"}
}


@router.get("/webhooks", response_model=WebhookList)
async def list_webhooks(caller: AutomationDep, pool: PoolDep) -> WebhookList:
    found = await subscriptions.list_subscriptions(pool, org_id=caller.org_id, kind="webhook")
    return WebhookList(webhooks=[WebhookOut.model_validate(w) for w in found])


@router.post("/webhooks", response_model=WebhookCreated, status_code=201)
async def create_webhook(
    body: WebhookCreate, caller: AutomationDep, pool: PoolDep, settings: SettingsDep
) -> WebhookCreated:
    """The answer carries the signing `secret`, once. 422: not http(s), a loopback / private / link-local
    address, an unknown event, a URL over 2,048 characters; nothing is stored then."""
    created = await subscriptions.create_webhook(
        pool, settings, org_id=caller.org_id, user_id=caller.user_id, **body.model_dump()
    )
    return WebhookCreated.model_validate(created)


@router.patch("/webhooks/{subscription_id}", response_model=WebhookOut)
async def update_webhook(
    subscription_id: UUID, body: WebhookUpdate, caller: AutomationDep, pool: PoolDep, settings: SettingsDep
) -> WebhookOut:
    """Change the URL (checked as when created), events, description, or `enabled` (enabling also clears an
    automatic disable)."""
    updated = await subscriptions.update_subscription(
        pool, org_id=caller.org_id, kind="webhook", subscription_id=subscription_id,
        changes=body.model_dump(exclude_unset=True), allow_private=settings.webhook_allow_private,
    )  # fmt: skip
    return WebhookOut.model_validate(updated)


@router.get("/emails", response_model=EmailList)
async def list_emails(caller: AutomationDep, pool: PoolDep, settings: SettingsDep) -> EmailList:
    """The org's recipients, and whether e-mail is on at all."""
    enabled, detail = subscriptions.email_status(settings)
    found = await subscriptions.list_subscriptions(pool, org_id=caller.org_id, kind="email")
    return EmailList(email_enabled=enabled, detail=detail, recipients=[EmailOut.model_validate(e) for e in found])


@router.post("/emails", response_model=EmailOut, status_code=201, responses=_RECIPIENT_CONFLICTS)
async def create_email(body: EmailCreate, caller: AutomationDep, pool: PoolDep, settings: SettingsDep) -> EmailOut:
    created = await subscriptions.create_email(
        pool, settings, org_id=caller.org_id, user_id=caller.user_id, address=body.address, events=body.events
    )
    return EmailOut.model_validate(created)


@router.patch("/emails/{subscription_id}", response_model=EmailOut)
async def update_email(subscription_id: UUID, body: EmailUpdate, caller: AutomationDep, pool: PoolDep) -> EmailOut:
    """Change the events, or `enabled` (enabling also clears an automatic disable)."""
    changes = body.model_dump(exclude_unset=True)
    recipient = await subscriptions.update_subscription(
        pool, org_id=caller.org_id, kind="email", subscription_id=subscription_id, changes=changes
    )
    return EmailOut.model_validate(recipient)


def _one_subscription_routes(kind: SubscriptionKind, path: str, out: type[WebhookOut] | type[EmailOut]) -> None:
    """GET, DELETE and the test ping of one webhook or recipient: the same for both kinds."""
    what = "webhook" if kind == "webhook" else "e-mail recipient"
    test_errors = _EMAIL_OFF if kind == "email" else None

    @router.get(f"{path}/{{subscription_id}}", response_model=out, name=f"get_{kind}")
    async def get_one(subscription_id: UUID, caller: AutomationDep, pool: PoolDep) -> WebhookOut | EmailOut:
        row = await subscriptions.get_subscription(
            pool, org_id=caller.org_id, kind=kind, subscription_id=subscription_id
        )
        return out.model_validate(row)

    @router.delete(f"{path}/{{subscription_id}}", status_code=204, name=f"delete_{kind}")
    async def delete_one(subscription_id: UUID, caller: AutomationDep, pool: PoolDep) -> Response:
        await subscriptions.delete_subscription(pool, org_id=caller.org_id, kind=kind, subscription_id=subscription_id)
        return Response(status_code=204)

    @router.post(
        f"{path}/{{subscription_id}}/test",
        response_model=PingSent,
        status_code=202,
        name=f"test_{kind}",
        responses=test_errors,
        description=f"Send a `ping` event to this {what} now (whatever its events); the try is in the delivery log.",
    )
    async def test_one(subscription_id: UUID, caller: AutomationDep, pool: PoolDep, settings: SettingsDep) -> PingSent:
        event_id = await subscriptions.send_test(
            pool, settings, org_id=caller.org_id, kind=kind, subscription_id=subscription_id
        )
        return PingSent(event_id=event_id)


_one_subscription_routes("webhook", "/webhooks", WebhookOut)
_one_subscription_routes("email", "/emails", EmailOut)


@router.get("/deliveries", response_model=DeliveryList)
async def list_deliveries(
    caller: AutomationDep, pool: PoolDep, limit: Limit200 = 50, cursor: str | None = None
) -> DeliveryList:
    """Every try of every delivery (event, target, status code, duration, error), newest first; keyset pages."""
    rows, next_cursor = await subscriptions.deliveries(pool, org_id=caller.org_id, limit=limit, cursor=cursor)
    return DeliveryList(deliveries=[DeliveryOut.model_validate(r) for r in rows], next_cursor=next_cursor)
