"""One e-mail try: an event as plain text and HTML with the same facts, through `SELLERCOLLECTION_SMTP_URL`.

`smtp://user:password@host:587` speaks plain SMTP and upgrades with STARTTLS when the server offers
it; `smtps://user:password@host:465` is TLS from the first byte. The user and password are optional.
"""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib

from app.config import Settings
from app.services.notifications.outbox import Event
from app.services.notifications.result import TIMEOUT_SECONDS, SendResult, first_kilobyte

OFF = "E-mail is off: SELLERCOLLECTION_SMTP_URL is not set"


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None


def smtp_server(settings: Settings) -> SmtpServer | None:
    """The configured SMTP server; None while e-mail is off."""
    if settings.smtp_url is None:
        return None
    parts = urlsplit(settings.smtp_url.get_secret_value())
    use_tls = parts.scheme == "smtps"
    return SmtpServer(
        hostname=parts.hostname or "localhost",
        port=parts.port or (465 if use_tls else 25),
        use_tls=use_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _money(value: Any) -> str:
    return f"${float(value):,.2f}"


def describe(event: Event) -> tuple[str, list[tuple[str, str]], str | None]:
    """The subject, the facts (label, value) and the link of an event, for both parts of the mail."""
    data = event.data
    if event.type.startswith("run."):
        counts = data["counts"]
        facts = [
            ("Run", data["name"]),
            ("Status", data["status"]),
            ("Reason", data["reason"] or "–"),
            ("Started by", "a schedule" if data["trigger"] == "schedule" else "a person"),
            ("Sellers found", f"{counts['sellers_found']:,}"),
            ("New sellers", f"{counts['sellers_new']:,}"),
            ("Upstream requests", f"{counts['requests_total']:,}"),
            ("Upstream cost", _money(counts["upstream_cost"])),
        ]
        facts += [("Best new seller", f"{s['name']} (score {s['score']})") for s in data["best_new_sellers"]]
        return f"Run “{data['name']}” {data['status']}", facts, data["url"]
    if event.type.startswith("schedule."):
        facts = [
            ("Schedule", data["name"]),
            ("Outcome", data["outcome"]),
            ("Reason", data["reason"] or "–"),
            ("Fire time", data["fire_time"]),
            ("Fire times", str(data["fire_count"])),
        ]
        return f"Schedule “{data['name']}” {data['outcome']} a run", facts, data["url"]
    return "Test notification", [("Message", data["message"])], data["url"]


def one_line(value: str) -> str:
    """`value` with every line break, tab and control character as one space, so it stays on its line.

    A run or schedule name holding CR/LF would otherwise end a header (or start a fake one: "Bcc: ...")
    or a line of the text part; the email package's policy (policy.default) then folds long header
    values and encodes non-ASCII ones (RFC 2047), and refuses any line break left.
    """
    return " ".join("".join(ch if unicodedata.category(ch) != "Cc" else " " for ch in value).split())


def message(event: Event, *, sender: str, to: str) -> EmailMessage:
    subject, facts, link = describe(event)
    subject = one_line(subject)
    facts = [(label, one_line(value)) for label, value in facts]
    facts += [("Event", f"{event.type} {event.id}"), ("At", event.created_at.isoformat())]
    mail = EmailMessage(policy=policy.default)
    mail["Subject"] = f"[SellerCollection] {subject}"
    mail["From"] = one_line(sender)
    mail["To"] = one_line(to)
    mail["Message-ID"] = make_msgid(domain="sellercollection")
    mail["X-SellerCollection-Event-Id"] = str(event.id)
    text = [subject, "", *(f"{label}: {value}" for label, value in facts)]
    if link:
        text += ["", f"Open: {link}"]
    mail.set_content("\n".join(text) + "\n")
    rows = "".join(
        f'<tr><th align="left">{html.escape(label)}</th><td>{html.escape(value)}</td></tr>' for label, value in facts
    )
    opener = f'<p><a href="{html.escape(link)}">Open in SellerCollection</a></p>' if link else ""
    mail.add_alternative(
        f"<!doctype html><html><body><h1>{html.escape(subject)}</h1><table>{rows}</table>{opener}</body></html>",
        subtype="html",
    )
    return mail


async def send(server: SmtpServer, mail: EmailMessage, *, to: str) -> SendResult:
    """Hand the mail to the server for `to` alone (never recipients read from its headers); delivered on 250."""
    try:
        _refused, reply = await aiosmtplib.send(
            mail,
            recipients=[to],
            hostname=server.hostname,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.use_tls,
            timeout=TIMEOUT_SECONDS,
        )
    except aiosmtplib.SMTPResponseException as exc:
        return SendResult(delivered=False, status_code=exc.code, error=f"SMTP {exc.code}: {exc.message}")
    return SendResult(delivered=True, status_code=250, response_body=first_kilobyte(reply.encode()))
