"""The sellers page's count follows its filters: "13 of 40" while a search or the flagged filter narrows it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import server_fixture, sign_in
from tests.support import ServedProcess

pytestmark = pytest.mark.timeout(300)


server = server_fixture("web-sellers-count", SELLERCOLLECTION_SCHEDULER_ENABLED="false")


def test_the_count_follows_search_and_the_flagged_filter(
    server: ServedProcess, page: Page, page_errors: list[str]
) -> None:
    token = server.token("Count team", "count@example.com")
    names = [f"Count Match {i}" for i in range(13)] + [f"Other Seller {i}" for i in range(127)]
    with server.client(token) as api:
        assert api.post("/sellers/bulk", json={"names": names}).status_code == 200
        matching = api.get("/sellers", params={"search": "Count Match"}).json()["sellers"]
        api.post("/sellers/flag", json={"ids": [s["id"] for s in matching[:4]], "flagged": True}).raise_for_status()

    sign_in(page, server.base, token, "/sellers")
    count = page.locator("#seller-count")
    expect(count).to_have_text("140 in the list")
    expect(page.get_by_role("button", name="Load more")).to_be_visible()  # 100 rows of 140 shown

    page.get_by_label("Search").fill("count match")
    expect(count).to_have_text("13 of 140")
    expect(page.locator("tbody tr[data-seller-id]")).to_have_count(13)
    page.get_by_label("Show", exact=True).select_option(label="Flagged")
    expect(count).to_have_text("4 of 140")
    expect(page.locator("tbody tr[data-seller-id]")).to_have_count(4)
    page.get_by_label("Search").fill("")
    expect(count).to_have_text("4 of 140")
    page.get_by_label("Show", exact=True).select_option(label="All")
    expect(count).to_have_text("140 in the list")
    page.get_by_label("Search").fill("zz")
    expect(count).to_have_text("0 of 140")
    assert page_errors == []
