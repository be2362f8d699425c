"""Real receivers for notifications, on loopback: a webhook receiver (HTTP) and an SMTP server (aiosmtpd).

Both run in threads of their own, so sync tests (served processes) and async tests (whose event loop
runs the server under test) use them alike. The webhook receiver answers from a script of statuses
(then 200), can hold every request until released (a delivery in flight), and records what came.
`readme_verify()` is the signature check exactly as README.md shows it to receivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

README = Path(__file__).resolve().parents[3] / "README.md"


async def delivery_log(api: httpx.AsyncClient, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    """GET /notifications/deliveries once it lists `count` tries (a try is recorded just after its answer)."""
    deadline = time.monotonic() + timeout
    while True:
        page = (await api.get("/notifications/deliveries", params={"limit": 200})).json()
        listed: list[dict[str, Any]] = page["deliveries"]
        if len(listed) >= count:
            return listed
        # The commit that records a try happens in the server's worker; only asking shows it.
        assert time.monotonic() < deadline, f"the delivery log holds {len(listed)} tries, not {count}"
        await asyncio.sleep(0.05)


_DELIVERED = (
    "SELECT count(*) FROM notification_deliveries d JOIN orgs o ON o.id = d.org_id "
    "WHERE o.name = %s AND d.status = 'delivered'"
)


def wait_delivered(db_url: str, org: str, count: int, timeout: float = 30) -> None:
    """Until `count` of the org's deliveries are recorded delivered (a server records a try after its answer)."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(db_url) as conn:
            row = conn.execute(_DELIVERED, (org,)).fetchone()
        if row is not None and row[0] >= count:
            return
        # Another process's commit is only visible by asking the database.
        assert time.monotonic() < deadline, f"{row} deliveries recorded, not {count}"
        time.sleep(0.05)


def readme_verify() -> Callable[..., bool]:
    """The `verify(secret, body, header)` function of README.md's "Verifying the signature" example."""
    section = README.read_text().split("### Verifying the signature", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "README.md has no python example under 'Verifying the signature'"
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    verify: Callable[..., bool] = namespace["verify"]
    return verify


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lowercased names
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded

    @property
    def event_id(self) -> str:
        return str(self.payload["id"])


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers from `answers` (then 200)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: deque[tuple[int, bytes]] = deque()
        self.delay = 0.0
        self.holding = threading.Event()  # set: requests wait until `release()`
        self._released = threading.Event()
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._changed:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    receiver._changed.notify_all()
                    status, answer = receiver.answers.popleft() if receiver.answers else (200, b"ok")
                if receiver.holding.is_set():
                    receiver._released.wait(60)
                time.sleep(receiver.delay)
                with contextlib.suppress(OSError):  # the sender may be gone (killed while it waited)
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def release(self) -> None:
        self.holding.clear()
        self._released.set()

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 60) -> list[Received]:
        """Until `predicate(received)` holds (AssertionError after `timeout` seconds); blocks this thread."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.received), timeout):
                raise AssertionError(f"the receiver got {len(self.received)} requests, not what was awaited")
            return list(self.received)

    async def until(self, predicate: Callable[[list[Received]], bool], timeout: float = 60) -> list[Received]:
        """`wait_for` for async tests, off the event loop (the server under test runs in it)."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout)

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


# --- SMTP ------------------------------------------------------------------------------------------

SMTP_USER, SMTP_PASSWORD = "mailer", "s3cret pass"


class SmtpSink:
    """aiosmtpd on 127.0.0.1:`port`, requiring SMTP_USER / SMTP_PASSWORD (over plain SMTP, for the test)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._changed = threading.Condition()
        sink = self

        class Handler:
            async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
                content = envelope.original_content or b""
                with sink._changed:
                    sink.messages.append(message_from_bytes(content, policy=policy.default))  # type: ignore[arg-type]
                    sink.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
                    sink._changed.notify_all()
                return "250 Message accepted for delivery"

        def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                SMTP_USER.encode(),
                SMTP_PASSWORD.encode(),
            )
            return AuthResult(success=ok)

        self._controller = Controller(
            Handler(), hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False
        )

    def url(self) -> str:
        return f"smtp://{SMTP_USER}:{SMTP_PASSWORD.replace(' ', '%20')}@127.0.0.1:{self.port}"

    def wait_for(self, count: int, timeout: float = 60) -> list[EmailMessage]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"{len(self.messages)} e-mails arrived, not {count}")
            return list(self.messages)

    async def until(self, count: int, timeout: float = 60) -> list[EmailMessage]:
        return await asyncio.to_thread(self.wait_for, count, timeout)

    @contextlib.contextmanager
    def running(self) -> Iterator[SmtpSink]:
        self._controller.start()
        try:
            yield self
        finally:
            self._controller.stop()
