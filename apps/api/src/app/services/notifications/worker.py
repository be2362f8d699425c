"""DeliveryWorker: sends due deliveries from every server process, each exactly once across processes.

A pacer LISTENs for the outbox's wake-up (sent when an event's transaction commits) and also wakes
when the earliest pending retry falls due, or every `_POLL_SECONDS` should a notification be lost.
Woken, `concurrency` slots each claim one due delivery at a time: in a transaction, the delivery's
row (and its subscription's) locked FOR UPDATE SKIP LOCKED, held while it is sent (10 s at most) and
until its outcome is recorded. No other process can send it meanwhile; a process that dies mid-send
drops its connection, PostgreSQL releases the lock and another process (or this one restarted) sends
it. Each slot holds one pooled connection while it sends.

After a try: delivered; or tried again later (retry.py); or, after 8 tries or 24 hours, failed. A
subscription whose every try failed for `DISABLE_AFTER` is disabled, and its pending deliveries dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

import aiosmtplib
import httpx

from app.config import Settings
from app.db.pool import Conn, Pool, connect_dedicated
from app.errors import AppError
from app.repositories import notifications as repo
from app.repositories.notifications import DueDelivery
from app.services.notifications import mail, retry, sealing, webhook
from app.services.notifications.outbox import Event
from app.services.notifications.result import TIMEOUT_SECONDS, SendResult

logger = logging.getLogger(__name__)

DISABLE_AFTER = timedelta(days=3)
RETENTION = timedelta(days=30)  # tries, and finished events, are forgotten after this
_POLL_SECONDS = 5.0
_MIN_WAIT_SECONDS = 0.5  # a due delivery another process is sending is looked at again this often
_PRUNE_EVERY_SECONDS = 3600.0


class DeliveryWorker:
    def __init__(self, *, pool: Pool, settings: Settings, owner: str) -> None:
        self.pool = pool
        self.settings = settings
        self.owner = owner
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None
        self._closing = False

    async def start(self) -> None:
        self._http = webhook.webhook_client()
        self._tasks = [asyncio.create_task(self._pace(), name="notifications-pacer")]
        self._tasks += [
            asyncio.create_task(self._slot(), name=f"notifications-slot-{n}")
            for n in range(1, self.settings.notification_concurrency + 1)
        ]
        self._wake.set()  # what is due from before this start is sent at once

    async def close(self) -> None:
        """Stop sending: tries in flight finish and are recorded (10 s at most), then the slots end."""
        self._closing = True
        self._wake.set()
        pacer, slots = self._tasks[:1], self._tasks[1:]
        stuck: set[asyncio.Task[None]] = set()
        if slots:
            _, stuck = await asyncio.wait(slots, timeout=TIMEOUT_SECONDS + 2)
        # A slot stuck past that is cancelled: its row unlocks, and the delivery is sent again later.
        for task in [*pacer, *stuck]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._http is not None:
            await self._http.aclose()

    # --- when to look ------------------------------------------------------------------------------

    async def _pace(self) -> None:
        pruned = 0.0
        while True:
            try:
                async with await connect_dedicated(self.pool) as conn:
                    await conn.execute(f"LISTEN {repo.WAKE_CHANNEL}")
                    while True:
                        if time.monotonic() - pruned > _PRUNE_EVERY_SECONDS:
                            await repo.prune(conn, older_than=RETENTION)
                            pruned = time.monotonic()
                        wait = await self._until_due(conn)
                        async for _ in conn.notifies(timeout=wait, stop_after=1):
                            pass
                        self._wake.set()
            except Exception:
                logger.warning("notifications: LISTEN connection lost; reconnecting", exc_info=True)
                self._wake.set()  # meanwhile the slots look once more
                await asyncio.sleep(1.0)

    async def _until_due(self, conn: Conn) -> float:
        due = await repo.next_due_at(conn)
        if due is None:
            return _POLL_SECONDS
        seconds = (due - datetime.now(UTC)).total_seconds()
        return min(_POLL_SECONDS, max(_MIN_WAIT_SECONDS, seconds))

    async def _slot(self) -> None:
        while not self._closing:
            await self._wake.wait()
            if self._closing:
                return
            self._wake.clear()  # before looking, so a wake-up during the drain is not lost
            try:
                while not self._closing and await self.deliver_one():
                    pass
            except Exception:
                logger.exception("notifications: a delivery could not be recorded; trying again shortly")
                await asyncio.sleep(1.0)

    # --- one try -----------------------------------------------------------------------------------

    async def deliver_one(self) -> bool:
        """Claim, send and record one due delivery; False when none is due (or all due ones are being sent).

        Whatever goes wrong with one delivery (a row no check foresaw, a bug) is that delivery's failed
        try, retried with backoff like any other: it never stops the slot, nor holds up the deliveries
        due after it. The try runs in a savepoint, so its partial work is undone while the claim's
        locks are kept for recording the failure.
        """
        async with self.pool.connection() as conn, conn.transaction():
            due = await repo.claim_due(conn)
            if due is None:
                return False
            started = time.perf_counter()
            try:
                async with conn.transaction():
                    result = await self._send(conn, due)
                    await self._record(conn, due, result, duration_ms=_ms_since(started))
            except Exception as exc:
                logger.exception("notifications: delivery %s (%s) broke; recorded as a failed try", due.id, due.kind)
                await self._record_broken(conn, due, exc, duration_ms=_ms_since(started))
        return True

    async def _record_broken(self, conn: Conn, due: DueDelivery, exc: Exception, *, duration_ms: int) -> None:
        """Record a try that raised: a failed try with the error, or (if even that fails) just its next time."""
        result = SendResult(delivered=False, error=_describe(exc))
        try:
            async with conn.transaction():
                await self._record(conn, due, result, duration_ms=duration_ms)
        except Exception:
            logger.exception("notifications: delivery %s could not be logged; only rescheduled", due.id)
            now = datetime.now(UTC)
            next_at = retry.next_attempt_at(due.attempts + 1, due.first_attempt_at or now, now)
            await repo.reschedule(conn, delivery_id=due.id, attempts=due.attempts + 1, next_attempt_at=next_at)

    async def _send(self, conn: Conn, due: DueDelivery) -> SendResult:
        event = Event(id=due.event_id, type=due.event_type, created_at=due.event_created_at, org_id=due.org_id,
                      data=due.data)  # fmt: skip
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                if due.kind == "webhook":
                    assert due.url is not None and due.secret_sealed is not None and due.secret_key_id is not None
                    secret = await sealing.unseal(
                        conn, self.settings, due.secret_sealed, key_id=due.secret_key_id,
                        subscription_id=due.subscription_id,
                    )  # fmt: skip
                    assert self._http is not None
                    return await webhook.post(
                        self._http, url=due.url, event=event, secret=secret,
                        allow_private=self.settings.webhook_allow_private,
                    )  # fmt: skip
                server = mail.smtp_server(self.settings)
                if server is None:
                    return SendResult(delivered=False, error=mail.OFF)
                assert due.address is not None
                letter = mail.message(event, sender=self.settings.smtp_from, to=due.address)
                return await mail.send(server, letter, to=due.address)
        except AppError as exc:
            return SendResult(delivered=False, error=_printable(exc.detail))
        except TimeoutError:
            return SendResult(delivered=False, error=f"No answer within {TIMEOUT_SECONDS:g} s")
        except (httpx.HTTPError, aiosmtplib.SMTPException, OSError) as exc:
            return SendResult(delivered=False, error=_describe(exc))

    async def _record(self, conn: Conn, due: DueDelivery, result: SendResult, *, duration_ms: int) -> None:
        attempt = due.attempts + 1
        now = datetime.now(UTC)
        next_at = None
        if result.delivered:
            await repo.mark_delivered(conn, delivery_id=due.id, attempts=attempt)
            await repo.record_success(conn, subscription_id=due.subscription_id)
        else:
            next_at = retry.next_attempt_at(attempt, due.first_attempt_at or now, now)
            await repo.reschedule(conn, delivery_id=due.id, attempts=attempt, next_attempt_at=next_at)
            if await repo.record_failure(conn, subscription_id=due.subscription_id, disable_after=DISABLE_AFTER):
                dropped = await repo.drop_pending(conn, subscription_id=due.subscription_id)
                logger.warning("notifications: subscription %s disabled after failing for %s (%d pending dropped)",
                               due.subscription_id, DISABLE_AFTER, dropped)  # fmt: skip
        outcome = "delivered" if result.delivered else ("retrying" if next_at else "failed")
        await repo.insert_attempt(
            conn,
            {
                "org_id": due.org_id, "delivery_id": due.id, "subscription_id": due.subscription_id,
                "event_id": due.event_id, "event_type": due.event_type, "kind": due.kind,
                "target": due.url or due.address, "attempt": attempt, "outcome": outcome,
                "status_code": result.status_code, "duration_ms": duration_ms, "error": result.error,
                "response_body": result.response_body, "next_attempt_at": next_at, "sent_by": self.owner,
            },
        )  # fmt: skip
        logger.info("notifications: %s %s to %s: %s%s", due.event_type, due.event_id, due.kind, outcome,
                    f" ({result.error})" if result.error else "")  # fmt: skip


def _ms_since(started: float) -> int:
    return round(1000 * (time.perf_counter() - started))


def _describe(exc: Exception) -> str:
    """An exception as the delivery log shows it: its type and message, printable, at most 500 characters."""
    return _printable(f"{type(exc).__name__}: {exc}".rstrip(": "))


def _printable(text: str) -> str:
    """At most 500 characters, control characters (NUL, line breaks from odd data) as spaces."""
    return "".join(ch if ch.isprintable() else " " for ch in text[:500])
