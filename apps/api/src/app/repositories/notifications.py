"""SQL for notifications: subscriptions, the outbox (events and their deliveries), each try, the secrets' key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from app.db.pool import Conn, columns, fetch_all, fetch_one, fetch_scalar
from app.models import AttemptOutcome, NotificationEvent, NotificationEventType, SubscriptionKind
from app.repositories.query import Where, insert_one


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    id: UUID
    org_id: UUID
    kind: SubscriptionKind
    url: str | None
    address: str | None
    description: str | None
    events: list[NotificationEvent]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    last_success_at: datetime | None
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A pending delivery whose time has come, with its event and its subscription's target, locked by us."""

    id: UUID
    attempts: int
    first_attempt_at: datetime | None
    event_id: UUID
    event_type: NotificationEventType
    event_created_at: datetime
    org_id: UUID
    data: dict[str, Any]
    subscription_id: UUID
    kind: SubscriptionKind
    url: str | None
    address: str | None
    secret_sealed: bytes | None
    secret_key_id: str | None


@dataclass(frozen=True, slots=True)
class AttemptRow:
    id: UUID
    org_id: UUID
    delivery_id: UUID | None
    subscription_id: UUID | None
    event_id: UUID
    event_type: NotificationEventType
    kind: SubscriptionKind
    target: str
    attempt: int
    outcome: AttemptOutcome
    status_code: int | None
    duration_ms: int
    error: str | None
    response_body: str | None
    next_attempt_at: datetime | None
    sent_by: str
    attempted_at: datetime


_SUBSCRIPTION = columns(SubscriptionRow)
_ATTEMPT = columns(AttemptRow)
# Only these may be changed by a PATCH (the keys of `changes` are checked against it).
_CHANGEABLE = frozenset({"url", "events", "description", "enabled"})


# --- subscriptions -------------------------------------------------------------------------------


async def insert_subscription(conn: Conn, values: dict[str, Any]) -> SubscriptionRow:
    """Raises psycopg's UniqueViolation when the org already has that e-mail address."""
    return await insert_one(conn, SubscriptionRow, "notification_subscriptions", values)


def _of(org_id: UUID, kind: SubscriptionKind) -> Where:
    return Where("org_id = %(org_id)s AND kind = %(kind)s", org_id=org_id, kind=kind)


async def list_subscriptions(conn: Conn, *, org_id: UUID, kind: SubscriptionKind) -> list[SubscriptionRow]:
    where = _of(org_id, kind)
    return await fetch_all(
        conn,
        SubscriptionRow,
        f"SELECT {_SUBSCRIPTION} FROM notification_subscriptions WHERE {where} ORDER BY created_at, id",
        where.params,
    )


async def get_subscription(
    conn: Conn, *, org_id: UUID, kind: SubscriptionKind, subscription_id: UUID
) -> SubscriptionRow | None:
    where = _of(org_id, kind)
    where.add("id = %(id)s", id=subscription_id)
    return await fetch_one(
        conn, SubscriptionRow, f"SELECT {_SUBSCRIPTION} FROM notification_subscriptions WHERE {where}", where.params
    )


async def update_subscription(
    conn: Conn, *, org_id: UUID, kind: SubscriptionKind, subscription_id: UUID, changes: dict[str, Any]
) -> SubscriptionRow | None:
    """Apply `changes` (url, events, description, enabled); enabling clears an automatic disable."""
    unknown = set(changes) - _CHANGEABLE
    if unknown:
        raise ValueError(f"not changeable: {unknown}")
    where = _of(org_id, kind)
    where.add("id = %(id)s", id=subscription_id)
    sets = [f"{name} = %(new_{name})s" for name in changes]
    if "enabled" in changes:
        sets += [
            "disabled_reason = CASE WHEN %(new_enabled)s THEN NULL ELSE 'Disabled by a user' END",
            "failing_since = CASE WHEN %(new_enabled)s THEN NULL ELSE failing_since END",
        ]
    return await fetch_one(
        conn,
        SubscriptionRow,
        f"""
        UPDATE notification_subscriptions SET {", ".join([*sets, "updated_at = now()"])}
        WHERE {where} RETURNING {_SUBSCRIPTION}
        """,
        where.params | {f"new_{name}": value for name, value in changes.items()},
    )


async def delete_subscription(conn: Conn, *, org_id: UUID, kind: SubscriptionKind, subscription_id: UUID) -> bool:
    where = _of(org_id, kind)
    where.add("id = %(id)s", id=subscription_id)
    cur = await conn.execute(f"DELETE FROM notification_subscriptions WHERE {where}", where.params)
    return cur.rowcount == 1


async def drop_pending(conn: Conn, *, subscription_id: UUID) -> int:
    """Give up the subscription's pending deliveries (it was disabled); those being sent right now finish."""
    cur = await conn.execute(
        """
        UPDATE notification_deliveries SET status = 'failed', finished_at = now()
        WHERE id IN (
            SELECT id FROM notification_deliveries
            WHERE subscription_id = %(id)s AND status = 'pending'
            FOR UPDATE SKIP LOCKED
        )
        """,
        {"id": subscription_id},
    )
    return cur.rowcount


async def record_success(conn: Conn, *, subscription_id: UUID) -> None:
    await conn.execute(
        "UPDATE notification_subscriptions SET failing_since = NULL, last_success_at = now() WHERE id = %(id)s",
        {"id": subscription_id},
    )


async def record_failure(conn: Conn, *, subscription_id: UUID, disable_after: timedelta) -> bool:
    """Note a failed try; True when it disabled the subscription (every try failed for `disable_after`)."""
    disabled: bool | None = await fetch_scalar(
        conn,
        """
        WITH old AS (
            -- The claim holds this row's lock already (see claim_due).
            SELECT id, enabled, coalesce(failing_since, now()) AS since
            FROM notification_subscriptions WHERE id = %(id)s
        )
        UPDATE notification_subscriptions s SET
            failing_since = old.since,
            enabled = s.enabled AND old.since > now() - %(after)s,
            disabled_reason = CASE WHEN s.enabled AND old.since <= now() - %(after)s
                THEN format('Disabled automatically: every try failed from %%s to %%s',
                            to_char(old.since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
                            to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'))
                ELSE s.disabled_reason END
        FROM old WHERE s.id = old.id
        RETURNING old.enabled AND NOT s.enabled
        """,
        {"id": subscription_id, "after": disable_after},
    )
    return bool(disabled)


# --- the outbox ----------------------------------------------------------------------------------

# NOTIFY'd when an event's transaction commits: every server's delivery worker LISTENs on it.
WAKE_CHANNEL = "sellercollection_notifications"


def _subscribers(
    org_id: UUID, event_type: NotificationEventType, kinds: list[SubscriptionKind], subscription_id: UUID | None
) -> Where:
    subscribers = Where("org_id = %(org_id)s AND kind = ANY(%(kinds)s)", org_id=org_id, kinds=kinds)
    if subscription_id is None:
        subscribers.add("enabled AND %(type)s = ANY(events)", type=event_type)
    else:
        subscribers.add("id = %(subscription_id)s", subscription_id=subscription_id)
    return subscribers


async def subscribed(
    conn: Conn, *, org_id: UUID, event_type: NotificationEventType, kinds: list[SubscriptionKind]
) -> bool:
    """Whether an enabled subscription of the org wants the event (`enqueue` would store it)."""
    where = _subscribers(org_id, event_type, kinds, None)
    found: bool = await fetch_scalar(
        conn, f"SELECT EXISTS (SELECT 1 FROM notification_subscriptions WHERE {where})", where.params
    )
    return found


async def enqueue(
    conn: Conn,
    *,
    org_id: UUID,
    event_type: NotificationEventType,
    data: dict[str, Any],
    kinds: list[SubscriptionKind],
    subscription_id: UUID | None = None,
) -> UUID | None:
    """The event and one delivery per enabled subscription of the org that wants it, in one statement.

    With `subscription_id`, only that subscription, whatever its events (a test ping). Nothing is
    stored when nobody is subscribed; the id of the stored event otherwise. Workers are woken on commit.
    """
    subscribers = _subscribers(org_id, event_type, kinds, subscription_id)
    event_id: UUID | None = await fetch_scalar(
        conn,
        f"""
        WITH subs AS (
            SELECT id FROM notification_subscriptions WHERE {subscribers}
        ), event AS (
            INSERT INTO notification_events (org_id, type, data)
            SELECT %(org_id)s, %(event_type)s, %(data)s WHERE EXISTS (SELECT 1 FROM subs)
            RETURNING id
        ), deliveries AS (
            INSERT INTO notification_deliveries (event_id, subscription_id, org_id)
            SELECT event.id, subs.id, %(org_id)s FROM event CROSS JOIN subs
            RETURNING event_id
        )
        SELECT event_id FROM deliveries, LATERAL (SELECT pg_notify(%(channel)s, '')) AS wake LIMIT 1
        """,
        subscribers.params | {"event_type": event_type, "data": Jsonb(data), "channel": WAKE_CHANNEL},
    )
    return event_id


async def claim_due(conn: Conn) -> DueDelivery | None:
    """Lock the earliest due delivery no other process holds (inside the caller's transaction).

    Its subscription's row is locked too (FOR NO KEY UPDATE): one delivery per subscription is sent at a
    time, a delete or change of the subscription waits for the send instead of deadlocking with it, and
    an enqueue (which only takes KEY SHARE for its foreign key) never waits for a send.
    """
    return await fetch_one(
        conn,
        DueDelivery,
        """
        SELECT d.id, d.attempts, d.first_attempt_at, e.id AS event_id, e.type AS event_type,
               e.created_at AS event_created_at, e.org_id, e.data, s.id AS subscription_id, s.kind, s.url,
               s.address, s.secret_sealed, s.secret_key_id
        FROM notification_deliveries d
        JOIN notification_events e ON e.id = d.event_id
        JOIN notification_subscriptions s ON s.id = d.subscription_id
        WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND (s.enabled OR e.type = 'ping')
        ORDER BY d.next_attempt_at
        LIMIT 1
        FOR UPDATE OF d SKIP LOCKED
        FOR NO KEY UPDATE OF s SKIP LOCKED
        """,
    )


async def next_due_at(conn: Conn) -> datetime | None:
    """When the earliest pending delivery is due (None: nothing pending)."""
    due: datetime | None = await fetch_scalar(
        conn, "SELECT min(next_attempt_at) FROM notification_deliveries WHERE status = 'pending'"
    )
    return due


async def reschedule(conn: Conn, *, delivery_id: UUID, attempts: int, next_attempt_at: datetime | None) -> None:
    """After a try: pending again at `next_attempt_at`, or failed for good (None)."""
    await conn.execute(
        """
        UPDATE notification_deliveries SET attempts = %(attempts)s,
            first_attempt_at = coalesce(first_attempt_at, now()),
            status = CASE WHEN %(next)s::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
            next_attempt_at = coalesce(%(next)s, next_attempt_at),
            finished_at = CASE WHEN %(next)s::timestamptz IS NULL THEN now() END
        WHERE id = %(id)s
        """,
        {"id": delivery_id, "attempts": attempts, "next": next_attempt_at},
    )


async def mark_delivered(conn: Conn, *, delivery_id: UUID, attempts: int) -> None:
    await conn.execute(
        """
        UPDATE notification_deliveries SET status = 'delivered', attempts = %(attempts)s,
            first_attempt_at = coalesce(first_attempt_at, now()), finished_at = now()
        WHERE id = %(id)s
        """,
        {"id": delivery_id, "attempts": attempts},
    )


async def insert_attempt(conn: Conn, values: dict[str, Any]) -> AttemptRow:
    return await insert_one(conn, AttemptRow, "notification_attempts", values)


async def list_attempts(
    conn: Conn, *, org_id: UUID, limit: int, after: tuple[datetime, UUID] | None
) -> list[AttemptRow]:
    """The org's tries, newest first (keyset after `after`)."""
    where = Where("org_id = %(org_id)s", org_id=org_id, limit=limit)
    if after is not None:
        where.add("(attempted_at, id) < (%(after_at)s, %(after_id)s)", after_at=after[0], after_id=after[1])
    return await fetch_all(
        conn,
        AttemptRow,
        f"SELECT {_ATTEMPT} FROM notification_attempts WHERE {where} ORDER BY attempted_at DESC, id DESC "
        "LIMIT %(limit)s",
        where.params,
    )


async def prune(conn: Conn, *, older_than: timedelta) -> None:
    """Forget tries, and finished events with their deliveries, older than `older_than`."""
    await conn.execute(
        """
        WITH gone AS (
            DELETE FROM notification_attempts WHERE attempted_at < now() - %(age)s
        )
        DELETE FROM notification_events e
        WHERE e.created_at < now() - %(age)s
          AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
        """,
        {"age": older_than},
    )


# --- the key that seals webhook secrets when no key is configured ----------------------------------


async def stored_key(conn: Conn, *, key_id: str, candidate: bytes) -> bytes:
    """The key stored under `key_id`, storing `candidate` first if there is none (the first caller's wins)."""
    key: bytes = await fetch_scalar(
        conn,
        """
        WITH made AS (
            INSERT INTO notification_keys (id, key) VALUES (%(id)s, %(key)s)
            ON CONFLICT (id) DO NOTHING RETURNING key
        )
        SELECT key FROM made UNION ALL SELECT key FROM notification_keys WHERE id = %(id)s LIMIT 1
        """,
        {"id": key_id, "key": candidate},
    )
    return key
