"""X-Forwarded-For is believed only from the proxies in SELLERCOLLECTION_TRUSTED_PROXIES (none by default).

Real `sellercollection serve` processes over loopback. Linux routes all of 127.0.0.0/8 to the
loopback device, so a client can connect from 127.0.0.2 or 127.0.0.3 as well as 127.0.0.1: the
peer address the server sees is real, and differs between clients.

uvicorn's own default believes the header from 127.0.0.1, so before this was fixed a client on the
same host could give every bad token a new address and never be throttled, or send bad tokens "as"
another address and lock that one out.
"""

from __future__ import annotations

import re

import httpx

from tests.support import ServedProcess, demo_env, served_process

FAILURES = 5
PROXY = "127.0.0.2"


def client_from(served: ServedProcess, address: str, token: str) -> httpx.Client:
    """A client whose connections come from `address` (a loopback address), sending `token`."""
    return httpx.Client(
        base_url=served.base,
        headers={"Authorization": f"Bearer {token}"},
        transport=httpx.HTTPTransport(local_address=address),
    )


def access_log_peers(served: ServedProcess) -> set[str]:
    """The client addresses uvicorn's access log recorded for /auth/me."""
    return set(re.findall(r"(\d+\.\d+\.\d+\.\d+):\d+ - \"GET /auth/me", served.output()))


def test_without_a_trusted_proxy_the_header_is_ignored(db_url: str) -> None:
    with served_process(demo_env(db_url, SELLERCOLLECTION_SIGNIN_FAILURES_PER_MINUTE=str(FAILURES))) as served:
        victim_token = served.token("Forwarded team", "victim@example.com")
        # Bad tokens sent "as" 127.0.0.3 do not lock 127.0.0.3 out ...
        with client_from(served, "127.0.0.1", "sc_wrong") as spoofing:
            framed = [
                spoofing.get("/auth/me", headers={"X-Forwarded-For": "127.0.0.3"}).status_code
                for _ in range(FAILURES + 1)
            ]
            # ... and a new address per bad token does not escape the throttle: it is keyed on the peer.
            rotating = [
                spoofing.get("/auth/me", headers={"X-Forwarded-For": f"10.9.{i}.1"}).status_code for i in range(5)
            ]
        with client_from(served, "127.0.0.3", victim_token) as victim:
            victim_answer = victim.get("/auth/me").status_code
        peers = access_log_peers(served)
    assert framed == [401] * FAILURES + [429]
    assert rotating == [429] * 5
    assert victim_answer == 200
    assert peers == {"127.0.0.1", "127.0.0.3"}  # the real peers, never a forwarded address


def test_a_trusted_proxy_forwards_each_client_address(db_url: str) -> None:
    env = demo_env(
        db_url, SELLERCOLLECTION_SIGNIN_FAILURES_PER_MINUTE=str(FAILURES), SELLERCOLLECTION_TRUSTED_PROXIES=PROXY
    )
    with served_process(env) as served:
        token = served.token("Proxied team", "proxied@example.com")
        with client_from(served, PROXY, "sc_wrong") as proxy, client_from(served, PROXY, token) as proxy_good:
            guessing = [
                proxy.get("/auth/me", headers={"X-Forwarded-For": "203.0.113.7"}).status_code
                for _ in range(FAILURES + 1)
            ]
            # Another client behind the same proxy is not the one that guessed.
            other_client = proxy_good.get("/auth/me", headers={"X-Forwarded-For": "203.0.113.8"}).status_code
        # The header from a peer that is not a trusted proxy is ignored: it cannot lock 203.0.113.8 out.
        with client_from(served, "127.0.0.1", "sc_wrong") as direct:
            direct_answers = [
                direct.get("/auth/me", headers={"X-Forwarded-For": "203.0.113.8"}).status_code
                for _ in range(FAILURES + 1)
            ]
        with client_from(served, PROXY, token) as proxy_good:
            still_fine = proxy_good.get("/auth/me", headers={"X-Forwarded-For": "203.0.113.8"}).status_code
        peers = access_log_peers(served)
    assert guessing == [401] * FAILURES + [429]
    assert other_client == 200
    assert direct_answers == [401] * FAILURES + [429]
    assert still_fine == 200
    assert peers == {"203.0.113.7", "203.0.113.8", "127.0.0.1"}
