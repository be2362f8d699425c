"""The page's HTTP side without a browser: one shell at every page address, API paths unchanged, offline docs."""

from __future__ import annotations

import re

from tests.support import LiveServer, TokenFactory

NAVIGATION = {"Sec-Fetch-Dest": "document", "Accept": "text/html"}


async def test_page_addresses_serve_the_shell_and_its_assets(live: LiveServer) -> None:
    async with live.client() as client:
        for path in ("/", "/runs/00000000-0000-0000-0000-000000000000"):
            page = await client.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-store"
            assert '<script type="module" src="/static/js/main.js' in page.text
        assets = re.findall(r'(?:src|href)="(/static/[^"?]+)', page.text)
        assert "/static/app.css" in assets
        for asset in assets:
            assert (await client.get(asset)).status_code == 200, asset
        module = await client.get("/static/js/main.js")
        assert module.headers["content-type"].startswith(("text/javascript", "application/javascript"))


async def test_shared_paths_give_the_page_to_a_browser_navigation_only(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    identity = await make_identity()
    async with live.client(identity.token) as client:
        for path in ("/history", "/sellers"):
            api = await client.get(path)
            assert api.status_code == 200 and api.headers["content-type"] == "application/json", path
            page = await client.get(path, headers=NAVIGATION)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
        # Only GET/HEAD navigations: a POST to /sellers is the API whatever its headers.
        posted = await client.post("/sellers", json={"name": "nav-check"}, headers=NAVIGATION)
        assert posted.status_code == 201


async def test_a_sellers_page_address_is_the_page_for_a_navigation_and_the_api_otherwise(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    identity = await make_identity()
    async with live.client(identity.token) as client:
        seller = (await client.post("/sellers", json={"name": "page-or-api"})).json()
        for path in (f"/sellers/{seller['id']}", f"/sellers/{seller['id'].upper()}/", "/sellers/" + "0" * 32):
            page = await client.get(path, headers=NAVIGATION)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
            assert '<script type="module" src="/static/js/main.js' in page.text
        api = await client.get(f"/sellers/{seller['id']}")
        assert api.status_code == 200 and api.json()["display_name"] == "page-or-api"
        unknown = await client.get("/sellers/00000000-0000-0000-0000-000000000000")
        assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/json"
        # Only a seller id is a page: the API paths below /sellers stay API for a navigation too (a download link).
        for path in ("/sellers/export?format=csv", "/sellers/evidence/export", "/sellers/audit-log"):
            answer = await client.get(path, headers=NAVIGATION)
            assert answer.status_code == 200 and not answer.headers["content-type"].startswith("text/html"), path
        listings = await client.get(f"/sellers/{seller['id']}/listings", headers=NAVIGATION)
        assert listings.headers["content-type"] == "application/json"


async def test_page_routes_stay_out_of_the_openapi_document(live: LiveServer) -> None:
    async with live.client() as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/" not in paths and "/runs/{run_id}" not in paths
    assert "/collection/runs/{run_id}" in paths


async def test_docs_load_only_local_assets(live: LiveServer) -> None:
    async with live.client() as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        urls = re.findall(r"""(?:src|href)=['"]([^'"]+)""", docs.text)
        assert urls and all(u.startswith("/") for u in urls), urls
        for url in urls:
            assert (await client.get(url)).status_code == 200, url
        schemes = (await client.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"  # Swagger UI's Authorize button
