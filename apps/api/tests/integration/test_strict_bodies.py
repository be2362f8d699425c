"""Request bodies take JSON scalars as they are: a wrong type is a 422 naming the field, and nothing is stored.

Pydantic on its own would read "7" or true as the number 7 or 1, and "true" or 1 as true. The walk
below takes every request body from the app's OpenAPI document, so a new model (or field) is covered
the day it is added: each scalar field (and each list of scalars) is sent the wrong JSON types, one
field at a time, in an otherwise well-typed body.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support import LiveServer, TokenFactory

PERMISSIONS = ("admin.automation", "sellers.read", "sellers.write")
# Every request notes when its token was last used: that table is compared by its row count only.
NOTED_ON_EVERY_REQUEST = {"api_tokens"}

# Values of the wrong JSON type that pydantic's lax mode would turn into the right one (or close to it).
WRONG: dict[str, list[Any]] = {
    "integer": ["7", True, 7.5],
    "number": ["7", True],
    "string": [5, True],
    "boolean": ["true", 1],
}


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """A property's own schema: `$ref` followed, and `X | None` taken as X."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _resolve(document["components"]["schemas"][name], document)
    if "anyOf" in schema:
        branches = [branch for branch in schema["anyOf"] if branch.get("type") != "null"]
        assert len(branches) == 1, f"a union this walk cannot fill: {schema}"
        return _resolve(branches[0], document)
    return schema


def _valid(schema: dict[str, Any], document: dict[str, Any]) -> Any:
    """A value of the right JSON type (what the service makes of it does not matter: it is never reached)."""
    schema = _resolve(schema, document)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "uuid":
            return str(uuid.uuid4())
        if "pattern" in schema:
            assert "@" in schema["pattern"], f"a pattern this walk cannot fill: {schema['pattern']}"
            return "someone@example.com"
        return "a" * max(1, schema.get("minLength", 1))
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return [_valid(schema["items"], document)] * max(1, schema.get("minItems", 1))
    raise AssertionError(f"a schema this walk cannot fill: {schema}")


def _wrong_bodies(model: dict[str, Any], document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where the error must point, a body with that one value of the wrong type) for each scalar field."""
    properties: dict[str, Any] = model["properties"]
    required = {name: _valid(properties[name], document) for name in model.get("required", ())}
    for name, prop in properties.items():
        schema = _resolve(prop, document)
        if schema.get("type") == "array":
            item_type = _resolve(schema["items"], document).get("type", "")
            for wrong in WRONG.get(item_type, []):
                yield f"body.{name}.0", {**required, name: [wrong]}
        for wrong in WRONG.get(schema.get("type", ""), []):
            yield f"body.{name}", {**required, name: wrong}


def _request_bodies(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path with its ids filled in, body schema) for every operation that takes a JSON body."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            schema = _resolve(operation["requestBody"]["content"]["application/json"]["schema"], document)
            url = path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    url = url.replace("{" + parameter["name"] + "}", str(uuid.uuid4()))
            yield method.upper(), url, schema


def _contents(db_url: str) -> dict[str, str]:
    """A digest of every table's rows: an insert, a delete and an update all change it."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
            )
        ]
        digests: dict[str, str] = {}
        for table in tables:
            query = sql.SQL(
                "SELECT count(*)::text FROM {} t"
                if table in NOTED_ON_EVERY_REQUEST
                else "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
            )
            row = conn.execute(query.format(sql.Identifier(table))).fetchone()
            assert row is not None
            digests[table] = row[0]
        return digests


async def test_every_request_body_refuses_wrong_json_types(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    me = await make_identity(PERMISSIONS)
    async with live.client(me.token) as api:
        document = (await api.get("/openapi.json")).json()
        before = _contents(db_url)
        sent: set[str] = set()
        for method, url, model in _request_bodies(document):
            for where, body in _wrong_bodies(model, document):
                response = await api.request(method, url, json=body)
                assert response.status_code == 422, (method, url, body, response.text)
                assert where in response.json()["detail"], (method, url, body, response.text)
                sent.add(model["title"])
        assert _contents(db_url) == before
    # The walk reached the models it should (a sample: the walk itself finds new ones).
    assert {"SellerName", "RunCreate", "CollectionSettingsUpdate", "ScheduleCreate", "WebhookUpdate"} <= sent


async def test_a_number_is_not_a_seller_name(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity(PERMISSIONS)
    async with live.client(me.token) as api:
        response = await api.post("/sellers", json={"name": 5})
        assert response.status_code == 422
        assert response.json()["detail"] == "body.name: Input should be a valid string (got 5)"
        assert (await api.get("/sellers")).json()["total_in_org"] == 0


async def test_a_string_is_not_a_category_id_list_entry_and_no_run_starts(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    me = await make_identity(PERMISSIONS)
    async with live.client(me.token) as api:
        response = await api.post("/collection/runs", json={"category_ids": [7], "name": True})
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert "body.name: Input should be a valid string (got true)" in detail
        assert "body.category_ids.0: Input should be a valid string (got 7)" in detail
        assert (await api.get("/collection/runs")).json()["total"] == 0


@pytest.mark.parametrize("value", [True, "3", 3.5])
async def test_settings_take_numbers_only_as_numbers(live: LiveServer, make_identity: TokenFactory, value: Any) -> None:
    me = await make_identity(PERMISSIONS)
    async with live.client(me.token) as api:
        before = (await api.get("/collection/settings")).json()
        response = await api.patch("/collection/settings", json={"workers": value})
        assert response.status_code == 422
        assert response.json()["detail"].startswith("body.workers: Input should be a valid integer")
        assert (await api.get("/collection/settings")).json() == before
        # A JSON integer is a number for a float field, and the right types are still taken.
        response = await api.patch("/collection/settings", json={"workers": 3, "price_max_multiplier": 2})
        assert response.status_code == 200, response.text
        assert (response.json()["workers"], response.json()["price_max_multiplier"]) == (3, 2.0)
        # The stored choices (numeric columns, read back as Decimal) are still read.
        assert (await api.get("/collection/settings")).json() == response.json()
