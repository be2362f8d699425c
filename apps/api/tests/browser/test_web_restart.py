"""The run page survives a server restart: it reconnects by itself and the feed goes on."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import serve, sign_in

pytestmark = pytest.mark.timeout(300)

# Slow enough that the restarted server has sent fewer events than the page saw before: the page
# then gets a `gap` of unknown size (numbering began again) and starts the feed afresh.
DEMO_LATENCY_MS = "300"
EVENTS_BEFORE_RESTART = 400


def test_the_feed_reconnects_after_a_server_restart(
    db_url: str, tmp_path_factory: pytest.TempPathFactory, page: Page, page_errors: list[str]
) -> None:
    data_dir = tmp_path_factory.mktemp("web-restart")
    with serve(db_url, data_dir, SELLERCOLLECTION_DEMO_LATENCY_MS=DEMO_LATENCY_MS) as first:
        token = first.token("Restart team", "restart@example.com")
        api = first.client(token, timeout=30)
        categories = ["appliances-cooktops", "appliances-dishwashers", "appliances-freezers", "appliances-ranges"]
        run = api.post("/collection/runs", json={"name": "Restarted", "category_ids": categories}).json()
        api.post(f"/collection/runs/{run['id']}/start").raise_for_status()
        sign_in(page, first.base, token, f"/runs/{run['id']}")
        page.wait_for_function(f"() => window.__scMetrics.received >= {EVENTS_BEFORE_RESTART}")
        connects = page.evaluate("window.__scMetrics.connects")

        first.stop()  # SIGTERM: the server stops, the run stays `running` for the next server
        expect(page.locator("#live-chip")).to_contain_text("Reconnecting")

    with serve(db_url, data_dir, port=first.port, SELLERCOLLECTION_DEMO_LATENCY_MS=DEMO_LATENCY_MS):
        expect(page.locator("#live-chip")).to_have_text("Live", timeout=60_000)
        expect(page.locator(".gap-notice")).to_contain_text("The server restarted")
        # New events arrive on the same page, without a reload: cards numbered by the new server.
        page.wait_for_function("() => document.querySelectorAll('#feed li[data-seq]').length >= 5", timeout=60_000)
        seqs = [int(x) for x in page.eval_on_selector_all("#feed li[data-seq]", "els => els.map(e => e.dataset.seq)")]
        assert len(seqs) == len(set(seqs))
        assert page.evaluate("window.__scMetrics.connects") == connects  # the browser's own reconnect did it
        assert page_errors == []
