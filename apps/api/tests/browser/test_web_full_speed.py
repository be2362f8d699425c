"""The run page under five workers at full speed (demo latency 0): a bounded DOM and a responsive page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import serve, sign_in
from tests.support import ServedProcess, leaf_ids

pytestmark = pytest.mark.timeout(300)

# How long a click may wait before the page acts on it, measured inside the page. The issue asks
# for this bound explicitly; it is generous for a 2-core CI machine running the server too.
CLICK_BUDGET_MS = 500
EVENTS_BEFORE_PAUSE = 1500


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    with serve(db_url, tmp_path_factory.mktemp("web-fast"), SELLERCOLLECTION_DEMO_LATENCY_MS="0") as served:
        yield served


def test_full_speed_run_keeps_100_cards_and_pause_acts_at_once(
    server: ServedProcess, page: Page, page_errors: list[str]
) -> None:
    token = server.token("Fast team", "fast@example.com")
    api = server.client(token, timeout=30)
    categories = leaf_ids(api.get("/amazon/categories").json())
    run = api.post("/collection/runs", json={"name": "Full speed", "category_ids": categories}).json()
    sign_in(page, server.base, token, f"/runs/{run['id']}")
    expect(page.locator(".badge-slot")).to_have_attribute("data-status", "pending")
    assert api.post(f"/collection/runs/{run['id']}/start").status_code == 200

    page.wait_for_function(f"() => window.__scMetrics.received >= {EVENTS_BEFORE_PAUSE}", timeout=120_000)
    expect(page.get_by_role("button", name="Pause")).to_be_enabled()
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".badge-slot")).to_have_attribute("data-status", "paused")

    watch = page.evaluate("window.__watch")
    click = watch["click"]
    acted = next(p["at"] for p in watch["pending"] if p["action"] == "pause") - click["at"]
    paused = next(b["at"] for b in watch["badge"] if b["status"] == "paused") - click["at"]
    seen = f"max cards {watch['maxCards']}, click acted on after {acted:.0f} ms, paused shown after {paused:.0f} ms"
    assert watch["maxCards"] == 100, seen  # the cap was reached and never passed
    assert page.locator("#feed > li").count() <= 100
    assert click["action"] == "pause"
    assert acted < CLICK_BUDGET_MS, seen
    assert api.get(f"/collection/runs/{run['id']}").json()["status"] == "paused"

    page.on("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".badge-slot")).to_have_attribute("data-status", "cancelled")
    assert page_errors == []
