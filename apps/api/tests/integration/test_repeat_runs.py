"""Repeat runs pay only for what is new (issue 21), over real HTTP on the demo marketplace with churn.

What each run should do is worked out from the demo marketplace itself (its lists on each simulated
day, and the result pages each search shows), so the figures are exact, not guessed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from app.config import Settings
from app.scrapers.base import PriceWindow
from app.scrapers.demo import DemoMarketplace, bestsellers_on, demo_world
from app.services.catalogue import categories_by_id
from app.services.sellers.names import normalize_name
from tests.support import FAST_RETRIES, Feed, LiveServer, ServerFactory, TokenFactory, terminal

CATEGORIES = ["electronics-computers", "baby-feeding", "beauty-makeup"]
CHURN = 0.25
SETTINGS: dict[str, Any] = FAST_RETRIES | {"demo_churn": CHURN, "demo_day": 0}


@dataclass(frozen=True)
class Expected:
    """What a run over CATEGORIES on `day` should search: per product (ASIN) its requests and sellers."""

    listed: dict[str, bool]  # ASIN -> has a usable price
    pages: dict[str, int]
    sellers: dict[str, set[str]]

    def requests(self, asins: set[str]) -> int:
        return len(CATEGORIES) + sum(self.pages[a] for a in asins)


async def expected_on(day: int, settings: Settings) -> Expected:
    """Search every product of the day's lists the way the pipeline does (same stop rule), on a private demo."""
    world = demo_world(settings.demo_seed)
    demo = DemoMarketplace(settings.model_copy(update={"demo_latency_ms": 0}))
    listed: dict[str, bool] = {}
    pages: dict[str, int] = {}
    sellers: dict[str, set[str]] = {}
    for category_id in CATEGORIES:
        node = categories_by_id()[category_id].node_id
        for product in bestsellers_on(world, node, day=day, churn=CHURN):
            listed[product.asin] = product.price is not None and product.price > 0
            if product.asin in pages or not listed[product.asin]:
                continue
            assert product.price is not None
            window = PriceWindow.around(product.price, settings.price_min_multiplier, settings.price_max_multiplier)
            pages[product.asin], sellers[product.asin] = 0, set()
            for page in range(1, settings.ebay_pages_per_product + 1):
                result = await demo.search_sellers(product.title, window, page)
                pages[product.asin] += 1
                sellers[product.asin] |= {normalize_name(s.username) for s in result.sellers}
                left = settings.ebay_pages_per_product - page
                if left and (result.exact_matches_ended or (result.has_more and result.listings_in_window == 0)):
                    break
                if not result.has_more:
                    break
    return Expected(listed, pages, sellers)


async def collect(server: LiveServer, client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    run = (await client.post("/collection/runs", json={"category_ids": CATEGORIES, **fields})).json()
    feed = Feed(server, run["id"])
    started = await client.post(f"/collection/runs/{run['id']}/start")
    assert started.status_code == 200, started.text
    await feed.until(terminal)
    feed.close()
    final: dict[str, Any] = (await client.get(f"/collection/runs/{run['id']}")).json()
    assert final["status"] == "completed", final
    final["events"] = feed.events
    return final


def sellers_of(db_url: str, org_id: object) -> dict[str, tuple[int, str]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT normalized_name, times_seen, last_seen_run_id::text FROM sellers WHERE org_id = %s", (org_id,)
        ).fetchall()
    return {name: (seen, run) for name, seen, run in rows}


def searched(db_url: str, run_id: str) -> set[str]:
    """ASINs the run really searched (their items completed)."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT external_id FROM collection_items WHERE run_id = %s AND kind = 'product' AND status = 'completed'",
            (run_id,),
        ).fetchall()
    return {r[0] for r in rows}


async def test_a_repeat_run_after_churn_searches_only_the_new_products_and_all_searches_everything(
    live: LiveServer, make_identity: TokenFactory, serve_with: ServerFactory, db_url: str, settings: Settings
) -> None:
    me = await make_identity()
    day0, day1 = await expected_on(0, settings), await expected_on(1, settings)
    new_products = set(day1.listed) - set(day0.listed)
    async with live.client(me.token) as client:
        first = await collect(live, client)
    after_first = sellers_of(db_url, me.org_id)
    async with serve_with(**(SETTINGS | {"demo_day": 1})) as tomorrow, tomorrow.client(me.token) as client:
        second = await collect(tomorrow, client)
        after_second = sellers_of(db_url, me.org_id)
        third = await collect(tomorrow, client, refresh="all")

    # The first run searches every priced product once; the full refresh does the same on the new lists.
    assert first["refresh"] == "new" and first["products_remembered"] == 0
    assert first["requests_total"] == day0.requests(set(day0.pages))
    assert third["refresh"] == "all" and third["products_remembered"] == 0
    assert third["requests_total"] == day1.requests(set(day1.pages))
    assert abs(third["requests_total"] - first["requests_total"]) <= 0.1 * first["requests_total"]

    # The repeat run searches the new products only (and looks again at those it could not search: no price).
    unpriced = {a for a, priced in day1.listed.items() if not priced}
    assert len(new_products) >= round(CHURN * 30) * len(CATEGORIES) - 4  # every list lost about a quarter
    assert second["products_total"] == len(new_products | unpriced)
    assert second["products_remembered"] == len(set(day1.listed) - new_products - unpriced)
    assert searched(db_url, second["id"]) == new_products - unpriced
    assert second["requests_total"] == day1.requests(new_products - unpriced)
    assert second["requests_total"] <= 0.45 * first["requests_total"]

    # It finds the sellers that appear only on the new products (all of them: >= 90% is the bar).
    old_sellers = set().union(*(day1.sellers[a] for a in set(day1.pages) - new_products), *day0.sellers.values())
    only_new = set().union(*(day1.sellers[a] for a in new_products if a in day1.sellers)) - old_sellers
    assert only_new, "the new products bring sellers of their own"
    found_second = {name for name, (_, run) in after_second.items() if run == second["id"]}
    assert len(only_new & found_second) >= 0.9 * len(only_new)

    # A remembered product is no sighting: only sellers whose listings were read again moved.
    read_again = set().union(*(day1.sellers[a] for a in new_products if a in day1.sellers))
    assert found_second == read_again
    for name, (seen, run) in after_first.items():
        if name not in read_again:
            assert after_second[name] == (seen, run), name

    # One summary per category in the feed, never one event per product.
    remembered = [e for e in second["events"] if e["action"] == "remembered"]
    assert len(remembered) == len(CATEGORIES)
    for event in remembered:
        left, listed = event["message"].split(" products searched within the last 7 days: skipped")[0].split(" of ")
        assert int(left) == event["items_count"] and int(listed) >= int(left) > 0
    assert not [e for e in third["events"] if e["action"] == "remembered"]


async def test_two_runs_started_together_never_search_a_product_twice(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    me = await make_identity()
    async with live.client(me.token) as client:
        runs = [(await client.post("/collection/runs", json={"category_ids": CATEGORIES})).json() for _ in range(2)]
        feeds = [Feed(live, run["id"]) for run in runs]
        started = await asyncio.gather(*(client.post(f"/collection/runs/{run['id']}/start") for run in runs))
        assert all(s.status_code == 200 for s in started)
        await asyncio.gather(*(feed.until(terminal) for feed in feeds))
        finals = [(await client.get(f"/collection/runs/{run['id']}")).json() for run in runs]
    for feed in feeds:
        feed.close()

    a, b = (searched(db_url, run["id"]) for run in runs)
    assert a | b and not a & b
    with psycopg.connect(db_url) as conn:
        listed = conn.execute("SELECT count(*) FROM amazon_products WHERE org_id = %s", (me.org_id,)).fetchone()
    assert listed is not None
    # Between them the two runs took every listed product exactly once: searched, or left to the other.
    assert sum(f["products_total"] for f in finals) == listed[0]
    assert all(f["products_total"] + f["products_remembered"] == listed[0] for f in finals)


async def test_a_bad_refresh_or_refresh_after_days_answers_422_and_stores_nothing(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    me = await make_identity()
    async with live.client(me.token) as client:
        for bad in ("sometimes", "NEW", "", 1, True, ["all"]):
            answer = await client.post("/collection/runs", json={"category_ids": CATEGORIES, "refresh": bad})
            assert answer.status_code == 422, (bad, answer.text)
            assert "refresh" in answer.text
            for path, body in (
                ("/amazon/presets", {"name": "p", "category_ids": CATEGORIES, "refresh": bad}),
                ("/collection/schedules", {"name": "s", "category_ids": CATEGORIES, "cron_expression": "0 6 * * *",
                                           "refresh": bad}),
            ):  # fmt: skip
                answer = await client.post(path, json=body)
                assert answer.status_code == 422, (path, bad, answer.text)
        for bad in (0, -1, 366, "7", True, 7.5, "seven"):
            answer = await client.patch("/collection/settings", json={"refresh_after_days": bad})
            assert answer.status_code == 422, (bad, answer.text)
            assert "refresh_after_days" in answer.text
        settings = (await client.get("/collection/settings")).json()
        assert settings["refresh_after_days"] == 7
        for good in (1, 365):
            answer = await client.patch("/collection/settings", json={"refresh_after_days": good})
            assert answer.status_code == 200 and answer.json()["refresh_after_days"] == good
        run = (await client.post("/collection/runs", json={"category_ids": CATEGORIES, "refresh": "all"})).json()
        assert run["refresh"] == "all" and run["settings"]["refresh_after_days"] == 365
    with psycopg.connect(db_url) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM collection_runs WHERE org_id = %(org)s),"
            " (SELECT count(*) FROM amazon_category_presets WHERE org_id = %(org)s),"
            " (SELECT count(*) FROM collection_schedules WHERE org_id = %(org)s)",
            {"org": me.org_id},
        ).fetchone()
    assert counts == (1, 0, 0)


async def test_presets_and_schedules_carry_the_refresh_choice_to_their_runs(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    me = await make_identity()
    async with live.client(me.token) as client:
        preset = (await client.post("/amazon/presets", json={"name": "p", "category_ids": CATEGORIES[:1],
                                                             "refresh": "all"})).json()  # fmt: skip
        assert preset["refresh"] == "all"
        from_preset = (await client.post("/collection/runs", json={"preset_id": preset["id"]})).json()
        overridden = (await client.post("/collection/runs", json={"preset_id": preset["id"], "refresh": "new"})).json()
        plain = (await client.post("/collection/runs", json={"category_ids": CATEGORIES[:1]})).json()
        changed = (await client.patch(f"/amazon/presets/{preset['id']}", json={"refresh": "new"})).json()
        schedule = (
            await client.post(
                "/collection/schedules",
                json={"name": "s", "preset_id": preset["id"], "cron_expression": "0 6 * * *", "refresh": "all"},
            )
        ).json()
        unset = (
            await client.post(
                "/collection/schedules", json={"name": "t", "category_ids": CATEGORIES, "cron_expression": "0 6 * * *"}
            )
        ).json()
        patched = (await client.patch(f"/collection/schedules/{unset['id']}", json={"refresh": "all"})).json()
    assert (from_preset["refresh"], overridden["refresh"], plain["refresh"]) == ("all", "new", "new")
    assert changed["refresh"] == "new"
    assert schedule["refresh"] == "all" and unset["refresh"] is None and patched["refresh"] == "all"


async def test_the_estimate_comes_within_10_percent_of_the_requests_the_run_makes(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    me = await make_identity()
    body = {"category_ids": CATEGORIES}
    async with live.client(me.token) as client:
        first_guess = (await client.post("/collection/runs/estimate", json=body)).json()
        first = await collect(live, client)
        again_all = (await client.post("/collection/runs/estimate", json={**body, "refresh": "all"})).json()
        third = await collect(live, client, refresh="all")
        again_new = (await client.post("/collection/runs/estimate", json=body)).json()
        fourth = await collect(live, client)
        for bad in ({**body, "refresh": "often"}, {"category_ids": ["no-such-category"]}, {}):
            assert (await client.post("/collection/runs/estimate", json=bad)).status_code == 422
        unknown_preset = await client.post("/collection/runs/estimate", json={"preset_id": str(me.org_id)})
        assert unknown_preset.status_code == 404
        assert (await client.get("/collection/runs")).json()["total"] == 3  # an estimate stores nothing
    with psycopg.connect(db_url) as conn:
        listed = conn.execute("SELECT count(*) FROM amazon_products WHERE org_id = %s", (me.org_id,)).fetchone()
    assert listed is not None

    # Lists never fetched: guessed from the catalogue, and the run falls inside the bounds.
    assert first_guess["categories"] == 3 and first_guess["categories_fetched"] == 0
    assert 3 * 30 <= first_guess["products_expected"] == first_guess["products_to_search"] <= 3 * 50
    requests = first_guess["requests_expected"]
    assert requests["low"] <= first["requests_total"] <= requests["high"]

    # Lists fetched: the products are known, and the requests come within 10%.
    assert again_all["categories_fetched"] == 3 and again_all["products_expected"] == listed[0]
    assert again_all["products_to_search"] == listed[0] == third["products_total"]
    for guess, run in ((again_all, third), (again_new, fourth)):
        requests = guess["requests_expected"]
        assert requests["low"] <= run["requests_total"] <= requests["high"]
        assert abs(requests["likely"] - run["requests_total"]) <= 0.1 * run["requests_total"], (guess, run)
    # Nothing is due the day after (only the products without a price are looked at again, for free).
    assert again_new["products_to_search"] == fourth["products_total"] < 5
    assert again_new["requests_expected"]["likely"] == fourth["requests_total"] == len(CATEGORIES)
    assert again_new["cost_expected"]["likely"] == 0  # the demo costs nothing by default


async def test_a_product_is_searched_again_once_its_last_search_is_old_or_its_price_window_moved(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    me = await make_identity()
    async with live.client(me.token) as client:
        await client.patch("/collection/settings", json={"refresh_after_days": 3})
        first = await collect(live, client)
        done = sorted(searched(db_url, first["id"]))
        old, moved, recent = done[:4], done[4:7], done[7:]
        with psycopg.connect(db_url) as conn:
            # Four were last searched 4 days ago (over 3); three were searched in a window the price no longer
            # reaches; one was searched 2 days ago (within 3).
            conn.execute(
                "UPDATE amazon_products SET last_searched_at = now() - interval '4 days'"
                " WHERE org_id = %s AND asin = ANY(%s)",
                (me.org_id, old),
            )
            conn.execute(
                "UPDATE amazon_products SET search_price_low = 5000, search_price_high = 6000"
                " WHERE org_id = %s AND asin = ANY(%s)",
                (me.org_id, moved),
            )
            conn.execute(
                "UPDATE amazon_products SET last_searched_at = now() - interval '2 days'"
                " WHERE org_id = %s AND asin = %s",
                (me.org_id, recent[0]),
            )
        guess = (await client.post("/collection/runs/estimate", json={"category_ids": CATEGORIES})).json()
        second = await collect(live, client)
    assert searched(db_url, second["id"]) == set(old) | set(moved)
    assert second["products_remembered"] == len(recent) and second["settings"]["refresh_after_days"] == 3
    unpriced = second["products_total"] - len(old) - len(moved)  # looked at again, for free
    assert guess["products_to_search"] == second["products_total"] and unpriced >= 0
    remembered = [e for e in second["events"] if e["action"] == "remembered"]
    assert sum(e["items_count"] for e in remembered) >= len(recent)
    assert all("searched within the last 3 days: skipped" in e["message"] for e in remembered)
