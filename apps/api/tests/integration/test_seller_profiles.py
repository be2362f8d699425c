"""Seller profiles, scores and evidence over real HTTP: what a demo run produces, and the API's contracts.

Runs use the demo marketplace (its seller kinds make the scores mean something). Ordering and
paging contracts are checked on scores set directly in the database, so ties can be placed exactly
across page boundaries.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from app.scrapers.demo import seller_kinds
from app.scrapers.links import marketplace_url, url_pattern
from app.services.sellers import profiles
from tests.support import LiveServer, TokenFactory, start_run, terminal

SETTINGS: dict[str, Any] = {"demo_latency_ms": 0, "activity_subscriber_queue_size": 100_000}
CATEGORIES = [
    "electronics-computers",
    "baby-feeding",
    "beauty-makeup",
    "home-kitchen-dining",
    "sports-exercise-fitness",
]


SAFE_AND_UNSAFE = [
    "https://www.ebay.com/itm/123",
    "https://ebay.co.uk/itm/1?x=y#z",
    "https://www.amazon.de/dp/B000000001",
    "javascript:alert(1)",
    "http://www.ebay.com/itm/1",
    "http://evil.example/",
    "https://www.ebay.com.evil.example/",
    "https://www.ebay.com@evil.example/",
    "https://www.ebay.com:8443/itm/1",
    "https://www.ebay.com/itm/1 x",
    "https://www.ebay.com/itm/1\x01",
    "https://www.ebay.com/\\evil",
]


async def collected(live: LiveServer, client: httpx.AsyncClient) -> dict[str, Any]:
    run, feed = await start_run(live, client, CATEGORIES)
    await feed.until(terminal, timeout=120)
    final: dict[str, Any] = (await client.get(f"/collection/runs/{run['id']}")).json()
    assert final["status"] == "completed", final["status_reason"]
    return final


async def pages(client: httpx.AsyncClient, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item under `key` of a cursor-paginated endpoint, following `next_cursor` to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await client.get(path, params=params | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        items += response.json()[key]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


@pytest.fixture(scope="module")
async def demo_org(live: LiveServer, make_identity: TokenFactory) -> tuple[Any, dict[str, Any]]:
    """One org after a demo run over a few categories (shared by the read-only tests below)."""
    me = await make_identity()
    async with live.client(me.token) as client:
        run = await collected(live, client)
    return me, run


async def test_a_run_leaves_scores_whose_reasons_add_up_and_ranks_dropshippers_first(
    live: LiveServer, demo_org: tuple[Any, dict[str, Any]]
) -> None:
    me, run = demo_org
    kinds = seller_kinds(live.runtime.settings.demo_seed)
    async with live.client(me.token) as client:
        ranked = await pages(client, "/sellers", "sellers", sort="score", limit=200)
        assert len(ranked) == run["sellers_new"]
        scores = [s["score"] for s in ranked]
        assert all(isinstance(x, int) and 0 <= x <= 100 for x in scores)  # every found seller has evidence
        assert scores == sorted(scores, reverse=True)
        top = [kinds[s["display_name"]] for s in ranked[:10]]
        assert top.count("dropshipper") >= 8, top
        for seller in ranked[:5] + ranked[-5:]:
            detail = (await client.get(f"/sellers/{seller['id']}")).json()
            reasons = detail["score_reasons"]
            assert [r["signal"] for r in reasons] == [
                "title_match", "products", "categories", "markup", "feedback", "recurrence",
            ]  # fmt: skip
            assert sum(r["points"] for r in reasons) == detail["score"] == seller["score"]
            assert all(r["text"].endswith(f"(+{r['points']})") for r in reasons)
            assert detail["products_matched"] == seller["products_matched"] >= 1
            assert detail["listings_seen"] >= detail["products_matched"]
            assert detail["runs_seen"] == 1 and detail["profile_stale"] is False
            assert detail["profile_url"].startswith("https://www.ebay.com/usr/")
            listings = await pages(client, f"/sellers/{seller['id']}/listings", "listings", limit=7)
            assert len(listings) == detail["listings_seen"]
            assert len({x["amazon_asin"] for x in listings}) == detail["products_matched"]
            assert [int(x["ebay_item_id"]) for x in listings] == sorted(
                (int(x["ebay_item_id"]) for x in listings), reverse=True
            )
            for x in listings:
                assert x["run_id"] == run["id"] and x["ebay_url"] == f"https://www.ebay.com/itm/{x['ebay_item_id']}"
                assert x["amazon_url"] == f"https://www.amazon.com/dp/{x['amazon_asin']}"
                assert x["markup"] == pytest.approx(round(x["ebay_price"] / x["amazon_price"], 3), abs=0.0011)
                assert 0 <= x["title_match"] <= 1 and x["in_window"] is True


async def test_a_seller_added_by_hand_has_no_score_and_no_listings(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    me = await make_identity()
    async with live.client(me.token) as client:
        seller = (await client.post("/sellers", json={"name": "by hand"})).json()
        assert (seller["score"], seller["products_matched"], seller["median_markup"]) == (None, None, None)
        detail = (await client.get(f"/sellers/{seller['id']}")).json()
        assert detail["score"] is None and detail["score_reasons"] == [] and detail["listings_seen"] is None
        assert detail["profile_url"] == "https://www.ebay.com/usr/by%20hand"
        assert (await client.get(f"/sellers/{seller['id']}/listings")).json() == {"listings": [], "next_cursor": None}
        assert (await client.get("/sellers", params={"min_score": 0})).json()["sellers"] == []


async def seed_scores(db_url: str, org_id: Any, scores: list[int | None]) -> None:
    """Sellers with these scores (set directly: the paging contract does not depend on how scores arise)."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO sellers (org_id, display_name, normalized_name, platform, score) "
            "SELECT %s, 's' || n, 's' || n, 'ebay', sc FROM unnest(%s::int[]) WITH ORDINALITY AS u(sc, n)",
            (org_id, scores),
        )


async def test_score_order_pages_exactly_across_ties_and_filters_by_min_score(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    me = await make_identity()
    # 7 sellers at 50 straddle page boundaries of 3; nulls come last.
    scores: list[int | None] = [90, 50, 50, 50, 50, 50, 50, 50, 10, 0, None, None, None, 73]
    await seed_scores(db_url, me.org_id, scores)
    async with live.client(me.token) as client:
        paged = await pages(client, "/sellers", "sellers", sort="score", limit=3)
        whole = (await client.get("/sellers", params={"sort": "score", "limit": 100})).json()["sellers"]
        assert [s["id"] for s in paged] == [s["id"] for s in whole]
        assert len({s["id"] for s in paged}) == len(scores)
        assert [s["score"] for s in paged] == [90, 73, *[50] * 7, 10, 0, None, None, None]
        ties = [s["id"] for s in paged if s["score"] == 50]
        assert ties == sorted(ties, reverse=True)  # ties by id
        at_least = await pages(client, "/sellers", "sellers", sort="score", limit=2, min_score=50)
        assert [s["score"] for s in at_least] == [90, 73, *[50] * 7]
        newest = await pages(client, "/sellers", "sellers", sort="newest", limit=4, min_score=1)
        assert sorted(s["score"] for s in newest) == sorted(x for x in scores if x)


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "best"},
        {"min_score": "-1"},
        {"min_score": "101"},
        {"min_score": "high"},
        {"limit": "0"},
        {"limit": "1001"},
        {"sort": "score", "cursor": "not-a-cursor"},
        {"sort": "score", "cursor": "WyJoaWdoIiwgIjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCJd"},
        {"sort": "score", "cursor": "WyItLTUiLCAiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwIl0"},
        {"sort": "score", "cursor": "WyI1MDAiLCAiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwIl0"},
    ],
)
async def test_bad_list_parameters_answer_422(
    live: LiveServer, make_identity: TokenFactory, params: dict[str, str]
) -> None:
    me = await make_identity(permissions=("sellers.read",))
    async with live.client(me.token) as client:
        response = await client.get("/sellers", params=params)
    assert response.status_code == 422 and "detail" in response.json(), response.text


async def best_scored(client: httpx.AsyncClient, n: int) -> list[dict[str, Any]]:
    sellers: list[dict[str, Any]] = (await client.get("/sellers", params={"sort": "score", "limit": n})).json()[
        "sellers"
    ]
    return sellers


async def test_listings_paging_and_bad_cursors(live: LiveServer, demo_org: tuple[Any, dict[str, Any]]) -> None:
    me, _ = demo_org
    async with live.client(me.token) as client:
        best, other = await best_scored(client, 2)
        path = f"/sellers/{best['id']}/listings"
        first = (await client.get(path, params={"limit": 1})).json()
        assert first["next_cursor"] is not None
        # A cursor of another seller's listings, garbage, a bad limit: 422, never a 500.
        theirs = (await client.get(f"/sellers/{other['id']}/listings", params={"limit": 1})).json()["next_cursor"]
        for params in ({"cursor": theirs}, {"cursor": "%%%"}, {"cursor": "W10"}, {"limit": 0}, {"limit": 501}):
            response = await client.get(path, params=params)
            assert response.status_code == 422, (params, response.text)
        assert (await client.get(f"/sellers/{uuid.uuid4()}/listings")).status_code == 404


async def test_permissions_and_org_isolation_on_every_new_endpoint(
    live: LiveServer, demo_org: tuple[Any, dict[str, Any]], make_identity: TokenFactory
) -> None:
    owner, _ = demo_org
    async with live.client(owner.token) as client:
        [seller] = await best_scored(client, 1)
    reader = await make_identity(permissions=("sellers.read",), org_name=owner.org_name)
    nobody = await make_identity(permissions=(), org_name=owner.org_name)
    stranger = await make_identity()
    paths = [
        f"/sellers/{seller['id']}",
        f"/sellers/{seller['id']}/listings",
        "/sellers/evidence/export",
        f"/sellers/evidence/export?seller_id={seller['id']}",
        "/sellers?sort=score&min_score=1",
    ]
    async with live.client(reader.token) as client:
        for path in paths:
            assert (await client.get(path)).status_code == 200, path
    async with live.client(nobody.token) as client:
        for path in paths:
            assert (await client.get(path)).status_code == 403, path
    async with live.client() as client:
        for path in paths:
            assert (await client.get(path)).status_code == 401, path
    async with live.client(stranger.token) as client:
        for path in paths[:2] + paths[3:4]:
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/sellers", params={"sort": "score"})).json()["sellers"] == []
        everything = await client.get("/sellers/evidence/export")
        assert everything.status_code == 200 and everything.headers["x-export-count"] == "0"


async def test_exports_carry_scores_and_the_evidence(live: LiveServer, demo_org: tuple[Any, dict[str, Any]]) -> None:
    me, _ = demo_org
    async with live.client(me.token) as client:
        ranked = await pages(client, "/sellers", "sellers", sort="score", limit=500)
        best = ranked[0]
        sellers_csv = (await client.get("/sellers/export", params={"format": "csv"})).text
        sellers_json = (await client.get("/sellers/export", params={"format": "json"})).json()
        one = await client.get("/sellers/evidence/export", params={"seller_id": best["id"]})
        everything = await client.get("/sellers/evidence/export")
        listings = await pages(client, f"/sellers/{best['id']}/listings", "listings", limit=500)
        audit = (await client.get("/sellers/audit-log", params={"action": "export"})).json()["entries"]
    rows = list(csv.DictReader(io.StringIO(sellers_csv.lstrip("\ufeff"))))
    by_name = {r["display_name"]: r for r in rows}
    assert int(by_name[best["display_name"]]["score"]) == best["score"]
    assert int(by_name[best["display_name"]]["products_matched"]) == best["products_matched"]
    assert float(by_name[best["display_name"]]["median_markup"]) == best["median_markup"]
    assert {s["display_name"]: s["score"] for s in sellers_json["sellers"]} == {
        s["display_name"]: s["score"] for s in ranked
    }
    assert one.headers["content-type"].startswith("text/csv") and "evidence_" in one.headers["content-disposition"]
    evidence = list(csv.DictReader(io.StringIO(one.text.lstrip("\ufeff"))))
    assert [r["ebay_item_id"] for r in evidence] == [x["ebay_item_id"] for x in listings]
    assert [r["ebay_url"] for r in evidence] == [x["ebay_url"] for x in listings]
    assert [float(r["markup"]) for r in evidence] == [x["markup"] for x in listings]
    assert {r["seller"] for r in evidence} == {best["display_name"]}
    total = sum(s["products_matched"] and 1 for s in ranked)
    assert int(everything.headers["x-export-count"]) >= len(evidence) and total == len(ranked)
    assert len(list(csv.DictReader(io.StringIO(everything.text.lstrip("\ufeff"))))) == int(
        everything.headers["x-export-count"]
    )
    assert audit[0]["new_value"]["rows"] == "listing" and audit[0]["seller_name"].startswith("Exported ")


async def test_evidence_export_is_formula_safe(live: LiveServer, make_identity: TokenFactory, db_url: str) -> None:
    me = await make_identity()
    with psycopg.connect(db_url) as conn:
        seller_id = conn.execute(
            "INSERT INTO sellers (org_id, display_name, normalized_name, platform) "
            "VALUES (%s, '=cmd|calc', '=cmd|calc', 'ebay') RETURNING id",
            (me.org_id,),
        ).fetchone()[0]  # type: ignore[index]
        product = conn.execute(
            "INSERT INTO amazon_products (org_id, asin, title, price) VALUES (%s, '../../x', '@SUM(A1)', 10) "
            "RETURNING id",
            (me.org_id,),
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO seller_evidence (seller_id, ebay_item_id, product_id, run_id, ebay_title, ebay_price, "
            "amazon_price, url) VALUES (%s, 123456789012, %s, gen_random_uuid(), '+1+1', 20, 10, 'javascript:x')",
            (seller_id, product),
        )
    async with live.client(me.token) as client:
        body = (await client.get("/sellers/evidence/export")).text
        listing = (await client.get(f"/sellers/{seller_id}/listings")).json()["listings"][0]
    [row] = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert (row["seller"], row["ebay_title"], row["amazon_title"]) == ("'=cmd|calc", "'+1+1", "'@SUM(A1)")
    assert row["ebay_url"] == "https://www.ebay.com/itm/123456789012" and row["amazon_url"] == ""
    assert row["markup"] == "2.000"
    assert listing["ebay_url"] == "https://www.ebay.com/itm/123456789012" and listing["amazon_url"] is None


@pytest.mark.parametrize("url", SAFE_AND_UNSAFE)
def test_the_exports_sql_link_check_agrees_with_the_api(db_url: str, url: str) -> None:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT %s ~ %s", (url, url_pattern())).fetchone()
    assert row is not None and row[0] is (marketplace_url(url) is not None)


async def test_deleting_a_seller_deletes_its_evidence_and_retention_expires_old_evidence(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    me = await make_identity()
    async with live.client(me.token) as client:
        await collected(live, client)
        ranked = await pages(client, "/sellers", "sellers", sort="score", limit=500)
        doomed, aging = ranked[0], ranked[1]
        listings_seen = (await client.get(f"/sellers/{aging['id']}")).json()["listings_seen"]
        assert (await client.delete(f"/sellers/{doomed['id']}")).status_code == 204
        with psycopg.connect(db_url) as conn:
            left = conn.execute("SELECT count(*) FROM seller_evidence WHERE seller_id = %s", (doomed["id"],))
            assert left.fetchone() == (0,)
            conn.execute(
                "UPDATE seller_evidence SET last_seen_at = now() - interval '200 days' WHERE seller_id = %s",
                (aging["id"],),
            )
        deleted = await profiles.sweep(live.runtime.pool, retention_days=180)
        assert deleted == listings_seen >= 1
        after = (await client.get(f"/sellers/{aging['id']}")).json()
        assert after["score"] is None and after["listings_seen"] is None and after["score_reasons"] == []
        assert (await client.get(f"/sellers/{aging['id']}/listings")).json()["listings"] == []
