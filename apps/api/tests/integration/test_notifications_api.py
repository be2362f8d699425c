"""Webhooks and e-mail recipients over real HTTP and PostgreSQL: the secret shown once, bad input refused.

The module's server has the default safety (no private addresses) and no SMTP server, so e-mail is
off. Nothing here reaches a public address: no event happens in these orgs, no test pings one, and
the one ping sent goes to a loopback receiver, which the send-time check refuses.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from app.repositories import notifications as repo
from app.services.notifications import sealing
from tests.receivers import WebhookReceiver, delivery_log
from tests.support import Identity, LiveServer, TokenFactory

# Public addresses, accepted and never contacted (no event is sent to them in this module).
PUBLIC = "https://hooks.example.com/sellercollection"
PUBLIC_IP = "http://93.184.215.14:8080/hook"
ALL_EVENTS = ["run.completed", "run.paused", "run.failed", "run.cancelled", "schedule.skipped", "schedule.missed"]


async def table_count(live: LiveServer, table: str, org_id: uuid.UUID) -> int:
    async with live.database.pool.connection() as conn:
        row = await (await conn.execute(f"SELECT count(*) AS n FROM {table} WHERE org_id = %s", (org_id,))).fetchone()
    assert row is not None
    return int(row["n"])


async def test_a_webhook_shows_its_secret_once_and_stores_it_sealed(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    me = await make_identity()
    async with live.client(me.token) as api:
        created = await api.post(
            "/notifications/webhooks", json={"url": PUBLIC, "events": ["run.failed", "run.completed", "run.failed"]}
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        secret = hook["secret"]
        assert secret.startswith("whsec_") and len(secret) > 40
        assert hook["events"] == ["run.completed", "run.failed"]  # distinct, sorted
        assert hook["enabled"] is True and hook["kind"] == "webhook" and hook["url"] == PUBLIC
        listed = await api.get("/notifications/webhooks")
        one = await api.get(f"/notifications/webhooks/{hook['id']}")
        changed = await api.patch(f"/notifications/webhooks/{hook['id']}", json={"events": ALL_EVENTS})
    for later in (listed, one, changed):
        assert later.status_code == 200, later.text
        assert secret not in later.text and "secret" not in later.text
    assert changed.json()["events"] == sorted(ALL_EVENTS)
    async with live.database.pool.connection() as conn:
        row = await (
            await conn.execute("SELECT secret_sealed, secret_key_id FROM notification_subscriptions WHERE id = %s",
                               (hook["id"],))
        ).fetchone()  # fmt: skip
    assert row is not None and secret.encode() not in bytes(row["secret_sealed"])
    assert row["secret_key_id"] == "database"  # no SELLERCOLLECTION_SECRET_KEY in the test settings


BAD_URLS = [
    ("http://127.0.0.1:8000/hook", "loopback"),
    ("https://localhost/hook", "names this machine"),
    ("http://api.localhost/hook", "names this machine"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "IPv4-mapped IPv6"),
    ("http://[2002:a9fe:a9fe::1]/hook", "6to4 wrapping a link-local"),  # 169.254.169.254 inside
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook", "Teredo"),
    ("http://192.0.0.9/hook", "IETF protocol assignment"),
    ("http://198.18.0.1/hook", "benchmarking"),
    ("http://239.1.2.3/hook", "multicast"),
    ("http://2130706433/hook", "loopback"),  # 127.0.0.1 as one number, as resolvers read it
    ("http://127.1/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("https://192.168.0.10/hook", "private"),
    ("http://172.16.5.4/hook", "private"),
    ("http://[fd00:ec2::254]/latest/meta-data", "private"),  # AWS's IPv6 metadata address
    ("http://169.254.169.254/latest/meta-data/", "link-local"),  # the cloud metadata address
    ("http://100.100.100.200/hook", "shared (CGNAT)"),  # another cloud's metadata, in shared address space
    ("http://metadata.google.internal/computeMetadata/v1/", "names this machine"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("ftp://files.example.com/hook", "must start with https://"),
    ("javascript:alert(1)", "must start with https://"),
    ("hooks.example.com/no-scheme", "must start with https://"),
    ("https:///no-host", "has no host"),
    ("https://hooks.example.com:99999/", "Not a valid URL"),
    ("https://user:pass@hooks.example.com/", "must not hold a user name or password"),
    ("https://xn--zz.example.com/", "Not a valid URL"),
    ("https://a..example.com/", "does not encode as a host name (IDNA)"),
    ("https://hooks.example.com/a b", "must not contain spaces"),
    ("https://hooks.example.com/" + "a" * 2030, "at most 2048 characters"),
]


@pytest.mark.parametrize(("url", "why"), BAD_URLS, ids=[u[:40] for u, _ in BAD_URLS])
async def test_a_bad_webhook_url_is_422_and_stores_nothing(
    live: LiveServer, make_identity: TokenFactory, url: str, why: str
) -> None:
    me = await make_identity()
    async with live.client(me.token) as api:
        refused = await api.post("/notifications/webhooks", json={"url": url, "events": ["run.completed"]})
        assert refused.status_code == 422, refused.text
        assert why in refused.json()["detail"]
        assert (await api.get("/notifications/webhooks")).json() == {"webhooks": []}
    assert await table_count(live, "notification_subscriptions", me.org_id) == 0


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"url": PUBLIC, "events": ["run.exploded"]}, "body.events.0: Input should be 'run.completed'"),
        ({"url": PUBLIC, "events": ["ping"]}, "body.events.0"),
        ({"url": PUBLIC, "events": []}, "body.events: List should have at least 1 item"),
        ({"url": PUBLIC}, "body.events: Field required"),
        ({"url": 42, "events": ["run.failed"]}, "body.url: Input should be a valid string"),
        ({"url": PUBLIC, "events": "run.failed"}, "body.events: Input should be a valid list"),
        ({"url": "https://h.example.com/\u0000", "events": ["run.failed"]}, "body.url: Value error"),
        ({"url": PUBLIC, "events": ["run.failed"], "secret": "mine"}, "body.secret: Extra inputs"),
        ({"url": PUBLIC, "events": ["run.failed"], "description": "d" * 201}, "body.description"),
    ],
)
async def test_bad_bodies_are_422_naming_the_field(
    live: LiveServer, make_identity: TokenFactory, body: dict[str, Any], why: str
) -> None:
    me = await make_identity()
    async with live.client(me.token) as api:
        refused = await api.post("/notifications/webhooks", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"].startswith(why), refused.text
    assert await table_count(live, "notification_subscriptions", me.org_id) == 0


async def test_odd_bytes_and_a_huge_body_are_clear_4xx(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    async with live.client(me.token) as api:
        not_json = await api.post(
            "/notifications/webhooks", content=b"\xff\xfe{not json", headers={"content-type": "application/json"}
        )
        huge = await api.post("/notifications/webhooks", json={"url": PUBLIC, "events": ["run.failed"] * 100_000})
    assert not_json.status_code in (400, 422) and not_json.json()["detail"]
    assert huge.status_code == 422 and "at most 20 items" in huge.json()["detail"]
    assert await table_count(live, "notification_subscriptions", me.org_id) == 0


async def test_change_disable_enable_delete_and_the_url_checked_again(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    me = await make_identity()
    async with live.client(me.token) as api:
        hook = (await api.post("/notifications/webhooks", json={"url": PUBLIC_IP, "events": ["run.failed"]})).json()
        path = f"/notifications/webhooks/{hook['id']}"
        private = await api.patch(path, json={"url": "http://10.0.0.1/x"})
        assert private.status_code == 422 and "private" in private.json()["detail"]
        assert (await api.patch(path, json={"url": None})).status_code == 422
        assert (await api.get(path)).json()["url"] == PUBLIC_IP  # unchanged
        off = (await api.patch(path, json={"enabled": False})).json()
        assert off["enabled"] is False and off["disabled_reason"] == "Disabled by a user"
        on = (await api.patch(path, json={"enabled": True, "description": "Team chat"})).json()
        assert on["enabled"] is True and on["disabled_reason"] is None and on["description"] == "Team chat"
        assert (await api.delete(path)).status_code == 204
        for method in ("GET", "PATCH", "DELETE"):
            gone = await api.request(method, path, json={"enabled": True} if method == "PATCH" else None)
            assert gone.status_code == 404 and gone.json()["detail"] == "Webhook not found"
        assert (await api.post(f"{path}/test")).status_code == 404


async def test_another_orgs_webhook_is_404_and_permissions_are_checked(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    owner, other = await make_identity(), await make_identity()
    reader: Identity = await make_identity(permissions=("sellers.read", "sellers.write"))
    async with live.client(owner.token) as api:
        hook = (await api.post("/notifications/webhooks", json={"url": PUBLIC, "events": ["run.failed"]})).json()
    path = f"/notifications/webhooks/{hook['id']}"
    async with live.client(other.token) as api:
        for method, url in [("GET", path), ("PATCH", path), ("DELETE", path), ("POST", f"{path}/test"),
                            ("GET", path.replace("webhooks", "emails"))]:  # fmt: skip
            answer = await api.request(method, url, json={"enabled": False} if method == "PATCH" else None)
            assert answer.status_code == 404, (method, url, answer.text)
        assert (await api.get("/notifications/webhooks")).json() == {"webhooks": []}
        assert (await api.get("/notifications/deliveries")).json() == {"deliveries": [], "next_cursor": None}
    async with live.client(reader.token) as api:
        assert (await api.get("/notifications/webhooks")).status_code == 403
        assert (
            await api.post("/notifications/webhooks", json={"url": PUBLIC, "events": ["run.failed"]})
        ).status_code == 403
    async with httpx.AsyncClient(base_url=live.base_url) as anonymous:
        assert (await anonymous.get("/notifications/deliveries")).status_code == 401
    async with live.client(owner.token) as api:
        assert (await api.get(path)).json()["enabled"] is True  # untouched by the other org


async def test_email_is_off_without_smtp_and_the_api_says_so(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    async with live.client(me.token) as api:
        listed = (await api.get("/notifications/emails")).json()
        added = await api.post("/notifications/emails", json={"address": "team@example.com", "events": ALL_EVENTS})
        bad = await api.post("/notifications/emails", json={"address": "team@example.com\r\nBcc: x@y.z",
                                                            "events": ALL_EVENTS})  # fmt: skip
        test = await api.post(f"/notifications/emails/{uuid.uuid4()}/test")
        async with live.database.pool.connection() as conn:  # a recipient kept from when e-mail was on
            await repo.insert_subscription(
                conn, {"id": (kept := uuid.uuid4()), "org_id": me.org_id, "kind": "email",
                       "address": "kept@example.com", "events": ["run.failed"]},
            )  # fmt: skip
        kept_test = await api.post(f"/notifications/emails/{kept}/test")
    assert listed["email_enabled"] is False and "SELLERCOLLECTION_SMTP_URL is not set" in listed["detail"]
    assert listed["recipients"] == []
    assert added.status_code == 409 and "SELLERCOLLECTION_SMTP_URL is not set" in added.json()["detail"]
    assert bad.status_code == 422 and bad.json()["detail"].startswith("body.address")
    assert test.status_code == 404  # an unknown recipient is not found, whether or not e-mail is on
    assert kept_test.status_code == 409 and "SELLERCOLLECTION_SMTP_URL is not set" in kept_test.json()["detail"]
    assert await table_count(live, "notification_events", me.org_id) == 0
    assert await table_count(live, "notification_subscriptions", me.org_id) == 1  # only the one kept


async def test_the_delivery_log_refuses_a_forged_cursor(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    async with live.client(me.token) as api:
        for cursor in ("nope", "W10", "WyJ4IiwgInkiXQ", "\u00e9\u0000"):
            answer = await api.get("/notifications/deliveries", params={"cursor": cursor})
            assert answer.status_code == 422, (cursor, answer.text)
        assert (await api.get("/notifications/deliveries", params={"limit": 0})).status_code == 422
        assert (await api.get("/notifications/deliveries", params={"limit": 201})).status_code == 422


async def test_a_name_that_resolves_inside_is_refused_when_sent(live: LiveServer, make_identity: TokenFactory) -> None:
    """A stored URL whose name resolves to a loopback address (DNS changed since, say) is never connected to."""
    me = await make_identity()
    with WebhookReceiver() as receiver:
        hook_id = uuid.uuid4()
        async with live.database.pool.connection() as conn:
            sealed, key_id = await sealing.seal(conn, live.runtime.settings, "whsec_x", subscription_id=hook_id)
            await repo.insert_subscription(
                conn,
                {"id": hook_id, "org_id": me.org_id, "kind": "webhook", "url": f"http://localhost:{receiver.port}/",
                 "events": ["run.failed"], "secret_sealed": sealed, "secret_key_id": key_id},
            )  # fmt: skip
        async with live.client(me.token) as api:
            assert (await api.post(f"/notifications/webhooks/{hook_id}/test")).status_code == 202
            [tried] = await delivery_log(api, 1)
        assert receiver.received == []
    assert tried["outcome"] == "retrying" and tried["status_code"] is None
    assert re.fullmatch(r"Refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address", tried["error"])
