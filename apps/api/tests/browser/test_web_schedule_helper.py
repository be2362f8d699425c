"""The schedules page's "every day at / every week on" helper, and fire times in the schedule's zone and the viewer's.

The browser runs in Europe/Berlin (Playwright's timezone_id); the schedule is in America/New_York.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import WATCH_SCRIPT, screenshot, server_fixture, sign_in
from tests.support import ServedProcess

pytestmark = pytest.mark.timeout(300)

NEW_YORK, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")


server = server_fixture("web-schedule-helper", SELLERCOLLECTION_SCHEDULER_ENABLED="false")


@pytest.fixture
def berlin_page(browser: Browser, page_errors: list[str]) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin")
    ctx.add_init_script(WATCH_SCRIPT)
    page = ctx.new_page()
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    yield page
    ctx.close()


def test_the_helper_writes_the_cron_and_fire_times_show_both_zones(
    server: ServedProcess, berlin_page: Page, page_errors: list[str]
) -> None:
    page = berlin_page
    token = server.token("Helper team", "helper@example.com")
    sign_in(page, server.base, token, "/schedules")
    cron = page.get_by_label("Cron (minute hour day month weekday)")
    zone = page.get_by_label("Time zone")

    # The time zone: the viewer's by default, picked from every IANA zone the browser knows.
    expect(zone).to_have_value("Europe/Berlin")
    assert page.locator("#schedule-tz-list option").count() > 300
    assert page.locator('#schedule-tz-list option[value="America/New_York"]').count() == 1

    # "Every week on" Monday and Friday at 07:30 writes the cron; "Every day" at 06:00 too.
    page.get_by_label("Repeat").select_option(label="Every week on")
    page.get_by_label("Friday").check()
    page.get_by_label("at", exact=True).fill("07:30")
    expect(cron).to_have_value("30 7 * * 1,5")
    page.get_by_label("Monday").uncheck()
    expect(cron).to_have_value("30 7 * * 5")
    page.get_by_label("Repeat").select_option(label="Every day")
    page.get_by_label("at", exact=True).fill("06:00")
    expect(cron).to_have_value("0 6 * * *")
    expect(page.get_by_label("Friday")).to_be_hidden()

    # The raw cron stays available: a cron the helper cannot say is "Custom"; one it can, it reads back.
    cron.fill("*/15 9-17 * * 1-5")
    expect(page.get_by_label("Repeat")).to_have_value("custom")
    expect(page.get_by_label("at", exact=True)).to_be_hidden()
    cron.fill("45 21 * * 0,6")
    expect(page.get_by_label("Repeat")).to_have_value("weekly")
    expect(page.get_by_label("Sunday")).to_be_checked()
    expect(page.get_by_label("Saturday")).to_be_checked()
    expect(page.get_by_label("Monday")).not_to_be_checked()
    expect(page.get_by_label("at", exact=True)).to_have_value("21:45")

    # A weekly schedule without a day is refused here, before the API is asked.
    page.get_by_label("Sunday").uncheck()
    page.get_by_label("Saturday").uncheck()
    page.get_by_label("Name").fill("No day")
    page.get_by_role("button", name="Add schedule").click()
    expect(page.get_by_role("alert")).to_have_text("Pick at least one day of the week.")

    # Daily at 06:00 in New York, seen from Berlin.
    page.get_by_label("Repeat").select_option(label="Every day")
    page.get_by_label("at", exact=True).fill("06:00")
    page.get_by_label("Name").fill("New York mornings")
    zone.fill("America/New_York")
    page.get_by_role("button", name="Add schedule").click()
    row = page.locator("tr[data-schedule-id]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("(America/New_York)")
    times = row.locator(".fire-times li")
    expect(times).to_have_count(5)

    with server.client(token) as api:
        [schedule] = api.get("/collection/schedules").json()["schedules"]
    assert schedule["cron_expression"] == "0 6 * * *" and schedule["timezone"] == "America/New_York"
    for item, iso in zip(times.all(), schedule["next_fire_times"], strict=True):
        at = datetime.fromisoformat(iso)
        there, here = at.astimezone(NEW_YORK), at.astimezone(BERLIN)
        text = item.inner_text()
        assert f"{there:%H:%M} {there.tzname()}" in text, text  # 06:00 EST (or EDT)
        assert f"{here:%H:%M} " in text.split("·")[1] and "your time" in text, text  # 12:00 GMT+1 your time
        assert there.strftime("%H:%M") == "06:00"
    screenshot(page, "schedules-helper")
    assert page_errors == []


def test_a_schedule_in_the_viewers_zone_shows_each_time_once(
    server: ServedProcess, berlin_page: Page, page_errors: list[str]
) -> None:
    page = berlin_page
    token = server.token("Berlin team", "berlin@example.com")
    with server.client(token) as api:
        preset = api.get("/amazon/presets").json()["presets"][0]["id"]
        created = api.post(
            "/collection/schedules",
            json={"name": "Here", "preset_id": preset, "cron_expression": "30 8 * * 1", "timezone": "Europe/Berlin"},
        )
        assert created.status_code == 201, created.text
    sign_in(page, server.base, token, "/schedules")
    times = page.locator("tr[data-schedule-id] .fire-times li")
    expect(times).to_have_count(5)
    for text in times.all_inner_texts():
        assert "08:30" in text and "your time" not in text, text
    assert page_errors == []
