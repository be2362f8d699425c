"""Category presets over real HTTP: built-ins for every org, CRUD with each error, runs from a preset."""

from __future__ import annotations

import uuid

import httpx

from app.services.catalogue import catalogue_document
from tests.support import LiveServer, TokenFactory

KITCHEN = ["home-kitchen-dining", "home-bath"]


async def _runs(client: httpx.AsyncClient) -> list[dict[str, object]]:
    response = await client.get("/collection/runs")
    assert response.status_code == 200
    runs: list[dict[str, object]] = response.json()["runs"]
    return runs


async def test_builtins_are_seeded_for_every_org_and_match_the_catalogue(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    departments = catalogue_document()["departments"]
    for _ in range(2):  # two orgs, both made after the migration ran
        identity = await make_identity()
        async with live.client(identity.token) as client:
            presets = (await client.get("/amazon/presets")).json()["presets"]
        builtins = [p for p in presets if p["is_builtin"]]
        assert builtins[0]["name"] == "All categories"
        assert builtins[0]["category_ids"] == [c["id"] for d in departments for c in d["categories"]]
        by_key = {p["builtin_key"]: p for p in builtins[1:]}
        assert set(by_key) == {f"department:{d['id']}" for d in departments}
        for department in departments:
            preset = by_key[f"department:{department['id']}"]
            assert preset["name"] == department["name"]
            assert preset["category_ids"] == [c["id"] for c in department["categories"]]
        assert [p["name"] for p in builtins[1:]] == sorted((p["name"] for p in builtins[1:]), key=str.lower)


async def test_create_list_rename_change_delete(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    other = await make_identity()
    async with live.client(identity.token) as client, live.client(other.token) as stranger:
        created = await client.post("/amazon/presets", json={"name": "  Kitchen   stuff ", "category_ids": KITCHEN})
        assert created.status_code == 201, created.text
        preset = created.json()
        assert (preset["name"], preset["category_ids"], preset["is_builtin"]) == ("Kitchen stuff", KITCHEN, False)
        assert preset["created_by"] == str(identity.user_id)
        second = (
            await client.post("/amazon/presets", json={"name": "Audio", "category_ids": ["electronics-headphones"]})
        ).json()

        listed = (await client.get("/amazon/presets")).json()["presets"]
        assert [p["name"] for p in listed if not p["is_builtin"]] == ["Audio", "Kitchen stuff"]
        assert all(p["is_builtin"] for p in listed[:16]) and len(listed) == 18  # built-ins first
        assert not [p for p in (await stranger.get("/amazon/presets")).json()["presets"] if not p["is_builtin"]]

        renamed = await client.patch(f"/amazon/presets/{preset['id']}", json={"name": "Kitchen"})
        assert renamed.status_code == 200 and renamed.json()["name"] == "Kitchen"
        assert renamed.json()["category_ids"] == KITCHEN
        changed = await client.patch(f"/amazon/presets/{preset['id']}", json={"category_ids": ["home-bedding"]})
        assert (changed.json()["name"], changed.json()["category_ids"]) == ("Kitchen", ["home-bedding"])
        assert (await client.get(f"/amazon/presets/{preset['id']}")).json()["category_ids"] == ["home-bedding"]

        assert (await client.delete(f"/amazon/presets/{second['id']}")).status_code == 204
        assert (await client.get(f"/amazon/presets/{second['id']}")).status_code == 404


async def test_every_error_is_a_clear_4xx_and_stores_nothing(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    other = await make_identity()
    reader = await make_identity(permissions=("sellers.read",))
    async with (
        live.client(identity.token) as client,
        live.client(other.token) as stranger,
        live.client(reader.token) as no_permission,
    ):
        mine = (await client.post("/amazon/presets", json={"name": "Mine", "category_ids": KITCHEN})).json()
        builtin = (await client.get("/amazon/presets")).json()["presets"][0]

        unknown = await client.post("/amazon/presets", json={"name": "X", "category_ids": ["home-bath", "nope-1"]})
        assert unknown.status_code == 422 and "nope-1" in unknown.json()["detail"]
        empty = await client.post("/amazon/presets", json={"name": "X", "category_ids": []})
        assert empty.status_code == 422 and empty.json()["detail"].startswith("body.category_ids: ")
        blank = await client.post("/amazon/presets", json={"name": "   ", "category_ids": KITCHEN})
        assert blank.status_code == 422 and "blank" in blank.json()["detail"]
        duplicate = await client.post("/amazon/presets", json={"name": "mINE", "category_ids": ["home-bath"]})
        assert duplicate.status_code == 409 and "already exists" in duplicate.json()["detail"]
        taken_by_builtin = await client.post(
            "/amazon/presets", json={"name": "all categories", "category_ids": KITCHEN}
        )
        assert taken_by_builtin.status_code == 409

        assert (await client.patch(f"/amazon/presets/{builtin['id']}", json={"name": "Everything"})).status_code == 409
        builtin_delete = await client.delete(f"/amazon/presets/{builtin['id']}")
        assert builtin_delete.status_code == 409 and "built-in" in builtin_delete.json()["detail"]
        assert (await client.patch(f"/amazon/presets/{mine['id']}", json={"category_ids": ["zzz"]})).status_code == 422
        assert (await client.patch(f"/amazon/presets/{mine['id']}", json={"name": "Electronics"})).status_code == 409

        for response in (
            await stranger.get(f"/amazon/presets/{mine['id']}"),
            await stranger.patch(f"/amazon/presets/{mine['id']}", json={"name": "Stolen"}),
            await stranger.delete(f"/amazon/presets/{mine['id']}"),
            await client.delete(f"/amazon/presets/{uuid.uuid4()}"),
        ):
            assert response.status_code == 404 and response.json()["detail"]
        assert (await no_permission.get("/amazon/presets")).status_code == 403

        own = [p for p in (await client.get("/amazon/presets")).json()["presets"] if not p["is_builtin"]]
        assert [(p["name"], p["category_ids"]) for p in own] == [("Mine", KITCHEN)]  # nothing else stored

        used = await client.post(
            "/collection/schedules",
            json={"name": "Nightly", "preset_id": mine["id"], "cron_expression": "0 3 * * *"},
        )
        assert used.status_code == 201, used.text
        in_use = await client.delete(f"/amazon/presets/{mine['id']}")
        assert in_use.status_code == 409 and "Nightly" in in_use.json()["detail"]


async def test_a_run_from_a_preset_records_it(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    other = await make_identity()
    async with live.client(identity.token) as client, live.client(other.token) as stranger:
        mine = (await client.post("/amazon/presets", json={"name": "Kitchen", "category_ids": KITCHEN})).json()
        run = await client.post("/collection/runs", json={"preset_id": mine["id"]})
        assert run.status_code == 201, run.text
        body = run.json()
        assert (body["preset_id"], body["category_ids"], body["categories_total"]) == (mine["id"], KITCHEN, 2)
        assert body["trigger"] == "manual"

        electronics = next(
            p
            for p in (await client.get("/amazon/presets")).json()["presets"]
            if p["builtin_key"] == "department:electronics"
        )
        from_builtin = (await client.post("/collection/runs", json={"preset_id": electronics["id"]})).json()
        assert from_builtin["category_ids"] == electronics["category_ids"]

        foreign = await stranger.post("/collection/runs", json={"preset_id": mine["id"]})
        assert foreign.status_code == 404 and "Preset" in foreign.json()["detail"]
        assert (await stranger.post("/collection/runs", json={"preset_id": str(uuid.uuid4())})).status_code == 404
        both = await stranger.post("/collection/runs", json={"preset_id": mine["id"], "category_ids": KITCHEN})
        assert both.status_code == 422
        assert (await stranger.post("/collection/runs", json={})).status_code == 422
        assert await _runs(stranger) == []
