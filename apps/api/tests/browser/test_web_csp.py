"""The page under its Content-Security-Policy (Chromium): it works with no violation, and no other origin can frame it.

Chromium reports every blocked script, style, image or connection as a `securitypolicyviolation`
event (and a console error); the pages record both from their first script on. A page served on
another port of the same host (another origin, but the same site, so the session cookie would go
along) frames the schedules page, as a clickjacking page would, and must be shown nothing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect

from tests.browser.conftest import serve, sign_in
from tests.support import ServedProcess, start_served_run

pytestmark = pytest.mark.timeout(300)

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = e.sourceFile || e.documentURI;
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${where}`);
});
"""


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    with serve(db_url, tmp_path_factory.mktemp("web-csp"), SELLERCOLLECTION_DEMO_LATENCY_MS="20") as served:
        yield served


@pytest.fixture
def policy_errors(context: BrowserContext) -> list[str]:
    """Console errors about the policy, from every page of the test's browser context."""
    found: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error" and re.search(r"Content Security Policy|Refused to", message.text):
            found.append(message.text)

    context.add_init_script(RECORD_VIOLATIONS)
    context.on("console", record)
    return found


def violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.__violations")
    return found


def test_sign_in_a_run_and_the_sellers_page_meet_the_policy(
    server: ServedProcess, page: Page, policy_errors: list[str], page_errors: list[str]
) -> None:
    token = server.token("CSP team", "csp@example.com")
    with server.client(token) as api:
        run = start_served_run(api, "Under the policy", categories=2)
    shell = page.goto(server.base + "/")
    assert shell is not None and "frame-ancestors 'none'" in shell.headers["content-security-policy"]
    sign_in(page, server.base, token)
    expect(page.get_by_role("link", name="Runs", exact=True)).to_be_visible()
    seen = violations(page)

    page.goto(f"{server.base}/runs/{run['id']}")  # the live feed (EventSource), lanes, the favicon's data: URL
    page.wait_for_function("() => document.querySelectorAll('#feed li[data-seq]').length > 0")
    expect(page.locator(".lanes > li[data-worker]")).to_have_count(5)
    page.wait_for_function("() => document.getElementById('favicon').href.startsWith('data:image/svg+xml')")
    seen += violations(page)

    page.goto(server.base + "/sellers")
    expect(page.get_by_label("Search")).to_be_visible()
    page.get_by_role("button", name="Theme: auto").click()  # the theme switch, and its stored value on reload
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    seen += violations(page)

    # Sign out also forgets a token an older /docs kept in this origin's storage.
    page.evaluate('localStorage.setItem(\'authorized\', \'{"bearerAuth": {"value": "sc_old"}}\')')
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    assert page.evaluate("localStorage.getItem('authorized')") is None
    assert seen == []
    assert policy_errors == []
    assert page_errors == []


def test_docs_work_under_the_policy_and_keep_no_token(
    server: ServedProcess, page: Page, policy_errors: list[str]
) -> None:
    page.goto(server.base + "/")
    page.evaluate('localStorage.setItem(\'authorized\', \'{"bearerAuth": {"value": "sc_old"}}\')')  # an older /docs
    page.goto(server.base + "/docs")
    page.get_by_role("button", name=re.compile("Authorize")).first.click()
    page.locator("#auth-bearer-value").fill("sc_typed-in-docs")
    page.get_by_role("button", name="Apply credentials").first.click()
    expect(page.locator(".modal-ux").get_by_role("button", name="Remove authorization")).to_be_visible()
    stored = page.evaluate("Object.keys(localStorage).filter(k => k !== 'sc-theme')")
    assert stored == []  # neither the token just typed nor the one an older /docs kept
    assert violations(page) == []
    assert policy_errors == []


class _FramingPage(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        body = f'<!doctype html><title>Not SellerCollection</title><iframe src="{self.target}"></iframe>'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def framing_site(server: ServedProcess) -> Iterator[str]:
    """Another origin on this host (another port) whose page frames the schedules page."""
    handler = type("FramingPage", (_FramingPage,), {"target": server.base + "/schedules"})
    site = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}/"
    finally:
        site.shutdown()
        site.server_close()


def test_another_origin_framing_the_page_sees_nothing(server: ServedProcess, page: Page, framing_site: str) -> None:
    sign_in(page, server.base, server.token("Framed team", "framed@example.com"), "/schedules")
    expect(page.get_by_role("heading", name="Schedules", level=1)).to_be_visible()  # signed in: the cookie exists
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "frame" in m.text else None)
    page.goto(framing_site)
    page.wait_for_load_state("load")
    framed = page.frames[1]
    assert not framed.url.startswith(server.base)  # Chromium shows its own error page instead
    assert framed.locator("#main-nav, #view, button").count() == 0
    assert any("frame-ancestors" in text or "X-Frame-Options" in text for text in refused), refused
