"""Per-org collection settings: validated, recorded on each run, and what the pipeline really uses."""

from __future__ import annotations

from tests.support import Feed, LiveServer, TokenFactory, terminal

DEFAULTS = {
    "max_open_runs": 3,
    "provider": "demo",
    "ebay_pages_per_product": 3,
    "price_min_multiplier": 1.8,
    "price_max_multiplier": 2.2,
    "workers": 5,
    "refresh_after_days": 7,
}


async def test_defaults_changes_and_reset(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    other = await make_identity()
    async with live.client(identity.token) as client, live.client(other.token) as stranger:
        assert (await client.get("/collection/settings")).json() == DEFAULTS
        changed = await client.patch("/collection/settings", json={"workers": 2, "price_max_multiplier": 3})
        assert changed.status_code == 200, changed.text
        assert changed.json() == {**DEFAULTS, "workers": 2, "price_max_multiplier": 3.0}
        assert (await client.get("/collection/settings")).json()["workers"] == 2
        assert (await stranger.get("/collection/settings")).json() == DEFAULTS  # per org
        reset = await client.patch("/collection/settings", json={"workers": None})
        assert reset.json() == {**DEFAULTS, "price_max_multiplier": 3.0}
        rounded = await client.patch("/collection/settings", json={"price_max_multiplier": 2.34567})
        assert rounded.json()["price_max_multiplier"] == 2.346  # stored with three decimals, answered as stored
        assert (await client.get("/collection/settings")).json()["price_max_multiplier"] == 2.346


async def test_invalid_settings_are_422_with_reasons_and_change_nothing(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    identity = await make_identity()
    async with live.client(identity.token) as client:
        for body, loc in [
            ({"workers": 6}, "workers"),
            ({"workers": 0}, "workers"),
            ({"max_open_runs": 0}, "max_open_runs"),
            ({"ebay_pages_per_product": 11}, "ebay_pages_per_product"),
            ({"price_min_multiplier": 0}, "price_min_multiplier"),
            ({"provider": "ebay"}, "provider"),
            ({"surprise": 1}, "surprise"),
        ]:
            response = await client.patch("/collection/settings", json=body)
            assert response.status_code == 422, body
            assert response.json()["detail"].startswith(f"body.{loc}: "), response.text
        inverted = await client.patch("/collection/settings", json={"price_min_multiplier": 2.5, "workers": 1})
        assert inverted.status_code == 422
        assert "price_min_multiplier (2.5) must be below price_max_multiplier (2.2)" in inverted.json()["detail"]
        no_credentials = await client.patch("/collection/settings", json={"provider": "oxylabs"})
        assert no_credentials.status_code == 422 and "OXYLABS_USERNAME" in no_credentials.json()["detail"]
        assert (await client.get("/collection/settings")).json() == DEFAULTS


async def test_open_run_limit_is_per_org(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    async with live.client(identity.token) as client:
        await client.patch("/collection/settings", json={"max_open_runs": 1})
        assert (await client.post("/collection/runs", json={"category_ids": ["home-bath"]})).status_code == 201
        refused = await client.post("/collection/runs", json={"category_ids": ["home-bath"]})
        assert refused.status_code == 429 and "limit 1" in refused.json()["detail"]


async def test_a_run_keeps_and_uses_the_settings_it_was_created_with(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    identity = await make_identity()
    async with live.client(identity.token) as client:
        chosen = {"ebay_pages_per_product": 1, "workers": 2, "price_min_multiplier": 1.5, "price_max_multiplier": 2.5}
        await client.patch("/collection/settings", json=chosen)
        run = (await client.post("/collection/runs", json={"category_ids": ["electronics-headphones"]})).json()
        assert run["settings"] == {**chosen, "provider": "demo", "refresh_after_days": 7}
        # Changed after the run was made: the run must not notice.
        await client.patch("/collection/settings", json={"ebay_pages_per_product": 3, "workers": 5})

        feed = Feed(live, run["id"])
        try:
            assert (await client.post(f"/collection/runs/{run['id']}/start")).status_code == 200
            events = await feed.until(terminal)
        finally:
            feed.close()
        assert events[-1]["action"] == "complete"
        searches = [e for e in events if e["phase"] == "ebay" and e["action"] == "fetching"]
        assert searches, "the eBay phase searched nothing"
        assert {e["api_params"]["page"] for e in searches} == {1}
        assert {e["worker_id"] for e in events if e["worker_id"] > 0} <= {1, 2}
        for event in searches:
            params = event["api_params"]
            assert abs(params["price_min"] - params["amazon_price"] * 1.5) <= 1
            assert abs(params["price_max"] - params["amazon_price"] * 2.5) <= 1

        progress = (await client.get(f"/collection/runs/{run['id']}/progress")).json()
        assert progress["run"]["settings"]["ebay_pages_per_product"] == 1
        history = (await client.get("/collection/runs/history")).json()["runs"]
        assert history[0]["id"] == run["id"] and history[0]["settings"]["workers"] == 2
