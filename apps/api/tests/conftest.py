"""Shared fixtures.

One PostgreSQL server serves the whole run: the one in DATABASE_URL, or else an embedded one.
Migrations are applied once to a template database; each test module gets its own clone, and
each test makes its own org, so tests never see each other's rows. Helpers live in tests/support.py.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from app.config import Settings
from app.db.embedded import embedded_postgres
from app.db.migrations import apply_migrations
from app.main import create_app
from app.services import accounts
from tests.support import (
    Identity,
    LiveServer,
    TokenFactory,
    create_database,
    drop_database,
    make_settings,
    serve_app,
    with_dbname,
)


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    with embedded_postgres(tmp_path_factory.mktemp("embedded-pg")) as url:
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
def settings(request: pytest.FixtureRequest, db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The test module's settings: the test defaults, plus the module's `SETTINGS` overrides if it has any."""
    overrides: dict[str, Any] = getattr(request.module, "SETTINGS", {})
    return make_settings(db_url, tmp_path_factory.mktemp("data"), **overrides)


@pytest.fixture(scope="module")
async def live(settings: Settings) -> AsyncIterator[LiveServer]:
    async for server in serve_app(create_app(settings)):
        yield server


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
