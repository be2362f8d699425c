"""Failed sign-ins are throttled per client address, without a database query once throttled."""

from __future__ import annotations

from typing import Any

from tests.support import LiveServer, TokenFactory

FAILURES = 3


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
