"""Guards that grow with the API: every route is enumerated from the app itself."""

from __future__ import annotations

import re
import uuid

from tests.support import LiveServer, TokenFactory

PUBLIC = {("GET", "/health")}
# Routes that prove identity themselves (a Bearer token is their input).
SELF_AUTHENTICATING = {("POST", "/auth/session")}


def routes(live: LiveServer) -> list[tuple[str, str]]:
    """Every operation the API publishes (its OpenAPI document is the public list)."""
    paths = live.app.openapi()["paths"]
    return [(method.upper(), path) for path, operations in paths.items() for method in operations]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


async def test_every_route_but_health_needs_credentials(live: LiveServer) -> None:
    checked = 0
    async with live.client() as anonymous:
        for method, path in routes(live):
            if (method, path) in PUBLIC:
                continue
            response = await anonymous.request(method, concrete(path), json={})
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json()["detail"], (method, path)
            checked += 1
    assert checked >= 25


async def test_another_orgs_or_unknown_ids_are_404_never_500(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity(permissions=("admin.automation", "sellers.write"))
    async with live.client(identity.token) as client:
        for method, path in routes(live):
            if "{" not in path or (method, path) in SELF_AUTHENTICATING:
                continue
            # A valid change for the path (subscriptions have no name), so only the unknown id can fail it.
            body = (
                ({"enabled": True} if path.startswith("/notifications/") else {"name": "x"})
                if method == "PATCH"
                else None
            )
            response = await client.request(method, concrete(path), json=body)
            assert response.status_code == 404, (method, path, response.status_code, response.text)


async def test_control_characters_are_422_naming_the_field(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity(permissions=("admin.automation", "sellers.write"))
    cases = [
        ("POST", "/sellers", {"json": {"name": "a\u0000b"}}, ["body", "name"]),
        ("POST", "/sellers/bulk", {"json": {"names": ["ok", "x\u0000y"]}}, ["body", "names", 1]),
        ("GET", "/sellers", {"params": {"search": "a\u0000"}}, ["query", "search"]),
        ("POST", "/collection/runs", {"json": {"name": "n\u0000", "category_ids": ["electronics-computers"]}},
         ["body", "name"]),
    ]  # fmt: skip
    async with live.client(identity.token) as client:
        for method, path, kwargs, loc in cases:
            response = await client.request(method, path, **kwargs)
            assert response.status_code == 422, (method, path, response.text)
            # The one error body: a message that names the field first.
            assert response.json()["detail"].startswith(".".join(map(str, loc)) + ": "), response.text
        assert (await client.get("/sellers")).json()["sellers"] == []  # nothing half-written
