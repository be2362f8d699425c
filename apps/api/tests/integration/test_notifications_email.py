"""E-mail notifications through a real SMTP server (aiosmtpd on loopback, with a user and password)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.receivers import SmtpSink, delivery_log
from tests.support import Feed, LiveServer, TokenFactory, free_port, leaf_ids, start_run, terminal

SMTP = SmtpSink(free_port())
SETTINGS: dict[str, Any] = {"smtp_url": SMTP.url(), "smtp_from": "Runs <runs@sellercollection.test>"}


@pytest.fixture(scope="module", autouse=True)
def smtp() -> Iterator[SmtpSink]:
    with SMTP.running() as running:
        yield running


def part(mail: Any, subtype: str) -> str:
    found = mail.get_body(preferencelist=(subtype,))
    assert found is not None and found.get_content_subtype() == subtype
    text: str = found.get_content()
    return text


async def test_a_run_completion_is_mailed_as_text_and_html_with_the_same_facts(
    live: LiveServer, make_identity: TokenFactory, smtp: SmtpSink
) -> None:
    me = await make_identity()
    async with live.client(me.token) as api:
        status = (await api.get("/notifications/emails")).json()
        assert status["email_enabled"] is True and f"127.0.0.1:{smtp.port}" in status["detail"]
        added = await api.post(
            "/notifications/emails", json={"address": "team@example.com", "events": ["run.completed"]}
        )
        assert added.status_code == 201, added.text
        again = await api.post("/notifications/emails", json={"address": "TEAM@example.com", "events": ["run.failed"]})
        assert again.status_code == 409 and "already a recipient" in again.json()["detail"]
        ids = leaf_ids((await api.get("/amazon/categories")).json())
        run, feed = await start_run(live, api, ids[:1], name="Kitchen <b>&</b> bath")
        await feed.until(terminal)
        [mail] = await smtp.until(1)
        final = (await api.get(f"/collection/runs/{run['id']}")).json()
        [tried] = await delivery_log(api, 1)
    assert smtp.envelopes == [("runs@sellercollection.test", ["team@example.com"])]
    assert mail["Subject"] == "[SellerCollection] Run “Kitchen <b>&</b> bath” completed"
    assert mail["To"] == "team@example.com" and mail["From"] == "Runs <runs@sellercollection.test>"
    text, html = part(mail, "plain"), part(mail, "html")
    facts = [
        "Kitchen <b>&</b> bath",
        f"{final['sellers_found']:,}",
        f"{final['sellers_new']:,}",
        f"{final['requests_total']:,}",
        f"http://127.0.0.1:8000/runs/{run['id']}",
        mail["X-SellerCollection-Event-Id"],
    ]
    for fact in facts:
        assert fact in text, fact
        assert fact.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in html, fact
    assert "<b>&</b>" not in html  # the run's name is text in the HTML part, never markup
    assert (tried["kind"], tried["target"], tried["outcome"], tried["status_code"]) == (
        "email", "team@example.com", "delivered", 250,
    )  # fmt: skip


async def test_a_test_mail_is_sent_and_logged(live: LiveServer, make_identity: TokenFactory, smtp: SmtpSink) -> None:
    me = await make_identity()
    async with live.client(me.token) as api:
        recipient = (
            await api.post("/notifications/emails", json={"address": "ops@example.com", "events": ["run.failed"]})
        ).json()
        before = len(smtp.messages)
        assert (await api.post(f"/notifications/emails/{recipient['id']}/test")).status_code == 202
        mails = await smtp.until(before + 1)
        [tried] = await delivery_log(api, 1)
    assert mails[-1]["Subject"] == "[SellerCollection] Test notification"
    assert tried["event_type"] == "ping" and tried["outcome"] == "delivered"


async def test_a_run_name_with_line_breaks_adds_no_header_and_non_ascii_arrives_intact(
    live: LiveServer, make_identity: TokenFactory, smtp: SmtpSink
) -> None:
    me = await make_identity()
    name = "Küche ☃\r\nBcc: evil@example.com"
    async with live.client(me.token) as api:
        added = await api.post(
            "/notifications/emails", json={"address": "ops@example.org", "events": ["run.completed"]}
        )
        assert added.status_code == 201, added.text
        ids = leaf_ids((await api.get("/amazon/categories")).json())
        run = (await api.post("/collection/runs", json={"category_ids": ids[:1], "name": "placeholder"})).json()
        # The API refuses control characters in a name; a row written otherwise (older, or by hand) may hold them.
        async with live.database.pool.connection() as conn:
            await conn.execute("UPDATE collection_runs SET name = %s WHERE id = %s", (name, run["id"]))
        before = len(smtp.messages)
        feed = Feed(live, run["id"])
        assert (await api.post(f"/collection/runs/{run['id']}/start")).status_code == 200
        await feed.until(terminal)
        mails = await smtp.until(before + 1)
        [tried] = await delivery_log(api, 1)
    mail, envelope = mails[before], smtp.envelopes[before]
    assert tried["outcome"] == "delivered"
    assert envelope == ("runs@sellercollection.test", ["ops@example.org"])
    assert mail["Bcc"] is None and "evil@example.com" not in envelope[1]
    assert sorted(mail.keys()) == sorted(
        ["Subject", "From", "To", "Message-ID", "X-SellerCollection-Event-Id", "Content-Type", "MIME-Version"]
    )
    assert mail["Subject"] == "[SellerCollection] Run “Küche ☃ Bcc: evil@example.com” completed"
    assert "Run: Küche ☃ Bcc: evil@example.com\r\nStatus: completed" in part(mail, "plain")
