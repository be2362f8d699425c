"""The seller list, its audit trail with exact snapshots, history, and export, over real HTTP."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from typing import Any

import httpx
import psycopg

from tests.support import LiveServer, TokenFactory, start_run, terminal

CATEGORIES = ["electronics-computers", "baby-feeding", "beauty-makeup"]


# This module's settings (conftest's `settings` fixture applies them).
SETTINGS: dict[str, Any] = {"demo_latency_ms": 1, "activity_subscriber_queue_size": 100_000}


async def every_page(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a cursor-paginated endpoint, following `next_cursor` to the end."""
    found: list[dict[str, Any]] = []
    cursor = None
    while not found or cursor:
        response = await client.get(path, params=params | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        found.append(response.json())
        cursor = found[-1]["next_cursor"]
    return found


async def all_names(client: httpx.AsyncClient) -> list[str]:
    pages = await every_page(client, "/sellers", sort="name", limit=1000)
    return sorted((s["display_name"] for page in pages for s in page["sellers"]), key=lambda n: (n.lower(), n))


async def all_pages(client: httpx.AsyncClient, path: str, key: str, limit: int) -> tuple[dict[str, Any], list[Any]]:
    """(first page, every item under `key` across pages) of a cursor-paginated endpoint."""
    pages = await every_page(client, path, limit=limit)
    return pages[0], [item for page in pages for item in page[key]]


async def run_collection(live: LiveServer, client: httpx.AsyncClient, categories: list[str]) -> dict[str, Any]:
    run, feed = await start_run(live, client, categories)
    await feed.until(terminal, timeout=120)
    final: dict[str, Any] = (await client.get(f"/collection/runs/{run['id']}")).json()
    assert final["status"] == "completed", final["status_reason"]
    return final


async def test_add_rename_delete_each_write_one_audit_row_with_the_count_after(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    me = await make_identity(permissions=("sellers.write",))
    async with live.client(me.token) as client:
        first = await client.post("/sellers", json={"name": "  Best   Deals "})
        assert first.status_code == 201
        seller = first.json()
        assert seller["display_name"] == "Best Deals" and seller["normalized_name"] == "best deals"
        dup = await client.post("/sellers", json={"name": "BEST deals"})
        assert dup.status_code == 409 and dup.json()["detail"] == "Seller 'BEST deals' already exists"
        fullwidth = await client.post("/sellers", json={"name": "Ｂｅｓｔ Ｄｅａｌｓ"})  # NFKC folds these
        assert fullwidth.status_code == 409
        blank = await client.post("/sellers", json={"name": "   "})
        assert blank.status_code == 422 and "empty" in blank.json()["detail"]
        missing = await client.post("/sellers", json={})
        assert missing.status_code == 422 and "name" in json.dumps(missing.json())

        other = (await client.post("/sellers", json={"name": "Other Shop"})).json()
        clash = await client.patch(f"/sellers/{other['id']}", json={"name": "best deals"})
        assert clash.status_code == 409
        renamed = await client.patch(f"/sellers/{seller['id']}", json={"name": "Better Deals"})
        assert renamed.status_code == 200 and renamed.json()["normalized_name"] == "better deals"
        assert (await client.delete(f"/sellers/{other['id']}")).status_code == 204
        assert (await client.delete(f"/sellers/{other['id']}")).status_code == 404

        log = (await client.get("/sellers/audit-log")).json()["entries"]
    assert [(e["action"], e["seller_name"], e["seller_count_snapshot"]) for e in reversed(log)] == [
        ("add", "Best Deals", 1),
        ("add", "Other Shop", 2),
        ("edit", "Better Deals", 2),
        ("remove", "Other Shop", 1),
    ]
    edit = next(e for e in log if e["action"] == "edit")
    assert edit["old_value"] == {"display_name": "Best Deals"} and edit["new_value"] == {"display_name": "Better Deals"}
    assert all(isinstance(e["new_value"] or e["old_value"], dict) for e in log)
    assert all(e["user_id"] == str(me.user_id) and e["source"] == "manual" for e in log)


async def test_bulk_add_reports_what_was_added_and_skipped(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    async with live.client(me.token) as client:
        await client.post("/sellers", json={"name": "already"})
        result = await client.post("/sellers/bulk", json={"names": ["a1", "A1 ", "", "already", "b2", "c3"]})
        nothing = await client.post("/sellers/bulk", json={"names": ["a1"]})
        empty_list = await client.post("/sellers/bulk", json={"names": []})
        log = (await client.get("/sellers/audit-log", params={"action": "add"})).json()["entries"]
        bad_action = await client.get("/sellers/audit-log", params={"action": "explode"})
    assert result.status_code == 200
    assert result.json()["added"] == ["a1", "b2", "c3"]
    assert result.json()["skipped"] == [
        {"name": "A1", "reason": "duplicate in request"},
        {"name": "", "reason": "empty"},
        {"name": "already", "reason": "already in list"},
    ]
    assert nothing.json() == {"added": [], "skipped": [{"name": "a1", "reason": "already in list"}]}
    assert empty_list.status_code == 422
    bulk = log[0]
    assert bulk["seller_name"] == "a1 (+2 more)" and bulk["affected_count"] == 3
    assert bulk["new_value"] == {"names": ["a1", "b2", "c3"], "count": 3} and bulk["seller_count_snapshot"] == 4
    assert len(log) == 2  # the no-op bulk wrote nothing
    assert bad_action.status_code == 422


async def test_bulk_delete_and_flag(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    stranger = await make_identity()
    async with live.client(stranger.token) as client:
        theirs = (await client.post("/sellers", json={"name": "theirs"})).json()
    async with live.client(me.token) as client:
        added = (await client.post("/sellers/bulk", json={"names": ["x", "y", "z"]})).json()["added"]
        listed = (await client.get("/sellers", params={"sort": "name"})).json()["sellers"]
        ids = {s["display_name"]: s["id"] for s in listed}
        assert sorted(ids) == sorted(added)
        flagged = await client.post("/sellers/flag", json={"ids": [ids["x"], ids["y"], theirs["id"]], "flagged": True})
        assert flagged.json() == {"updated": 2, "not_found": [theirs["id"]]}
        only_flagged = (await client.get("/sellers", params={"flagged": "true"})).json()["sellers"]
        assert sorted(s["display_name"] for s in only_flagged) == ["x", "y"]
        deleted = await client.post("/sellers/bulk-delete", json={"ids": [ids["x"], ids["z"], theirs["id"]]})
        assert deleted.json() == {"deleted": 2, "not_found": [theirs["id"]]}
        log = (await client.get("/sellers/audit-log")).json()["entries"]
    remove, flag = log[0], log[1]
    assert remove["action"] == "remove" and remove["affected_count"] == 2 and remove["seller_count_snapshot"] == 1
    assert sorted(remove["old_value"]["names"]) == ["x", "z"]
    assert flag["action"] == "flag" and flag["new_value"] == {"flagged": True, "sellers": ["x", "y"], "count": 2}
    async with live.client(stranger.token) as client:
        assert (await client.get(f"/sellers/{theirs['id']}")).json()["flagged"] is False  # untouched


async def test_keyset_pagination_search_and_bad_cursor(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    async with live.client(me.token) as client:
        await client.post("/sellers/bulk", json={"names": [f"shop{i:03d}" for i in range(25)] + ["zeta", "Zebra"]})
        pages = [
            [s["normalized_name"] for s in page["sellers"]]
            for page in await every_page(client, "/sellers", sort="name", limit=10)
        ]
        newest = (await client.get("/sellers", params={"limit": 5})).json()
        found = (await client.get("/sellers", params={"search": "ZE", "sort": "name"})).json()["sellers"]
        bad = await client.get("/sellers", params={"cursor": "not-a-cursor"})
        too_many = await client.get("/sellers", params={"limit": 5000})
    flat = [n for page in pages for n in page]
    assert flat == sorted(flat) and len(flat) == len(set(flat)) == 27
    assert [len(p) for p in pages] == [10, 10, 7]
    assert newest["total_in_org"] == 27 and len(newest["sellers"]) == 5
    assert [s["normalized_name"] for s in found] == ["zebra", "zeta"]
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
    assert too_many.status_code == 422


async def test_sellers_at_this_point_matches_every_entry_of_a_scripted_history(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    me = await make_identity()
    states: dict[str, list[str]] = {}  # entry id -> the list right after it
    async with live.client(me.token) as client:

        async def step(response: httpx.Response) -> None:
            assert response.status_code < 300, response.text
            entry = (await client.get("/history", params={"limit": 1})).json()["entries"][0]
            states[entry["id"]] = await all_names(client)

        await step(await client.post("/sellers", json={"name": "Alpha"}))
        await step(await client.post("/sellers/bulk", json={"names": ["Bravo", "Charlie", "Delta"]}))
        run = await run_collection(live, client, CATEGORIES[:1])
        states[run["id"]] = await all_names(client)
        alpha = next(s for s in (await client.get("/sellers", params={"search": "alpha"})).json()["sellers"])
        await step(await client.patch(f"/sellers/{alpha['id']}", json={"name": "Alpha Prime"}))
        victims = (await client.get("/sellers", params={"sort": "name", "limit": 5})).json()["sellers"]
        await step(await client.post("/sellers/bulk-delete", json={"ids": [v["id"] for v in victims]}))
        second = await run_collection(live, client, CATEGORIES[1:])
        states[second["id"]] = await all_names(client)
        await step(await client.post("/sellers", json={"name": "Echo"}))

        timeline = (await client.get("/history")).json()["entries"]
        assert [e["id"] for e in reversed(timeline)] == list(states)
        previous: list[str] = []
        for entry_id, expected in states.items():
            point, listed = await all_pages(client, f"/history/{entry_id}/sellers", "sellers", limit=7)
            assert listed == expected
            assert point["count"] == point["seller_count_snapshot"] == len(expected)
            _, changes = await all_pages(client, f"/history/{entry_id}/changes", "changes", limit=5)
            added = [c["display_name"] for c in changes if c["op"] != "remove"]
            removed = [c["old_display_name"] or c["display_name"] for c in changes if c["op"] != "add"]
            assert sorted(added) == sorted(set(expected) - set(previous))
            assert sorted(removed) == sorted(set(previous) - set(expected))
            assert (point["added_count"], point["removed_count"]) == (len(added), len(removed))
            assert set(point["added"]) <= set(added) and set(point["removed"]) <= set(removed)
            previous = expected
        assert run["seller_count_snapshot"] == len(states[run["id"]])
        runs = (await client.get("/collection/runs/history")).json()
        assert {r["id"] for r in runs["runs"]} == {run["id"], second["id"]}
        assert all(r["duration_seconds"] >= 0 and r["categories_count"] >= 1 for r in runs["runs"])
        missing = await client.get(f"/history/{uuid.uuid4()}/sellers")
    assert missing.status_code == 404


async def test_snapshots_stay_exact_with_two_editors_and_a_running_collection(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    me = await make_identity()
    async with live.client(me.token) as a, live.client(me.token) as b:
        _, feed = await start_run(live, a, CATEGORIES)

        async def edits(client: httpx.AsyncClient, tag: str) -> None:
            for i in range(15):
                added = (await client.post("/sellers", json={"name": f"{tag}-{i}"})).json()
                if i % 3 == 0:
                    await client.patch(f"/sellers/{added['id']}", json={"name": f"{tag}-{i}-renamed"})
                if i % 5 == 4:
                    await client.delete(f"/sellers/{added['id']}")

        await asyncio.gather(edits(a, "left"), edits(b, "right"))
        await feed.until(terminal, timeout=120)
        entries = (await a.get("/history", params={"limit": 200})).json()["entries"]
        assert len(entries) >= 15 * 2 + 1
        for entry in entries:
            point = (await a.get(f"/history/{entry['id']}/sellers")).json()
            assert point["count"] == entry["seller_count_snapshot"], entry
    with psycopg.connect(db_url) as conn:
        live_count = conn.execute("SELECT count(*) FROM sellers WHERE org_id = %s", (me.org_id,)).fetchone()
        kept = conn.execute("SELECT n FROM org_seller_counts WHERE org_id = %s", (me.org_id,)).fetchone()
    assert live_count == kept


async def test_export_formats_scopes_and_formula_neutralisation(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    stranger = await make_identity()
    async with live.client(me.token) as client:
        await client.post(
            "/sellers/bulk",
            json={"names": ['=HYPERLINK("x")', "+cmd", "-2+3", "@SUM(A1)", 'plain, "quoted"', "ünïcödé"]},
        )
        run = await run_collection(live, client, CATEGORIES[:1])
        csv_response = await client.get("/sellers/export", params={"format": "csv"})
        as_json = await client.get("/sellers/export", params={"format": "json", "run_id": run["id"]})
        as_text = await client.get("/sellers/export", params={"format": "text"})
        bad_format = await client.get("/sellers/export", params={"format": "xlsx"})
        exports = (await client.get("/sellers/audit-log", params={"action": "export"})).json()["entries"]
    assert csv_response.status_code == 200
    assert csv_response.headers["content-type"].startswith("text/csv")
    disposition = csv_response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="sellers_') and disposition.endswith('_all.csv"')
    body = csv_response.content.decode("utf-8")
    assert body.startswith('\ufeff"display_name",')
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    names = {r["display_name"] for r in rows}
    assert {'\'=HYPERLINK("x")', "'+cmd", "'-2+3", "'@SUM(A1)", 'plain, "quoted"', "ünïcödé"} <= names
    assert len(rows) == int(csv_response.headers["x-export-count"]) == run["seller_count_snapshot"]

    document = as_json.json()
    assert document["count"] == len(document["sellers"]) == run["sellers_new"]
    assert all(s["first_seen_run_id"] == run["id"] for s in document["sellers"])
    assert f"_run-{uuid.UUID(run['id']).hex[:8]}.json" in as_json.headers["content-disposition"]
    assert len(as_text.text.splitlines()) == len(rows)
    assert bad_format.status_code == 422
    assert [e["new_value"]["format"] for e in exports] == ["text", "json", "csv"]
    assert exports[2]["affected_count"] == len(rows)
    async with live.client(stranger.token) as client:
        other = await client.get("/sellers/export", params={"run_id": run["id"]})
        theirs = await client.get("/sellers/export", params={"format": "text"})
    assert other.status_code == 404
    assert theirs.text == ""


async def test_permissions_and_org_isolation(live: LiveServer, make_identity: TokenFactory) -> None:
    writer = await make_identity()
    reader = await make_identity(permissions=("sellers.read",), org_name=writer.org_name)
    nobody = await make_identity(permissions=())
    stranger = await make_identity()
    async with live.client(writer.token) as client:
        seller = (await client.post("/sellers", json={"name": "mine"})).json()
        entry = (await client.get("/history")).json()["entries"][0]
    async with live.client(reader.token) as client:
        assert (await client.get("/sellers")).status_code == 200
        denied = await client.post("/sellers", json={"name": "nope"})
        assert denied.status_code == 403 and "sellers.write" in denied.json()["detail"]
    async with live.client(nobody.token) as client:
        assert (await client.get("/sellers")).status_code == 403
    async with live.client() as client:
        assert (await client.get("/sellers")).status_code == 401
    async with live.client(stranger.token) as client:
        for method, path, body in [
            ("GET", f"/sellers/{seller['id']}", None),
            ("PATCH", f"/sellers/{seller['id']}", {"name": "stolen"}),
            ("DELETE", f"/sellers/{seller['id']}", None),
            ("GET", f"/history/{entry['id']}/sellers", None),
        ]:
            response = await client.request(method, path, json=body)
            assert response.status_code == 404, (method, path)
        assert (await client.get("/sellers")).json()["sellers"] == []
        assert (await client.get("/history")).json()["entries"] == []
        assert (await client.get("/sellers/audit-log")).json()["entries"] == []
