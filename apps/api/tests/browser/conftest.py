"""Browser tests: Debian's Chromium, driven by Playwright for Python, against a real `sellercollection serve`.

Playwright's own browser download is never used: the tests launch `/usr/bin/chromium` (or
`SELLERCOLLECTION_TEST_CHROMIUM`). Without it they skip on a developer's machine and fail under CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.support import ServedProcess, chromium_missing, demo_env, launched_chromium, served_process

REPO = Path(__file__).resolve().parents[4]
ARTIFACTS = Path(os.environ.get("SELLERCOLLECTION_TEST_ARTIFACTS", REPO / "test-artifacts")) / "web"

# Recorded in every page from its first script on: cards added (to catch a repeated seq), the
# most cards the feed ever held, each lane's states, the status badge's changes, and when a
# control was clicked and when the page showed that it acted on it (data-pending).
WATCH_SCRIPT = """
(() => {
  const w = (window.__watch = { seqs: [], maxCards: 0, laneStates: {}, badge: [], pending: [] });
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "childList" && r.target.id === "feed") {
        for (const n of r.addedNodes) if (n.dataset && n.dataset.seq) w.seqs.push(Number(n.dataset.seq));
        w.maxCards = Math.max(w.maxCards, r.target.childElementCount);
      } else if (r.type === "attributes" && r.attributeName === "data-state" && r.target.dataset.worker) {
        (w.laneStates[r.target.dataset.worker] ||= []).push(r.target.dataset.state);
      } else if (r.attributeName === "data-status" && r.target.classList.contains("badge-slot")) {
        w.badge.push({ status: r.target.dataset.status, at: performance.now() });
      } else if (r.attributeName === "data-pending" && r.target.dataset.pending) {
        w.pending.push({ action: r.target.dataset.pending, at: performance.now() });
      }
    }
  }).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-state", "data-status", "data-pending"],
  });
  document.addEventListener("click", (e) => {
    const b = e.target.closest && e.target.closest("button[data-action]");
    if (b) w.click = { action: b.dataset.action, at: e.timeStamp, handledAt: performance.now() };
  }, true);
})();
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope, not session: while Playwright's sync API is open it runs an event loop in this
    # thread, and the async tests of later modules could not start theirs.
    missing = chromium_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    with launched_chromium() as launched:
        yield launched


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.add_init_script(WATCH_SCRIPT)
    yield ctx
    ctx.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught script errors of the test's pages: a test ends by asserting there were none."""
    return []


@pytest.fixture
def page(context: BrowserContext, page_errors: list[str]) -> Page:
    p = context.new_page()
    p.on("pageerror", lambda e: page_errors.append(str(e)))
    p.set_default_timeout(30_000)
    return p


def serve(
    db_url: str, data_dir: Path, *, port: int | None = None, **settings: str
) -> AbstractContextManager[ServedProcess]:
    """A real `sellercollection serve` on the demo marketplace, with these extra settings (env names)."""
    return served_process(demo_env(db_url, SELLERCOLLECTION_DATA_DIR=str(data_dir), **settings), port=port)


def server_fixture(name: str, **settings: str) -> Any:
    """A test module's `server` fixture: one real `serve` on the demo marketplace, with these settings.

    server = server_fixture("web-figures", SELLERCOLLECTION_DEMO_LATENCY_MS="100")
    """

    @pytest.fixture(scope="module")
    def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
        with serve(db_url, tmp_path_factory.mktemp(name), **settings) as served:
            yield served

    return server


def sign_in(page: Page, base: str, token: str, path: str = "/") -> None:
    page.goto(base + path)
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#main-nav").wait_for(state="visible")


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=False)
    return path
