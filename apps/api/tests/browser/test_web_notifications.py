"""The notifications page in Chromium: add a webhook (its secret shown once signs what arrives), send a
test and see its delivery, and a subscription disabled after days of failures says so."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, serve, sign_in
from tests.receivers import WebhookReceiver, readme_verify
from tests.support import ServedProcess

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    with serve(
        db_url, tmp_path_factory.mktemp("web-notifications"), SELLERCOLLECTION_WEBHOOK_ALLOW_PRIVATE="true"
    ) as s:
        yield s


def test_add_a_webhook_send_a_test_and_see_a_disabled_one(
    server: ServedProcess, page: Page, page_errors: list[str], db_url: str
) -> None:
    token = server.token("Notify team", "notify@example.com")
    with WebhookReceiver() as receiver:
        sign_in(page, server.base, token, "/notifications")
        expect(page.get_by_role("heading", name="Notifications", exact=True)).to_be_visible()
        expect(page.get_by_text("No webhooks yet. Add one below.")).to_be_visible()
        expect(page.locator("[data-email-enabled=false]")).to_contain_text("SELLERCOLLECTION_SMTP_URL is not set")
        expect(page.get_by_role("button", name="Add recipient")).to_be_disabled()

        form = page.get_by_role("form", name="New webhook")
        form.get_by_label("URL").fill("ftp://files.example.com/hook")
        form.get_by_role("button", name="Add webhook").click()
        expect(form.get_by_role("alert")).to_contain_text("must start with https://")

        form.get_by_label("URL").fill(receiver.url())
        form.get_by_label("Description (optional)").fill("Team chat")
        form.get_by_label("Run cancelled").check()
        form.get_by_role("button", name="Add webhook").click()
        secret = form.get_by_label("Secret (shown only now: copy it into your receiver)").input_value()
        assert secret.startswith("whsec_")
        row = page.locator("tr[data-subscription-id]")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Team chat")
        expect(row).to_contain_text("All events")  # the five defaults and "Run cancelled"
        expect(row.locator("[data-state=enabled]")).to_have_text("Enabled")

        row.get_by_role("button", name="Send test").click()
        [ping] = receiver.wait_for(lambda got: len(got) == 1)
        assert readme_verify()(secret, ping.body, ping.headers["x-sellercollection-signature"])
        delivered = page.locator(f"tr[data-event-id='{ping.event_id}']")
        expect(delivered).to_contain_text("delivered", timeout=20_000)
        expect(delivered).to_contain_text("Test")
        screenshot(page, "notifications")

        # Three days of failures: the next failing try disables it, and the page says why.
        receiver.answers.append((500, b"broken"))
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("UPDATE notification_subscriptions SET failing_since = now() - interval '4 days'")
        row.get_by_role("button", name="Send test").click()
        receiver.wait_for(lambda got: len(got) == 2)
        expect(page.locator("tr[data-outcome=retrying]")).to_contain_text("HTTP 500", timeout=20_000)
        page.reload()
        expect(page.locator("tr[data-subscription-id] [data-state=disabled]")).to_have_text("Disabled")
        expect(page.locator("tr[data-subscription-id]")).to_contain_text("Disabled automatically: every try failed")
        page.set_viewport_size({"width": 390, "height": 900})
        screenshot(page, "notifications-390")
    assert page_errors == []
