"""One set of figures on the run page: the run's own counters, the same in every place, never a card twice.

The page is reloaded five times during a run, once right after a pause and a resume. After each
load, every `data-metric` element reaches what `GET /collection/runs/{id}` said within 3 s and is
never ahead of it; all elements of one metric show the same text; no `data-seq` is added twice;
once the run has ended the figures are exact. A run that finished before the page was opened shows
the API's figures at once.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import screenshot, server_fixture, sign_in
from tests.support import ServedProcess, leaf_ids

pytestmark = pytest.mark.timeout(420)

LAG_S = 3.0
# The run totals the issue names, and the run field each one shows.
METRICS = {
    "sellers_found": "sellers_found",
    "sellers_new": "sellers_new",
    "products_searched": "products_searched",
    "categories_completed": "categories_completed",
    "requests": "requests_total",
    "cost": "upstream_cost",
}
ETA_WORDS = ("estimating…", "under a minute left", "finishing")

# Whenever an eBay card reaches the feed, what the header says about the phase and the products.
PHASE_WATCH = """
(() => {
  const seen = (window.__phaseSeen = []);
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.id !== "feed") continue;
      for (const n of r.addedNodes) {
        const phase = n.querySelector && n.querySelector(".phase");
        if (!phase || phase.textContent !== "ebay") continue;
        const bars = [...document.querySelectorAll(".bar-num")].map((b) => b.textContent);
        seen.push({ header: document.querySelector(".run-phase").textContent, products: bars[1] || "" });
      }
    }
  }).observe(document, { subtree: true, childList: true });
})();
"""


server = server_fixture(
    "web-figures", SELLERCOLLECTION_DEMO_LATENCY_MS="100", SELLERCOLLECTION_DEMO_PRICE_PER_1000="1.5"
)


def _api_figures(api: httpx.Client, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] = api.get(f"/collection/runs/{run_id}").json()
    return run


def _page_figures(page: Page) -> dict[str, list[tuple[str, str]]]:
    shown: dict[str, list[tuple[str, str]]] = page.evaluate(
        """() => {
          const out = {};
          for (const el of document.querySelectorAll("[data-metric]")) {
            (out[el.dataset.metric] ||= []).push([el.textContent, el.dataset.value || ""]);
          }
          return out;
        }"""
    )
    return shown


def _number(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", ""))


def _check_figures(page: Page, api: httpx.Client, run_id: str, *, exact: bool = False) -> dict[str, Any]:
    """The page's run totals reach the API's within LAG_S (exactly, once over), never run ahead, and agree."""
    before = _api_figures(api, run_id)
    wanted = {metric: float(before[field]) for metric, field in METRICS.items()}
    compare = "===" if exact else ">="
    page.wait_for_function(
        f"""(wanted) => Object.entries(wanted).every(([metric, value]) => {{
          const els = [...document.querySelectorAll(`[data-metric="${{metric}}"]`)];
          const reached = (el) => el.dataset.value !== "" && Number(el.dataset.value) {compare} value;
          return els.length > 0 && els.every(reached);
        }})""",
        arg=wanted,
        timeout=LAG_S * 1000,
    )
    shown = _page_figures(page)
    after = _api_figures(api, run_id)
    for metric, field in METRICS.items():
        texts = {text for text, _ in shown[metric]}
        assert len(texts) == 1, f"{metric} shows {texts}"
        value = _number(texts.pop())
        assert {Decimal(v) for _, v in shown[metric]} == {value}, f"{metric}: text and value differ"
        low, high = Decimal(str(before[field])), Decimal(str(after[field]))
        assert (value == high) if exact else (low <= value <= high), f"{metric} {value} not within [{low}, {high}]"
    [(eta, _)] = shown["eta"]
    status = after["status"]
    if status == "running":
        assert eta in ETA_WORDS or (eta.startswith("about ") and eta.endswith(" left")), eta
    else:
        assert eta == {"paused": "paused", "completed": "done"}.get(status, eta), (status, eta)
    return after


def _no_card_twice(page: Page) -> None:
    added = page.evaluate("window.__watch.seqs")
    assert added and len(added) == len(set(added)), "a card was added twice"
    shown = [int(s) for s in page.eval_on_selector_all("#feed li[data-seq]", "els => els.map(e => e.dataset.seq)")]
    assert len(shown) == len(set(shown)) and shown == sorted(shown, reverse=True)


def _reload(page: Page) -> None:
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('#feed li[data-seq]').length > 0")


def _shots(page: Page, name: str) -> None:
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_reloads_pause_and_resume_keep_one_set_of_figures_and_no_card_twice(
    server: ServedProcess, context: BrowserContext, page: Page, page_errors: list[str]
) -> None:
    context.add_init_script(PHASE_WATCH)
    token = server.token("Figures team", "figures@example.com")
    api = server.client(token, timeout=30)
    categories = leaf_ids(api.get("/amazon/categories").json())[:16]
    run = api.post("/collection/runs", json={"name": "Figures run", "category_ids": categories}).json()
    run_id = run["id"]
    sign_in(page, server.base, token, f"/runs/{run_id}")
    expect(page.locator(".badge-slot")).to_have_attribute("data-status", "pending")
    expect(page.locator('[data-metric="eta"]')).to_have_text("not started")
    assert api.post(f"/collection/runs/{run_id}/start").status_code == 200

    # The start: as soon as eBay cards arrive, the header says eBay, never "Amazon, 0 / 0".
    page.wait_for_function("() => window.__phaseSeen.length >= 5", timeout=60_000)
    _shots(page, "run-start")
    for seen in page.evaluate("window.__phaseSeen"):
        assert seen["header"] == "Phase: eBay" and "0 / 0" not in seen["products"], seen
    _check_figures(page, api, run_id)

    # Reloads during the run.
    for _ in range(3):
        _reload(page)
        _check_figures(page, api, run_id)
        _no_card_twice(page)

    # Time left, once the run has gone long enough to have a recent rate: the API's, in minutes.
    eta = page.locator('[data-metric="eta"]')
    expect(eta).to_have_text(re.compile(r"^(about \d+ min|under a minute) left$"), timeout=30_000)
    shown_eta = float(eta.get_attribute("data-value") or "nan")
    api_eta = api.get(f"/collection/runs/{run_id}/progress").json()["forecast"]["eta_seconds"]
    assert api_eta is not None and abs(shown_eta - api_eta) <= max(30.0, api_eta / 2), (shown_eta, api_eta)
    expect(page.locator(".cost-line")).to_contain_text("projected")
    _shots(page, "run-during")

    # Pause: the figures hold still, time left says "paused".
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".badge-slot")).to_have_attribute("data-status", "paused")
    expect(page.locator('[data-metric="eta"]')).to_have_text("paused")
    paused = _check_figures(page, api, run_id)
    assert paused["status"] == "paused"
    expect(page.locator(".paused-time")).to_be_visible()
    _shots(page, "run-paused")

    # Resume, and reload right after it.
    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".badge-slot")).to_have_attribute("data-status", "running")
    _no_card_twice(page)
    _reload(page)
    _check_figures(page, api, run_id)
    _no_card_twice(page)

    # The fifth reload, then the end: exact figures.
    page.wait_for_function("() => document.querySelectorAll('#feed li[data-seq]').length >= 60")
    _reload(page)
    _check_figures(page, api, run_id)
    expect(page.locator(".badge-slot")).to_have_attribute("data-status", "completed", timeout=240_000)
    final = _check_figures(page, api, run_id, exact=True)
    _no_card_twice(page)
    assert final["status"] == "completed" and final["paused_seconds"] > 0
    expect(page.locator(".eta-line")).to_contain_text(f"done · {final['products_searched']:,} products in")
    expect(page.locator(".cost-line")).not_to_contain_text("projected")
    _shots(page, "run-finished")

    # Active time and paused time apart, as the API counts them (the page counts on locally while live).
    elapsed = page.locator(".run-sub").inner_text()
    assert f"Elapsed {_clock(final['active_seconds'])}" in elapsed
    assert f"paused {_clock(final['paused_seconds'])}" in elapsed
    assert page_errors == []


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60} s"


def test_a_run_finished_before_the_page_opened_shows_the_apis_figures(
    server: ServedProcess, page: Page, page_errors: list[str]
) -> None:
    token = server.token("Finished team", "finished@example.com")
    api = server.client(token, timeout=30)
    categories = leaf_ids(api.get("/amazon/categories").json())[:2]
    run = api.post("/collection/runs", json={"name": "Finished earlier", "category_ids": categories}).json()
    api.post(f"/collection/runs/{run['id']}/start").raise_for_status()
    # Another process's run is only observable by asking for it; bounded by the deadline.
    deadline = time.monotonic() + 120
    while api.get(f"/collection/runs/{run['id']}").json()["status"] == "running":
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.2)

    sign_in(page, server.base, token, f"/runs/{run['id']}")
    expect(page.locator(".badge-slot")).to_have_attribute("data-status", "completed")
    final = _check_figures(page, api, run["id"], exact=True)
    progress = api.get(f"/collection/runs/{run['id']}/progress").json()
    skipped = sum(s["count"] for s in progress["skipped_products"])
    if skipped:
        expect(page.locator(".skipped-line")).to_contain_text(f"{skipped:,} skipped")
    expect(page.locator(".sellers-line")).to_contain_text(f"{final['seller_count_snapshot']:,} sellers in the list")
    expect(page.locator("#live-chip")).to_have_text("Ended")
    expect(page.locator('#feed li[data-action="complete"]')).to_have_count(1)  # the stored events, replayed
    # The run's seller-line coverage, as the API counts it (the demo shows every seller line).
    assert final["listings_read"] == final["listings_with_seller"] > 0 and final["seller_coverage"] == 1
    coverage = page.locator('[data-metric="seller_coverage"]')
    expect(coverage).to_have_text("100.0%")
    expect(coverage).to_have_attribute(
        "title", f"{final['listings_read']:,} of {final['listings_read']:,} listings with a readable seller line"
    )
    assert float(coverage.get_attribute("data-value") or "nan") == final["seller_coverage"]
    _no_card_twice(page)

    # The runs table lists it with its requests and cost.
    page.get_by_role("link", name="Runs", exact=True).click()
    row = page.locator(f'tr[data-run-id="{run["id"]}"]')
    expect(row.locator('td[data-col="requests"]')).to_have_text(f"{final['requests_total']:,}")
    expect(row.locator('td[data-col="cost"]')).to_have_text(_usd(final["upstream_cost"]))
    expect(row.locator('td[data-col="seller_coverage"]')).to_have_text(f"{100 * final['seller_coverage']:.1f}%")
    assert page_errors == []


def _usd(value: float) -> str:
    text = f"{Decimal(str(value)):,.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"
