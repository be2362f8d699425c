"""Failed sign-ins are throttled per client address, without a database query once throttled."""

from __future__ import annotations

from typing import Any

from app import __version__
from tests.support import LiveServer, ServerFactory, TokenFactory

FAILURES = 3
SCRAPE_TOKEN = "scrape-secret-for-tests"


SETTINGS: dict[str, Any] = {"signin_failures_per_minute": FAILURES}


async def test_failed_sign_ins_are_throttled_per_address_without_queries(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    me = await make_identity()
    pool = live.database.pool
    async with live.client("sc_wrong") as bad, live.client(me.token) as good:
        first = [await bad.get("/auth/me") for _ in range(FAILURES)]
        before = pool.get_stats().get("requests_num", 0)
        throttled = [await bad.get("/auth/me") for _ in range(20)]
        valid_meanwhile = await good.get("/auth/me")
        after = pool.get_stats().get("requests_num", 0)
    assert [r.status_code for r in first] == [401] * FAILURES
    assert {r.status_code for r in throttled} == {429}
    assert all(int(r.headers["retry-after"]) >= 1 for r in throttled)
    assert valid_meanwhile.status_code == 429  # the address is throttled, whatever it presents
    assert after == before  # no connection was even taken from the pool


async def test_wrong_metrics_tokens_are_throttled_like_any_credential(serve_with: ServerFactory) -> None:
    async with (
        serve_with(signin_failures_per_minute=FAILURES, metrics_token=SCRAPE_TOKEN) as server,
        server.client("wrong-scrape-token") as guessing,
        server.client(SCRAPE_TOKEN) as scraper,
    ):
        answers = [(await guessing.get("/metrics")).status_code for _ in range(FAILURES + 5)]
        right_meanwhile = await scraper.get("/metrics")
    assert answers == [401] * FAILURES + [429] * 5
    assert right_meanwhile.status_code == 429  # the address is throttled, whatever it presents


async def test_health_shows_the_version_only_to_a_signed_in_caller(
    serve_with: ServerFactory, make_identity: TokenFactory
) -> None:
    me = await make_identity()
    async with serve_with(signin_failures_per_minute=FAILURES) as server:
        async with server.client() as anonymous, server.client(me.token) as signed_in:
            public = await anonymous.get("/health")
            private = await signed_in.get("/health")
        async with server.client("sc_wrong") as guessing:
            guesses = [(await guessing.get("/health")).status_code for _ in range(FAILURES + 1)]
    assert public.status_code == 200 and public.json() == {"ok": True, "database": "ok"}
    assert private.status_code == 200 and private.json()["version"] == __version__
    assert guesses == [401] * FAILURES + [429]  # a check of credentials, throttled like every other
