"""Shared fixtures.

One PostgreSQL server serves the whole run: the one in DATABASE_URL, or else an embedded one.
Migrations are applied once to a template database; each test module gets its own clone, and
each test makes its own org, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.config import Settings
from app.db import Database
from app.embedded_pg import embedded_postgres
from app.main import create_app
from app.migrations import apply_migrations
from app.runtime import Runtime
from app.services import accounts
from tests.pg import create_database, drop_database, with_dbname


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


def make_settings(db_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "data_dir": data_dir,
        "migrate_on_start": False,
        "db_pool_min_size": 1,
        "db_pool_max_size": 10,
        "provider": "demo",
        "demo_latency_ms": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def settings(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(db_url, tmp_path_factory.mktemp("data"))


@dataclass
class LiveServer:
    app: FastAPI
    base_url: str

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def database(self) -> Database:
        return self.runtime.database

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30.0, **kwargs)


async def serve_app(app: FastAPI) -> AsyncIterator[LiveServer]:
    """Serve `app` over real HTTP on a loopback port, in this event loop.

    The socket is bound and listening before uvicorn starts, so clients can connect at once.
    """
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=1))
        import asyncio

        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            yield LiveServer(app=app, base_url=f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            await task
            sock.close()


@pytest.fixture(scope="module")
async def live(settings: Settings) -> AsyncIterator[LiveServer]:
    async for server in serve_app(create_app(settings)):
        yield server


@dataclass(frozen=True)
class Identity:
    token: str
    org_id: uuid.UUID
    user_id: uuid.UUID
    org_name: str


TokenFactory = Callable[..., Awaitable[Identity]]


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
