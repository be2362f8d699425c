"""Shared fixtures.

One PostgreSQL server serves the whole run: the one in DATABASE_URL, or else an embedded one.
Migrations are applied once to a template database; each test module gets its own clone, and
each test makes its own org, so tests never see each other's rows. Helpers live in tests/support.py.

A test module shapes its server with two module attributes: `SETTINGS` (overrides of the test
settings) and `FAKES` (fake upstreams from tests/fakes, served on loopback for the module, the
server pointed at them, and reset before each test).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

import pytest

from app.config import Settings
from app.db.embedded import embedded_postgres
from app.db.migrations import apply_migrations
from app.main import create_app
from app.services import accounts
from tests.fakes.faulty_upstream import FaultyUpstream, serve_fake
from tests.support import (
    Identity,
    LiveServer,
    ServerFactory,
    TokenFactory,
    create_database,
    drop_database,
    make_settings,
    open_data_dir,
    serve_app,
    with_dbname,
)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    with open_data_dir("embedded-pg") as data_dir, embedded_postgres(data_dir) as url:
        yield url


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> Iterator[str]:
    name = create_database(pg_server_url, prefix="sc_template")
    apply_migrations(with_dbname(pg_server_url, name))
    yield name
    drop_database(pg_server_url, name)


@pytest.fixture(scope="module")
def db_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    name = create_database(pg_server_url, prefix="sc_test", template=template_db)
    yield with_dbname(pg_server_url, name)
    drop_database(pg_server_url, name)


@pytest.fixture(scope="module")
async def upstream_settings(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any]]:
    """Serves the module's fake upstreams (its `FAKES`) on loopback while it runs; the settings that reach them."""
    async with AsyncExitStack() as stack:
        reach: dict[str, Any] = {}
        for fake in module_fakes(request):
            reach |= fake.settings(await stack.enter_async_context(serve_fake(fake)))
        yield reach


@pytest.fixture(autouse=True)
def fresh_fakes(request: pytest.FixtureRequest) -> None:
    """Each test meets the module's fakes without faults and with an empty request log."""
    for fake in module_fakes(request):
        fake.reset()


def module_fakes(request: pytest.FixtureRequest) -> list[FaultyUpstream[Any]]:
    fakes: list[FaultyUpstream[Any]] = getattr(request.module, "FAKES", [])
    return fakes


@pytest.fixture(scope="module")
def settings(
    request: pytest.FixtureRequest,
    db_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    upstream_settings: dict[str, Any],
) -> Settings:
    """The test module's settings: the test defaults, its fake upstreams, and its `SETTINGS` overrides if any."""
    overrides: dict[str, Any] = getattr(request.module, "SETTINGS", {})
    return make_settings(db_url, tmp_path_factory.mktemp("data"), **(upstream_settings | overrides))


@pytest.fixture(scope="module")
async def live(settings: Settings) -> AsyncIterator[LiveServer]:
    async with serve_app(create_app(settings)) as server:
        yield server


@pytest.fixture
def serve_with(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> ServerFactory:
    """Another live server on the module's database, with the test defaults and these overrides:

    async with serve_with(demo_error_rate=1.0) as failing: ...
    """

    def serve(**overrides: Any) -> AbstractAsyncContextManager[LiveServer]:
        return serve_app(create_app(make_settings(db_url, tmp_path_factory.mktemp("data"), **overrides)))

    return serve


@pytest.fixture(scope="module")
def make_identity(live: LiveServer) -> TokenFactory:
    """Mint a token in a brand-new org (or a given one) with the given permissions."""

    async def factory(
        permissions: tuple[str, ...] = ("admin.automation",), org_name: str | None = None, email: str | None = None
    ) -> Identity:
        org_name = org_name or f"org-{uuid.uuid4().hex[:8]}"
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        async with live.database.pool.connection() as conn:
            issued = await accounts.issue_token(conn, org_name=org_name, email=email, permissions=list(permissions))
        return Identity(token=issued.token, org_id=issued.org_id, user_id=issued.user_id, org_name=org_name)

    return factory
