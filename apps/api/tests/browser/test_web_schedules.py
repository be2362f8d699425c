"""Presets and schedules in the web page (Chromium): a run from a preset, a schedule with its fire
times, and scheduled runs marked in the runs table and history.

The server's schedule clock runs 60x (a test-only setting), so an every-minute schedule fires
about once a second of real time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, serve, sign_in
from tests.support import ServedProcess

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    with serve(
        db_url,
        tmp_path_factory.mktemp("web-schedules"),
        SELLERCOLLECTION_DEMO_LATENCY_MS="0",
        SELLERCOLLECTION_SCHEDULER_TICK_SECONDS="0.2",
        SELLERCOLLECTION_SCHEDULER_CLOCK_SPEED="60",
        SELLERCOLLECTION_SCHEDULER_CLOCK_ANCHOR=datetime.now(UTC).isoformat(),
    ) as served:
        yield served


def test_a_run_from_a_preset(server: ServedProcess, page: Page, page_errors: list[str]) -> None:
    token = server.token("Preset team", "presets@example.com")
    sign_in(page, server.base, token)
    page.get_by_label("Preset").select_option(label="Pet Supplies")
    expect(page.get_by_text("5 selected")).to_be_visible()
    expect(page.locator("#dep-pet-supplies")).to_be_checked()
    page.get_by_label("Name (optional)").fill("Pets from a preset")
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    run_id = page.url.rsplit("/", 1)[1]
    with server.client(token) as api:
        run = api.get(f"/collection/runs/{run_id}").json()
        presets = {p["id"]: p["name"] for p in api.get("/amazon/presets").json()["presets"]}
    assert presets[run["preset_id"]] == "Pet Supplies" and len(run["category_ids"]) == 5
    assert page_errors == []


def test_schedules_page_scheduled_runs_and_history(server: ServedProcess, page: Page, page_errors: list[str]) -> None:
    token = server.token("Schedule team", "schedules@example.com")
    sign_in(page, server.base, token, "/schedules")
    expect(page.get_by_text("No schedules yet")).to_be_visible()

    page.get_by_label("Name").fill("Every minute")
    page.get_by_label("Collect").select_option(label="Pet Supplies")
    page.get_by_label("Cron (minute hour day month weekday)").fill("61 * * * *")
    page.get_by_label("Time zone").fill("UTC")
    page.get_by_role("button", name="Add schedule").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid cron expression '61 * * * *': Bad minute")
    page.get_by_label("Cron (minute hour day month weekday)").fill("* * * * *")
    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_role("button", name="Add schedule").click()
    expect(page.get_by_role("alert")).to_contain_text("Unknown time zone 'Mars/Olympus'")
    page.get_by_label("Time zone").fill("UTC")
    page.get_by_label("Search").select_option("all")  # its runs search every product
    page.get_by_role("button", name="Add schedule").click()

    row = page.locator("tr[data-schedule-id]")
    expect(row).to_have_count(1)
    expect(row.get_by_role("rowheader")).to_have_text("Every minute")
    expect(row.locator(".fire-times li")).to_have_count(5)
    expect(row).to_contain_text("Every minute (UTC)")
    screenshot(page, "schedules")

    # The fast clock fires it; the runs table marks scheduled runs.
    with server.client(token) as api:
        schedule_id = row.get_attribute("data-schedule-id")
        page.goto(server.base + "/")
        expect(page.locator("tr[data-run-id] .tag", has_text="scheduled").first).to_be_visible(timeout=60_000)
        api.patch(f"/collection/schedules/{schedule_id}", json={"enabled": False})
        runs = api.get("/collection/runs").json()["runs"]
    assert runs and all(r["trigger"] == "schedule" and r["schedule_id"] == schedule_id for r in runs)
    assert all(r["refresh"] == "all" for r in runs)

    # Disabled on the schedules page: no fire times, an Enable button.
    page.goto(server.base + "/schedules")
    expect(page.locator("tr[data-schedule-id]")).to_have_attribute("data-enabled", "false")
    expect(page.get_by_role("button", name="Enable")).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No schedules yet")).to_be_visible()
    assert page_errors == []
