"""The hooks that turn a run's end or a schedule's skipped / missed fire into an event, and the payload sent.

Each hook is one call inside the transaction that records the change (the transactional outbox): it
stores the event and one delivery per subscription that wants it, or nothing when nobody does, in
one statement. The change and its notification commit together or not at all, and the run never
waits for a delivery: the delivery workers send it afterwards (worker.py).

The payload is `{id, type, created_at, org_id, data}`; `id` is the event's, the same on every try.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.config import Settings
from app.db.pool import Conn
from app.models import NotificationEvent, NotificationEventType, SubscriptionKind
from app.repositories import notifications as repo
from app.repositories import sellers as sellers_repo
from app.repositories.runs import RunRow
from app.repositories.schedules import FireRow, ScheduleRow
from app.status import RunStatus

RUN_EVENTS: dict[RunStatus, NotificationEvent] = {
    RunStatus.COMPLETED: "run.completed",
    RunStatus.PAUSED: "run.paused",
    RunStatus.FAILED: "run.failed",
    RunStatus.CANCELLED: "run.cancelled",
}
FIRE_EVENTS: dict[str, NotificationEvent] = {"skipped": "schedule.skipped", "missed": "schedule.missed"}
# A user's pause and cancel record no reason on the run; the event says who it was.
_USER_REASONS = {RunStatus.PAUSED: "Paused by a user", RunStatus.CANCELLED: "Cancelled by a user"}
BEST_NEW_SELLERS = 5


def kinds(settings: Settings) -> list[SubscriptionKind]:
    """Who can be told: webhooks always, e-mail recipients only while e-mail is on."""
    return ["webhook", "email"] if settings.smtp_url is not None else ["webhook"]


async def run_ended(conn: Conn, settings: Settings, run: RunRow | None) -> None:
    """Enqueue run.completed / paused / failed / cancelled for a run that just reached that status (or None)."""
    if run is None or run.status not in RUN_EVENTS:
        return
    event_type, wanted_by = RUN_EVENTS[run.status], kinds(settings)
    # Nobody to tell (most orgs): no sellers looked up, nothing stored.
    if not await repo.subscribed(conn, org_id=run.org_id, event_type=event_type, kinds=wanted_by):
        return
    data = run_data(settings, run, await best_new_sellers(conn, run))
    await repo.enqueue(conn, org_id=run.org_id, event_type=event_type, data=data, kinds=wanted_by)


async def fire_recorded(conn: Conn, settings: Settings, schedule: ScheduleRow, fire: FireRow) -> None:
    """Enqueue schedule.skipped / schedule.missed for a fire just recorded with that outcome."""
    event_type = FIRE_EVENTS.get(fire.outcome)
    if event_type is None:
        return
    data = {
        "id": str(schedule.id),
        "name": schedule.name,
        "outcome": fire.outcome,
        "reason": fire.reason,
        "fire_time": fire.fire_time.isoformat(),
        "fire_count": fire.fire_count,
        "url": f"{settings.public_base_url}/schedules",
    }
    await repo.enqueue(conn, org_id=schedule.org_id, event_type=event_type, data=data, kinds=kinds(settings))


async def best_new_sellers(conn: Conn, run: RunRow) -> list[dict[str, Any]]:
    """The run's five best new sellers by score (those it found first, scored), highest first, for its event.

    The same query as the end of `sellercollection collect` (`sellers.best_new_of_run`). Scores are those
    of the run's end: its eBay phase refreshes its org's profiles once more before the run completes.
    """
    rows = await sellers_repo.best_new_of_run(conn, org_id=run.org_id, run_id=run.id, limit=BEST_NEW_SELLERS)
    return [{"id": str(row.id), "name": row.display_name, "score": row.score} for row in rows]


def run_data(settings: Settings, run: RunRow, best: list[dict[str, Any]]) -> dict[str, Any]:
    requests_total = sum(sum(kinds.values()) for kinds in run.upstream_requests.values())
    return {
        "id": str(run.id),
        "name": run.name,
        "status": str(run.status),
        "reason": run.status_reason or _USER_REASONS.get(run.status),
        "trigger": run.trigger,
        "schedule_id": str(run.schedule_id) if run.schedule_id else None,
        "counts": {
            "sellers_found": run.sellers_found,
            "sellers_new": run.sellers_new,
            "requests_total": requests_total,
            "upstream_cost": float(run.upstream_cost),
        },
        "url": f"{settings.public_base_url}/runs/{run.id}",
        "best_new_sellers": best,
    }


@dataclass(frozen=True)
class Event:
    """One event as every delivery of it sends it."""

    id: UUID
    type: NotificationEventType
    created_at: datetime
    org_id: UUID
    data: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "created_at": self.created_at.isoformat(),
            "org_id": str(self.org_id),
            "data": self.data,
        }

    def body(self) -> bytes:
        """The payload as the bytes a webhook receives and the signature covers (the same on every try)."""
        return json.dumps(self.payload(), separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
