"""The sellers table with scores, one seller's page (its reasons and its listings), the link allowlist, found cards.

One demo run fills an org with evidence; the tests read the page against the API's own answers.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from app.scrapers.links import MARKETPLACE_HOSTS, marketplace_url
from tests.browser.conftest import REPO, WATCH_SCRIPT, screenshot, server_fixture, sign_in
from tests.support import ServedProcess, start_served_run

pytestmark = pytest.mark.timeout(300)

server = server_fixture(
    "web-seller-page", SELLERCOLLECTION_SCHEDULER_ENABLED="false", SELLERCOLLECTION_DEMO_LATENCY_MS="5"
)

DOCS = REPO / "docs"
# Upstream values that must never become a link, and a few that must (the server's own list of cases, and more).
HOSTILE_URLS = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    "http://evil.example/",
    "http://www.ebay.com/itm/1",
    "https://ebay.com.evil.example/",
    "https://www.ebay.com.evil.example/itm/1",
    "https://www.ebay.com@evil.example/",
    "https://user@www.ebay.com/",
    "https://www.ebay.com:8443/itm/1",
    "https://evil.example/www.ebay.com",
    "https://www.ebay.com/itm/1 onmouseover=x",
    "https://www.ebay.com/\\evil",
    "https://www.ebay.com/itm/1\x01",
    "//www.ebay.com/itm/1",
    "data:text/html,<script>alert(1)</script>",
    "https://xn--ebay-evil.example/",
    "https://ebay.evil/",
    "https://m.ebay.com.evil.example/itm/1",
    "https://pages.ebay.com/x",
    "",
]
SAFE_URLS = [
    "https://www.ebay.com/itm/123",
    "https://ebay.co.uk/itm/123?x=1#y",
    "https://www.amazon.de/dp/B000000001",
    "https://www.amazon.com",
    "https://www.ebay.com/usr/a%2Fb%20c%3F",
    "https://m.ebay.com/itm/123",
]


@pytest.fixture(scope="module")
def org(server: ServedProcess) -> dict[str, Any]:
    """An org after one finished demo run: its token, the run, and the sellers by score from the API."""
    token = server.token("Seller page team", "sellers@example.com")
    with server.client(token, timeout=30) as api:
        run = start_served_run(api, "Evidence run", 4)
    return {"token": token, "run": run}


def _api(server: ServedProcess, token: str) -> httpx.Client:
    return server.client(token, timeout=30)


# Chromium reports whatever the Content-Security-Policy blocks (a style attribute, an inline script).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.sourceFile}`);
});
"""


def _finished(page: Page, server: ServedProcess, org: dict[str, Any]) -> None:
    """Sign in on the run's page and wait there until the run has completed (its last event arrives live)."""
    sign_in(page, server.base, org["token"], f"/runs/{org['run']['id']}")
    expect(page.locator(".badge-slot")).to_have_attribute("data-status", "completed", timeout=240_000)
    # The feed is settled once the run's own last card is in it: the badge can turn before the cards
    # still waiting for the next frame are written, and those would shift the cards a test reads by position.
    expect(page.locator('#feed li[data-action="complete"].banner-complete')).to_have_count(1)


def _keep(path: Path, name: str) -> None:
    """Copy a screenshot into docs/ (the README links them) when the run asks for it."""
    shutil.copyfile(path, DOCS / f"{name}.png")


def test_found_cards_name_up_to_three_sellers_marking_the_new_ones(
    server: ServedProcess, org: dict[str, Any], page: Page, page_errors: list[str]
) -> None:
    _finished(page, server, org)
    cards = page.locator('#feed li[data-action="found"]:has(.seller-names)')
    expect(cards.first).to_be_visible()
    checked = 0
    for card in cards.all():
        facts = card.locator(".facts").text_content() or ""  # cards past the 15th are not rendered: no innerText
        m = re.search(r"([\d,]+) sellers?, ([\d,]+) new", facts)
        assert m, facts
        found, new = (int(x.replace(",", "")) for x in m.groups())
        names = card.locator(".found-seller")
        named = names.count()
        assert 1 <= named <= 3 and named <= found
        # The new ones come first and each carries a "new" mark; the known ones carry none.
        marks = [names.nth(i).get_attribute("data-new") for i in range(named)]
        assert marks == ["true"] * min(new, named) + ["false"] * (named - min(new, named)), (facts, marks)
        assert card.locator(".tag-new").count() == min(new, named)
        more = card.locator(".more")
        if found > named:
            expect(more).to_have_text(f"+{found - named:,} more")
        else:
            expect(more).to_have_count(0)
        checked += 1
    assert checked >= 3
    # Some card named three sellers of more, and said how many more there were.
    assert page.locator("#feed .seller-names .more").count() > 0
    screenshot(page, "run-found-cards")
    assert page_errors == []


def test_open_a_seller_from_the_list_sorted_by_score_and_see_its_reasons_and_listings(
    server: ServedProcess, org: dict[str, Any], page: Page, browser: Browser, page_errors: list[str]
) -> None:
    page.add_init_script(RECORD_VIOLATIONS)
    _finished(page, server, org)
    with _api(server, org["token"]) as api:
        by_score = api.get("/sellers", params={"sort": "score", "limit": 100}).json()
    best = by_score["sellers"][0]
    assert best["score"] is not None and best["score"] >= by_score["sellers"][1]["score"]

    page.get_by_role("link", name="Sellers").click()
    expect(page.locator("tbody tr[data-seller-id]").first).to_be_visible()
    page.get_by_role("button", name="Score", exact=True).click()  # the Score heading sorts by score
    expect(page.get_by_label("Sort", exact=True)).to_have_value("score")
    rows = page.locator("tbody tr[data-seller-id]")
    expect(rows.first).to_have_attribute("data-seller-id", best["id"])
    shown = rows.evaluate_all("rs => rs.map(r => r.dataset.sellerId)")
    assert shown == [s["id"] for s in by_score["sellers"]]  # the API's order, page for page
    first = rows.first
    expect(first.locator(".score-num")).to_have_text(str(best["score"]))
    cells = first.locator("td").all_inner_texts()
    assert cells[3] == f"{best['products_matched']:,}"
    assert cells[4] == _markup(best["median_markup"])
    fill = first.locator(".score-fill").evaluate("e => e.style.width")
    assert fill == f"{best['score']}%"

    # The minimum score narrows the list (and its count) the way the API does.
    threshold = by_score["sellers"][9]["score"]
    with _api(server, org["token"]) as api:
        at_least = api.get("/sellers", params={"sort": "score", "min_score": threshold, "limit": 1000}).json()
    page.get_by_label("Min score").fill(str(threshold))
    expect(page.locator("#seller-count")).to_have_text(
        f"{at_least['total_matching']:,} of {at_least['total_in_org']:,}"
    )
    expect(rows).to_have_count(min(100, at_least["total_matching"]))
    page.get_by_label("Min score").fill("")
    expect(page.locator("#seller-count")).to_have_text(f"{by_score['total_in_org']:,} in the list")
    page.get_by_label("Min score").blur()
    screenshot_1280 = screenshot(page, "sellers-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    # On a phone each seller is a card: nothing scrolls sideways, and every figure of a row is on screen.
    wrap = page.locator(".table-wrap").evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert wrap[0] <= wrap[1], wrap
    for label in ("Products", "Markup", "Feedback", "Seen", "Added"):
        cell = first.locator(f'td[data-label="{label}"]')
        expect(cell).to_be_visible()
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (label, box)
    screenshot_390 = _screenshot_at(page, "sellers-390", "#seller-search")
    page.set_viewport_size({"width": 1280, "height": 900})

    # A click on the row (its score cell, not the name's link) opens the seller's page.
    first.locator(".score-col").click()
    page.wait_for_url(f"{server.base}/sellers/{best['id']}")
    with _api(server, org["token"]) as api:
        detail = api.get(f"/sellers/{best['id']}").json()
        listings = api.get(f"/sellers/{best['id']}/listings", params={"limit": 50}).json()
    expect(page.get_by_role("heading", level=1)).to_have_text(detail["display_name"])
    expect(page.locator(".seller-title .score-num")).to_have_text(str(detail["score"]))
    _reasons_match(page, detail)
    expect(page.locator('[data-figure="products"]')).to_have_text(f"{detail['products_matched']:,}")
    expect(page.locator('[data-figure="listings"]')).to_have_text(f"{detail['listings_seen']:,}")
    expect(page.locator('[data-figure="markup"]')).to_have_text(_markup(detail["median_markup"]))
    _listings_match(page, listings["listings"])
    if listings["next_cursor"]:
        page.get_by_role("button", name="Load more listings").click()
        expect(page.locator("tr[data-ebay-item-id]")).to_have_count(min(100, detail["listings_seen"]))
    _only_marketplace_links(page)
    assert page.evaluate("window.__violations") == []  # the score bars are set through the CSSOM, not a style attribute
    shot = screenshot(page, "seller-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    shot_390 = screenshot(page, "seller-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    if _keep_screenshots():
        for path, name in ((screenshot_1280, "sellers-1280"), (screenshot_390, "sellers-390"),
                           (shot, "seller-1280"), (shot_390, "seller-390")):  # fmt: skip
            _keep(path, name)

    # The address is the page: a reload (a browser navigation to an API path) shows it again.
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(detail["display_name"])
    page.get_by_role("link", name="← Sellers").click()
    page.wait_for_url(f"{server.base}/sellers")

    # Another org's user, and an unknown id: "Seller not found", nothing of the seller shown.
    other = server.token("Other seller team", "other-sellers@example.com")
    ctx = browser.new_context()
    ctx.add_init_script(WATCH_SCRIPT)
    stranger = ctx.new_page()
    sign_in(stranger, server.base, other, f"/sellers/{best['id']}")
    for seller_id in (best["id"], str(uuid.uuid4())):
        stranger.goto(f"{server.base}/sellers/{seller_id}")
        expect(stranger.get_by_role("heading", name="Seller not found")).to_be_visible()
        expect(stranger.locator("tr[data-ebay-item-id]")).to_have_count(0)
        assert detail["display_name"] not in stranger.locator("#view").inner_text()
    ctx.close()
    assert page_errors == []


def _screenshot_at(page: Page, name: str, selector: str) -> Path:
    """A screenshot of the viewport scrolled to `selector` (on a phone the table is below the add form)."""
    path = screenshot(page, name)
    page.locator(selector).evaluate(
        "e => { e.scrollIntoView({ block: 'start' });"
        " window.scrollBy(0, -document.querySelector('.topbar').offsetHeight - 8); }"
    )
    page.screenshot(path=str(path), full_page=False)
    return path


def _keep_screenshots() -> bool:
    return os.environ.get("SELLERCOLLECTION_KEEP_SCREENSHOTS") == "1"


def _markup(value: float) -> str:
    """As the page shows it: JavaScript's toFixed(2) rounds the exact binary value, ties up."""
    return f"{Decimal(value).quantize(Decimal('0.01'), ROUND_HALF_UP)}×"


def _reasons_match(page: Page, detail: dict[str, Any]) -> None:
    reasons = page.locator("ol.reasons li")
    expect(reasons).to_have_count(len(detail["score_reasons"]))
    for i, reason in enumerate(detail["score_reasons"]):
        row = reasons.nth(i)
        expect(row).to_have_attribute("data-signal", reason["signal"])
        points = f"+{reason['points']}"
        expect(row.locator(".reason-points")).to_have_text(points)
        # The sentence is the API's text, its "(+N)" shown once, as the points beside it.
        expect(row.locator(".reason-text")).to_have_text(reason["text"].removesuffix(f" ({points})"))
    assert sum(r["points"] for r in detail["score_reasons"]) == detail["score"]
    expect(page.locator(".reasons-total strong")).to_have_text(str(detail["score"]))


def _listings_match(page: Page, listings: list[dict[str, Any]]) -> None:
    rows = page.locator("tr[data-ebay-item-id]")
    expect(rows).to_have_count(len(listings))
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.ebayItemId)") == [x["ebay_item_id"] for x in listings]
    for i in (0, len(listings) - 1):
        x, row = listings[i], rows.nth(i)
        expect(row.get_by_role("link", name=f"Open the listing {x['ebay_item_id']} on eBay")).to_have_attribute(
            "href", x["ebay_url"]
        )
        expect(row.get_by_role("link", name=f"Open {x['amazon_asin']} on Amazon")).to_have_attribute(
            "href", x["amazon_url"]
        )
        expect(row.locator(".listing-title").first).to_have_text(x["ebay_title"])


def _only_marketplace_links(page: Page) -> list[str]:
    """Every link on the seller's page that leaves the app is an https link to eBay or Amazon."""
    hrefs: list[str] = page.locator("#view a[href]").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    outside = [h for h in hrefs if not h.startswith("/")]
    assert outside and all(marketplace_url(h) == h for h in outside), outside
    return outside


def _seller_with_hostile_evidence(server: ServedProcess, org_name: str) -> str:
    """A seller whose evidence rows carry upstream URLs off the marketplaces; returns its id."""
    with psycopg.connect(server.env["DATABASE_URL"], autocommit=True) as conn:
        org_id = conn.execute("SELECT id FROM orgs WHERE name = %s", (org_name,)).fetchone()[0]  # type: ignore[index]
        seller = conn.execute(
            "INSERT INTO sellers (org_id, display_name, normalized_name, platform) "
            "VALUES (%s, 'javascript:alert(1)', 'javascript:alert(1)', 'ebay') RETURNING id",
            (org_id,),
        ).fetchone()[0]  # type: ignore[index]
        product = conn.execute(
            "INSERT INTO amazon_products (org_id, asin, title, price) VALUES (%s, 'B0HOSTILE1', 'A product', 10) "
            "RETURNING id",
            (org_id,),
        ).fetchone()[0]  # type: ignore[index]
        for i, url in enumerate(HOSTILE_URLS):
            conn.execute(
                "INSERT INTO seller_evidence (seller_id, ebay_item_id, product_id, run_id, ebay_title, ebay_price, "
                "amazon_price, url) VALUES (%s, %s, %s, gen_random_uuid(), %s, 20, 10, %s)",
                (seller, 900000000000 + i, product, f"Listing {i}", url),
            )
    return str(seller)


def test_links_from_upstream_data_go_only_to_the_marketplaces(
    server: ServedProcess, org: dict[str, Any], page: Page, page_errors: list[str]
) -> None:
    seller_id = _seller_with_hostile_evidence(server, "Seller page team")
    sign_in(page, server.base, org["token"], f"/sellers/{seller_id}")
    rows = page.locator("tr[data-ebay-item-id]")
    expect(rows).to_have_count(len(HOSTILE_URLS))
    # The server answers with the listing's canonical address instead; the page links only that.
    _only_marketplace_links(page)
    hrefs = rows.locator("a[href]").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    canonical = [f"https://www.ebay.com/itm/{900000000000 + i}" for i in range(len(HOSTILE_URLS))]
    assert sorted(h for h in hrefs if "ebay" in h) == sorted(canonical)
    assert {h for h in hrefs if "ebay" not in h} == {"https://www.amazon.com/dp/B0HOSTILE1"}
    expect(page.get_by_role("heading", level=1)).to_have_text("javascript:alert(1)")  # a name is text

    # The page's own check, were the API ever to pass such a value: plain text, never an href.
    def hostile_answer(route: Route) -> None:
        answer = route.fetch()
        body = answer.json()
        for i, listing in enumerate(body["listings"]):
            listing["ebay_url"] = HOSTILE_URLS[i % len(HOSTILE_URLS)]
            listing["amazon_url"] = "javascript:alert(2)"
        route.fulfill(response=answer, json=body)

    page.route(re.compile(r"/sellers/[0-9a-f-]+/listings"), hostile_answer)
    page.reload()
    expect(rows).to_have_count(len(HOSTILE_URLS))
    hrefs = _only_marketplace_links(page)  # the eBay profile link is all that is left
    assert hrefs == [f"https://www.ebay.com/usr/{'javascript%3Aalert%281%29'}"], hrefs
    untrusted = page.locator("tr[data-ebay-item-id] .untrusted-link").all_inner_texts()
    assert "javascript:alert(document.cookie)" in untrusted and "http://evil.example/" in untrusted
    assert untrusted.count("javascript:alert(2)") == len(HOSTILE_URLS)
    page.unroute(re.compile(r"/sellers/[0-9a-f-]+/listings"))

    # The module itself agrees with the server's rule on every case, and accepts every marketplace site.
    cases = HOSTILE_URLS + SAFE_URLS + [f"https://www.{host}/x" for host in sorted(MARKETPLACE_HOSTS)]
    cases += [f"https://{host}" for host in sorted(MARKETPLACE_HOSTS)]
    js = page.evaluate(
        "async (urls) => { const m = await import('/static/js/links.js');"
        " return urls.map((u) => m.marketplaceUrl(u)); }",
        cases,
    )
    assert js == [marketplace_url(u) for u in cases]
    assert all(js[len(HOSTILE_URLS) :]) and not any(js[: len(HOSTILE_URLS)])
    assert page_errors == []
