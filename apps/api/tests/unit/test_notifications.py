"""Notifications without a server: the signature, which addresses webhooks may reach, the retry schedule,
what the log keeps of an answer, and the two parts of an e-mail."""

from __future__ import annotations

import ipaddress
import itertools
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from app.config import Settings
from app.db.pool import Conn
from app.errors import InvalidInput
from app.services.notifications import mail, retry, sealing
from app.services.notifications.outbox import Event
from app.services.notifications.result import first_kilobyte
from app.services.notifications.signing import signature
from app.services.notifications.targets import UnsafeTarget, check_webhook_url, resolve_public, why_not_public
from tests.receivers import readme_verify


def test_the_signature_is_hmac_sha256_of_time_dot_body() -> None:
    # Computed with: printf '%s' '1700000000.{"id":"e1","type":"ping"}' | openssl dgst -sha256 -hmac whsec_test
    expected = "0d7f29c442e994b76c9163904aacfae80dae69fb454d6ac294faf86e90470181"
    assert signature("whsec_test", b'{"id":"e1","type":"ping"}', 1700000000) == f"t=1700000000,v1={expected}"


def test_the_readme_example_accepts_our_signature_and_nothing_else() -> None:
    verify = readme_verify()
    body, now = b'{"id":"e1"}', int(time.time())
    assert verify("whsec_a", body, signature("whsec_a", body, now))
    assert not verify("whsec_b", body, signature("whsec_a", body, now))
    assert not verify("whsec_a", body + b"\n", signature("whsec_a", body, now))
    assert not verify("whsec_a", body, signature("whsec_a", body, now - 3600))  # a replay, an hour late


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:10.0.0.1", "IPv4-mapped IPv6"),
        ("::ffff:8.8.8.8", "IPv4-mapped IPv6"),  # refused even to a public address: write the IPv4 one
        ("64:ff9b::a9fe:a9fe", "link-local (cloud metadata lives here)"),  # 169.254.169.254 through NAT64
        ("64:ff9b:1::1", "reserved"),  # local-use NAT64
        ("169.254.169.254", "link-local (cloud metadata lives here)"),
        ("fe80::1", "link-local (cloud metadata lives here)"),
        ("10.20.30.40", "private"),
        ("fd12::1", "private"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.100.100.200", "shared (CGNAT)"),  # Alibaba Cloud's metadata address
        ("192.0.0.9", "IETF protocol assignment"),  # Python 3.11 calls this one global
        ("192.0.0.170", "IETF protocol assignment"),
        ("198.18.0.1", "benchmarking"),
        ("2001:2::1", "benchmarking"),
        ("192.0.2.1", "documentation"),
        ("2001:db8::1", "documentation"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("2002:a00:1::1", "6to4 wrapping a private"),  # 10.0.0.1 inside
        ("2002:7f00:1::1", "6to4 wrapping a loopback"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.88.99.1", "reserved"),
        ("100::1", "reserved"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("2002:808:808::1", None),  # 6to4 wrapping the public 8.8.8.8
    ],
)
def test_which_addresses_are_public(address: str, kind: str | None) -> None:
    assert why_not_public(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x?token=1",
        "http://93.184.215.14:8080/",
        "https://[2606:4700::1111]/h",
        "HTTPS://A.B/",
        "https://bücher.example/hook",  # an IDN: sent as xn--bcher-kva.example
        "https://xn--bcher-kva.example/hook",
        "https://my_hooks.example.com./x",
    ],
)
def test_public_urls_are_accepted_without_resolving_them(url: str) -> None:
    check_webhook_url(url, allow_private=False)


def test_an_idn_host_is_checked_and_sent_in_its_ascii_form() -> None:
    target = check_webhook_url("https://Bücher.example:8443/hook", allow_private=False)
    assert (target.host, target.port) == ("xn--bcher-kva.example", 8443)
    assert target.url.netloc == b"xn--bcher-kva.example:8443"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://user:pass@hooks.example.com/", "must not hold a user name or password"),
        ("https://token@hooks.example.com/", "must not hold a user name or password"),
        ("https://hooks.example.com\\@10.0.0.1/", "must not hold a user name or password"),
        ("https://xn--zz.example/", "Not a valid URL"),  # a punycode label that does not decode
        ("https://☃.example/", "Not a valid URL"),  # a symbol IDNA 2008 does not allow
        ("https://a..example/", "does not encode as a host name (IDNA)"),
        ("https://" + "a" * 64 + ".example/", "does not encode as a host name (IDNA)"),
        ("https://%41.example/", "is not a valid host name or address"),
        ("https://hooks.example.com:0/", "port 0 is out of range"),
        ("https://hooks.example.com:99999/", "port 99999 is out of range"),
        ("https://[fe80::1%25eth0]/", "is not a valid host name or address"),
        ("https://hooks.example.com/\r\nX: 1", "must not contain spaces or control characters"),
        ("https://hooks.example.com/" + "a" * 2030, "at most 2048 characters"),
        ("ftp://hooks.example.com/", "must start with https://"),
    ],
)
def test_malformed_urls_are_refused_even_when_private_addresses_are_allowed(url: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(why)):
        check_webhook_url(url, allow_private=True)


def test_allowing_private_addresses_lifts_only_the_address_rules() -> None:
    check_webhook_url("http://127.0.0.1:9000/hook", allow_private=True)
    check_webhook_url("http://localhost/hook", allow_private=True)
    check_webhook_url("http://[::ffff:10.0.0.1]/hook", allow_private=True)
    with pytest.raises(InvalidInput, match="must start with https://"):
        check_webhook_url("file:///etc/passwd", allow_private=True)
    with pytest.raises(InvalidInput, match="user name or password"):
        check_webhook_url("http://u:p@127.0.0.1/", allow_private=True)


async def test_a_name_is_resolved_and_every_address_checked_when_sent() -> None:
    with pytest.raises(UnsafeTarget, match=r"Refused: localhost resolves to .*, a loopback address"):
        await resolve_public("localhost", 80, allow_private=False)
    assert ipaddress.ip_address(await resolve_public("localhost", 80, allow_private=True)).is_loopback
    assert await resolve_public("127.0.0.1", 80, allow_private=True) == "127.0.0.1"


def test_the_retry_schedule_is_eight_tries_within_a_day_the_first_retry_within_ten_seconds() -> None:
    assert all(2 <= retry.backoff_seconds(1) <= 5 for _ in range(200))
    for _ in range(50):
        start = now = datetime(2026, 3, 1, tzinfo=UTC)
        tries = [now]
        while (later := retry.next_attempt_at(len(tries), start, now)) is not None:
            assert later > now
            now = later
            tries.append(now)
        assert len(tries) == 8
        assert tries[1] - tries[0] <= timedelta(seconds=10)
        assert tries[-1] - tries[0] <= timedelta(hours=24)
        gaps = [b - a for a, b in itertools.pairwise(tries)]
        assert gaps == sorted(gaps)  # each wait is longer than the one before
    assert retry.next_attempt_at(3, start, start + timedelta(hours=24)) is None  # the day is over


def test_the_log_keeps_at_most_one_kilobyte_of_an_answer_as_text() -> None:
    assert first_kilobyte(b"") is None
    assert first_kilobyte(b"x" * 5000) == "x" * 1024
    kept = first_kilobyte(b"\xff\x00" * 1000)
    assert kept is not None and "\x00" not in kept and len(kept.encode()) <= 1024
    assert first_kilobyte("é".encode() * 600) == "é" * 512


def _event(event_type: str, data: dict[str, object]) -> Event:
    return Event(uuid.uuid4(), event_type, datetime(2026, 3, 1, 2, 30, tzinfo=UTC), uuid.uuid4(), data)  # type: ignore[arg-type]


def test_the_payload_is_the_documented_shape_and_the_same_bytes_every_time() -> None:
    event = _event("ping", {"message": "hi", "url": "http://x/notifications"})
    assert event.body() == event.body()
    assert set(event.payload()) == {"id", "type", "created_at", "org_id", "data"}
    assert event.payload()["created_at"] == "2026-03-01T02:30:00+00:00"


def test_an_email_has_the_same_facts_as_text_and_escaped_html() -> None:
    data = {
        "id": "r1", "name": "<script>x</script>", "status": "failed", "reason": "No products", "trigger": "schedule",
        "schedule_id": None, "url": "http://h/runs/r1", "best_new_sellers": [{"name": "acme & co", "score": 91}],
        "counts": {"sellers_found": 1234, "sellers_new": 5, "requests_total": 99, "upstream_cost": 0.1485},
    }  # fmt: skip
    message = mail.message(_event("run.failed", data), sender="a@b.c", to="team@example.com")
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    plain, markup = text.get_content(), html.get_content()
    assert message["Subject"] == "[SellerCollection] Run “<script>x</script>” failed"
    for fact in ("1,234", "No products", "a schedule", "$0.15", "acme & co (score 91)", "http://h/runs/r1"):
        assert fact in plain
        assert fact.replace("&", "&amp;") in markup
    assert "<script>" not in markup and "&lt;script&gt;" in markup


def test_smtp_urls_are_read_with_their_user_password_and_tls() -> None:
    plain = mail.smtp_server(Settings(_env_file=None, smtp_url="smtp://u%40x:p%20w@mail.example.com:2525"))  # type: ignore[call-arg]
    tls = mail.smtp_server(Settings(_env_file=None, smtp_url="smtps://mail.example.com"))  # type: ignore[call-arg]
    assert plain == mail.SmtpServer("mail.example.com", 2525, False, "u@x", "p w")
    assert tls == mail.SmtpServer("mail.example.com", 465, True, None, None)
    assert mail.smtp_server(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="must start with smtp:// or smtps://"):
        Settings(_env_file=None, smtp_url="http://mail.example.com")  # type: ignore[call-arg]


async def test_a_secret_sealed_under_the_configured_key_opens_only_with_it() -> None:
    no_database = cast(Conn, None)  # the configured key needs no database
    key = Settings(_env_file=None, secret_key="k" * 32)  # type: ignore[call-arg]
    other = Settings(_env_file=None, secret_key="o" * 32)  # type: ignore[call-arg]
    hook = uuid.uuid4()
    sealed, key_id = await sealing.seal(no_database, key, "whsec_abc", subscription_id=hook)
    assert key_id.startswith("setting:") and b"whsec_abc" not in sealed
    assert await sealing.unseal(no_database, key, sealed, key_id=key_id, subscription_id=hook) == "whsec_abc"
    with pytest.raises(sealing.SecretUnavailable, match="sealed with another SELLERCOLLECTION_SECRET_KEY"):
        await sealing.unseal(no_database, other, sealed, key_id=key_id, subscription_id=hook)
    with pytest.raises(sealing.SecretUnavailable, match="does not open"):  # copied onto another subscription
        await sealing.unseal(no_database, key, sealed, key_id=key_id, subscription_id=uuid.uuid4())
    with pytest.raises(ValueError, match="at least 32 characters"):
        Settings(_env_file=None, secret_key="short")  # type: ignore[call-arg]
