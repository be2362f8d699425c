"""The web page end to end in Chromium: sign in, start and watch a run, control it, reload, history, sellers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import WATCH_SCRIPT, screenshot, serve, sign_in
from tests.support import ServedProcess

# Slow enough that a person (and this test) can pause, resume and reload before the run ends.
DEMO_LATENCY_MS = "150"  # long enough that the run is still open after pause, resume and the runs list
DEPARTMENTS = ("appliances", "arts-crafts-sewing")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    with serve(db_url, tmp_path_factory.mktemp("web-data"), SELLERCOLLECTION_DEMO_LATENCY_MS=DEMO_LATENCY_MS) as served:
        yield served


@pytest.fixture(scope="module")
def token(server: ServedProcess) -> str:
    return server.token("Web team", "web@example.com")


def _workers_with_cards(page: Page) -> int:
    return int(
        page.evaluate(
            "new Set([...document.querySelectorAll('#feed li[data-worker]')].map(e => e.dataset.worker)).size"
        )
    )


def _dom_seqs(page: Page) -> list[int]:
    return [int(s) for s in page.eval_on_selector_all("#feed li[data-seq]", "els => els.map(e => e.dataset.seq)")]


def test_signed_out_page_shows_the_sign_in_form(server: ServedProcess, page: Page, page_errors: list[str]) -> None:
    page.goto(server.base + "/runs/00000000-0000-0000-0000-000000000000")
    expect(page.get_by_label("API token")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.goto(server.base + "/sellers")  # a browser navigation to an API path gets the page, not JSON
    expect(page.get_by_label("API token")).to_be_visible()
    assert page_errors == []


def test_wrong_token_shows_the_api_detail(server: ServedProcess, page: Page) -> None:
    page.goto(server.base + "/")
    page.get_by_label("API token").fill("sc_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid or revoked token")


def test_a_run_from_start_to_history_and_sellers(
    server: ServedProcess, token: str, page: Page, browser: Browser, page_errors: list[str], tmp_path: Path
) -> None:
    sign_in(page, server.base, token)

    # Start a run over two departments (ten categories).
    page.get_by_label("Name (optional)").fill("Browser run")
    for dep in DEPARTMENTS:
        page.locator(f"#dep-{dep}").check()
    expect(page.get_by_text("10 selected")).to_be_visible()
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    run_id = page.url.rsplit("/", 1)[1]

    # Cards from at least three workers arrive live, and lanes move between states.
    page.wait_for_function(
        "() => new Set([...document.querySelectorAll('#feed li[data-worker]')].map(e => e.dataset.worker)).size >= 3"
    )
    page.wait_for_function(
        "() => Object.values(window.__watch.laneStates).filter(s => new Set(s).size >= 2).length >= 3"
    )
    expect(page.locator(".lanes > li[data-worker]")).to_have_count(5)
    expect(page.locator("#live-chip")).to_have_text("Live")

    # Pause from the page: the run stops, lanes say so, a banner appears.
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".badge-slot")).to_have_attribute("data-status", "paused")
    expect(page.locator('#feed li[data-action="paused"]')).to_have_count(1)
    expect(page.locator('.lanes > li[data-state="paused"]')).to_have_count(5)
    api = server.client(token)
    assert api.get(f"/collection/runs/{run_id}").json()["status"] == "paused"

    # Screenshots while paused (a stable picture): light and dark, desktop and phone width.
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width, height in ((1280, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            assert screenshot(page, f"run-detail-{scheme}-{width}").stat().st_size > 10_000
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".badge-slot")).to_have_attribute("data-status", "running")

    # The runs list shows the open run as a progress card with its controls; it opens the run again.
    page.get_by_role("link", name="Runs", exact=True).click()
    card = page.locator(f'article.progress-card[data-run-id="{run_id}"]')
    expect(card.get_by_role("button", name="Pause")).to_be_enabled()
    expect(card.locator("progress")).to_have_count(2)
    card.get_by_role("link", name="Browser run").click()
    page.wait_for_url(f"**/runs/{run_id}")
    page.wait_for_function("() => document.querySelectorAll('#feed li[data-seq]').length > 0")
    before = max(_dom_seqs(page))

    # Reload mid-run: the same page comes back and the feed goes on, no card twice.
    page.reload()
    expect(page.locator("h1.run-name")).to_have_text("Browser run")
    page.wait_for_function(
        f"() => Math.max(...[...document.querySelectorAll('#feed li[data-seq]')].map(e => +e.dataset.seq)) > {before}"
    )
    assert api.get(f"/collection/runs/{run_id}").json()["status"] == "running"
    seqs = _dom_seqs(page)
    assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs, reverse=True)

    # Completion: the banner, the badge and the final totals.
    expect(page.locator(".badge-slot")).to_have_attribute("data-status", "completed", timeout=180_000)
    expect(page.locator('#feed li[data-action="complete"].banner-complete')).to_be_visible()
    expect(page.locator("#live-chip")).to_have_text("Ended")
    added = page.evaluate("window.__watch.seqs")
    assert len(added) == len(set(added)), "a card was rendered twice after the reload"
    assert page.locator("#feed > li").count() <= 100
    run = api.get(f"/collection/runs/{run_id}").json()
    assert run["status"] == "completed" and run["seller_count_snapshot"] > 0
    expect(page.locator(".sellers-line")).to_contain_text(f"{run['sellers_new']:,} new")

    # The runs list shows it as a row.
    page.get_by_role("link", name="Runs", exact=True).click()
    expect(page.locator(f'tr[data-run-id="{run_id}"]')).to_contain_text("completed")

    # History: the run with its snapshot, and "sellers at this point".
    page.get_by_role("link", name="History").click()
    entry = page.locator(f'li[data-run-id="{run_id}"]')
    snapshot = f"{run['seller_count_snapshot']:,} sellers at this point"
    expect(entry.get_by_role("button", name=snapshot)).to_be_visible()
    entry.get_by_role("button", name=snapshot).click()
    expect(entry.locator(".entry-detail")).to_contain_text(f"{run['sellers_new']:,} added")
    entry.get_by_text("Every change of this entry").click()  # more than the first names: page through all
    entry.get_by_role("button", name="Load changes").click()
    expect(entry.locator('ul[aria-label="Every change"] > li').first).to_contain_text("added: ")
    screenshot(page, "history")
    page.reload()  # /history is an API path too: a reload must still show the page
    expect(page.locator(f'li[data-run-id="{run_id}"]')).to_be_visible()

    # Sellers: search narrows the table; CSV export downloads the list.
    page.get_by_role("link", name="Sellers").click()
    first = page.locator("tbody tr[data-seller-id] td.seller-name").first.inner_text()
    prefix = first[:3]
    page.get_by_label("Search").fill(prefix)
    page.wait_for_function(
        "p => { const n = [...document.querySelectorAll('tbody td.seller-name')].map(e => e.textContent.toLowerCase());"
        " return n.length > 0 && n.every(x => x.startsWith(p)); }",
        arg=prefix.lower(),
    )
    with page.expect_download() as download:
        page.locator('a[data-format="csv"]').click()
    saved = tmp_path / "sellers.csv"
    download.value.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert text.startswith("\ufeff")
    assert f'"{first}"' in text
    assert text.count("\n") >= run["seller_count_snapshot"]

    # Add sellers from pasted lines, flag and delete a selection.
    page.on("dialog", lambda d: d.accept())
    page.locator("#seller-add").fill("Web Added One\nweb  added one\nWeb Added Two")
    page.get_by_role("button", name="Add sellers").click()
    expect(page.get_by_text("Added 2, skipped 1")).to_be_visible()
    page.get_by_label("Search").fill("Web Added")
    rows = page.locator("tbody tr[data-seller-id]")
    expect(rows).to_have_count(2)
    page.get_by_label("Select all shown").check()
    page.get_by_role("button", name="Flag selected", exact=True).click()
    expect(rows.get_by_role("button", name="Flagged", exact=True)).to_have_count(2)
    page.get_by_label("Select all shown").check()
    page.get_by_role("button", name="Delete selected").click()
    expect(page.get_by_text("No seller name starts with that.")).to_be_visible()

    # A finished run's page: final totals and the last events the server still holds.
    page.goto(f"{server.base}/runs/{run_id}")
    expect(page.locator(".badge-slot")).to_have_attribute("data-status", "completed")
    expect(page.locator('#feed li[data-action="complete"]')).to_have_count(1)
    expect(page.locator(".sellers-line")).to_contain_text(f"{run['seller_count_snapshot']:,} sellers in the list")

    # Sign out: the session is gone, every page asks to sign in again.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    page.goto(server.base + "/history")
    expect(page.get_by_label("API token")).to_be_visible()

    # Another org's user sees "not found" for this run.
    other = server.token("Other team", "other@example.com")
    ctx = browser.new_context()
    ctx.add_init_script(WATCH_SCRIPT)
    stranger = ctx.new_page()
    sign_in(stranger, server.base, other, f"/runs/{run_id}")
    expect(stranger.get_by_role("heading", name="Run not found")).to_be_visible()
    ctx.close()
    assert page_errors == []


def test_sign_in_with_the_keyboard_only(server: ServedProcess, token: str, page: Page) -> None:
    page.goto(server.base + "/")
    expect(page.get_by_label("API token")).to_be_focused()
    page.keyboard.type(token)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Runs", exact=True)).to_be_visible()
    expect(page.locator("main#view")).to_be_focused()  # focus moves on to the page's content
    page.keyboard.press("Tab")
    expect(page.locator("summary", has_text="New run")).to_be_focused()
    details = page.locator("details.new-run-wrap")
    was_open = details.evaluate("d => d.open")
    page.keyboard.press("Enter")  # the new-run panel opens and closes from the keyboard too
    expect(details).to_have_js_property("open", not was_open)


def test_docs_work_offline_with_an_authorize_button(server: ServedProcess, page: Page) -> None:
    foreign: list[str] = []

    def block_foreign(route: object) -> None:
        request = route.request  # type: ignore[attr-defined]
        if not request.url.startswith(server.base):
            foreign.append(request.url)
            route.abort()  # type: ignore[attr-defined]
        else:
            route.continue_()  # type: ignore[attr-defined]

    page.route("**/*", block_foreign)
    page.goto(server.base + "/docs")
    expect(page.get_by_role("button", name=re.compile("Authorize"))).to_be_visible()
    expect(page.get_by_text("/collection/runs/{run_id}/activity").first).to_be_visible()
    assert foreign == []
