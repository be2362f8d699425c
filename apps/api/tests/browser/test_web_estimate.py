"""The new-run form shows what the run would search and cost before Start, and starts it with the refresh chosen."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import server_fixture, sign_in
from tests.support import ServedProcess

pytestmark = pytest.mark.timeout(300)

server = server_fixture("web-estimate", SELLERCOLLECTION_DEMO_LATENCY_MS="1")


def _finish(api: httpx.Client, run_id: str) -> dict[str, Any]:
    """The run once over, read from its activity stream's end (the stream ends with the run)."""
    with api.stream("GET", f"/collection/runs/{run_id}/activity", timeout=120) as events:
        for _ in events.iter_lines():
            pass
    run: dict[str, Any] = api.get(f"/collection/runs/{run_id}").json()
    return run


def test_the_form_shows_the_estimate_and_starts_with_the_refresh_chosen(server: ServedProcess, page: Page,
                                                                       page_errors: list[str]) -> None:  # fmt: skip
    token = server.token("Estimate team", "estimate@example.com")
    api = server.client(token)
    first = api.post("/collection/runs", json={"category_ids": ["pet-fish"]}).json()
    api.post(f"/collection/runs/{first['id']}/start")
    assert _finish(api, first["id"])["status"] == "completed"

    sign_in(page, server.base, token)
    estimate = page.locator("#run-estimate")
    expect(estimate).to_have_text("")
    page.locator('input[name="category"][value="pet-fish"]').check()
    # A list fetched before: every product of it was searched today, so nothing is due.
    expect(estimate).to_contain_text(re.compile(r"Estimate: about \d+ products, \d to search \(\d+ searched within"))
    page.locator('input[name="category"][value="pet-cats"]').check()
    expect(estimate).to_contain_text("1 of 2 lists not fetched before: guessed")
    page.get_by_label("Search").select_option("all")
    expect(estimate).not_to_contain_text("searched within")
    expected = api.post("/collection/runs/estimate", json={"category_ids": ["pet-cats", "pet-fish"], "refresh": "all"})
    likely = expected.json()["requests_expected"]["likely"]
    expect(estimate).to_contain_text(f"about {likely:,} requests")

    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    run = api.get(f"/collection/runs/{page.url.rsplit('/', 1)[1]}").json()
    assert run["refresh"] == "all" and sorted(run["category_ids"]) == ["pet-cats", "pet-fish"]
    assert page_errors == []
