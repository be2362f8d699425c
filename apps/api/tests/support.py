"""What the tests share: test databases, settings, a live server, feeds, child processes, the schema.

Fixtures live in conftest.py; everything they and the tests call lives here, once.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from psycopg import sql

from app.config import Settings
from app.db.pool import Database
from app.runtime import Runtime
from app.services.activity_stream import ActivityStreamManager

# --- the browser (tests/browser and bench/web_bench.py) ---------------------------------------------

# Debian's Chromium, never a browser downloaded by Playwright (that cannot work here).
CHROMIUM = os.environ.get("SELLERCOLLECTION_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# --- test databases --------------------------------------------------------------------------------


def with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def create_database(server_url: str, *, prefix: str, template: str | None = None) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- settings and a live server --------------------------------------------------------------------


def make_settings(db_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "data_dir": data_dir,
        "migrate_on_start": False,
        "db_pool_min_size": 1,
        "db_pool_max_size": 10,
        "provider": "demo",
        "demo_latency_ms": 0,
        "redis_url": None,  # the in-memory feed unless a test asks for Redis
    }
    values.update(overrides)
    # Tests take no settings from a `.env` file a developer may keep in the working directory.
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


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

    @property
    def stream(self) -> ActivityStreamManager:
        return self.runtime.activity_stream

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
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            yield LiveServer(app=app, base_url=f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            await task
            sock.close()


@dataclass(frozen=True)
class Identity:
    token: str
    org_id: uuid.UUID
    user_id: uuid.UUID
    org_name: str


TokenFactory = Callable[..., Awaitable[Identity]]


# --- a run's activity, read inside the server process ----------------------------------------------

Events = list[dict[str, Any]]


class Feed:
    """A run's activity, subscribed before the run starts so no event is missed."""

    def __init__(self, live: LiveServer, run_id: str | uuid.UUID) -> None:
        self.subscription = live.stream.subscribe(uuid.UUID(str(run_id)))
        self.events: Events = []

    async def until(self, predicate: Callable[[Events], bool], timeout: float = 60) -> Events:
        async def read() -> None:
            if predicate(self.events):
                return
            async for item in self.subscription:
                self.events.append(json.loads(item.data))
                if predicate(self.events):
                    return
            raise AssertionError(f"feed ended before the condition held: {self.events[-3:]}")

        await asyncio.wait_for(read(), timeout)
        return self.events

    def close(self) -> None:
        self.subscription.close()


def run_event(*actions: str) -> Callable[[Events], bool]:
    """True once the run itself reports one of `actions` (complete, failed, cancelled, paused, ...)."""
    return lambda events: any(e["phase"] == "run" and e["action"] in actions for e in events)


terminal = run_event("complete", "failed", "cancelled")


# --- the real command in child processes -----------------------------------------------------------

CLI = [sys.executable, "-c", "from app.cli.main import main; main()"]


def child_env(**extra: str) -> dict[str, str]:
    """The test's environment without settings that would leak into the child, plus `extra`."""
    dropped = {"DATABASE_URL", "REDIS_URL", "OXYLABS_USERNAME", "OXYLABS_PASSWORD"}
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("SELLERCOLLECTION_")}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(base: str, proc: subprocess.Popen[bytes], deadline: float) -> httpx.Response:
    # Polling is the only way to observe another process becoming ready; bounded by the deadline.
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            return httpx.get(f"{base}/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("service did not come up")


def create_token(env: dict[str, str], org: str, email: str) -> str:
    made = subprocess.run(
        [*CLI, "create-token", "--org", org, "--email", email, "-p", "admin.automation"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return made.stdout.strip().splitlines()[-1]


# --- the database schema, as text to diff ----------------------------------------------------------

EXPECTED_SCHEMA = Path(__file__).with_name("expected_schema.txt")

_SCHEMA_QUERIES = {
    "column": """
        SELECT format('%s.%s %s%s%s', c.table_name, c.column_name, c.data_type,
                      CASE WHEN c.is_nullable = 'NO' THEN ' NOT NULL' ELSE '' END,
                      coalesce(' DEFAULT ' || c.column_default, ''))
        FROM information_schema.columns c
        WHERE c.table_schema = 'public' AND c.table_name NOT LIKE '\\_yoyo%%' AND c.table_name NOT LIKE 'yoyo%%'
    """,
    "constraint": """
        SELECT format('%s %s %s', t.relname, k.conname, pg_get_constraintdef(k.oid))
        FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
        -- NOT NULL is in the column lines (and only PostgreSQL 18 lists it as a constraint).
        WHERE n.nspname = 'public' AND k.contype <> 'n'
          AND t.relname NOT LIKE '\\_yoyo%%' AND t.relname NOT LIKE 'yoyo%%'
    """,
    "index": """
        SELECT indexdef FROM pg_indexes
        WHERE schemaname = 'public' AND tablename NOT LIKE '\\_yoyo%%' AND tablename NOT LIKE 'yoyo%%'
    """,
    "function": """
        SELECT format('%s(%s) -> %s body md5 %s', p.proname, pg_get_function_identity_arguments(p.oid),
                      pg_get_function_result(p.oid), md5(p.prosrc))
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
    """,
    "trigger": """
        SELECT format('%s %s', t.tgrelid::regclass, pg_get_triggerdef(t.oid))
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND NOT t.tgisinternal
    """,
    "comment": """
        SELECT format('%s.%s: %s', c.relname, a.attname, d.description)
        FROM pg_description d JOIN pg_class c ON c.oid = d.objoid
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND d.objsubid > 0
    """,
}


def describe_schema(url: str) -> str:
    """Tables, columns, constraints, indexes, functions, triggers and column comments, one per line, sorted."""
    lines = []
    with psycopg.connect(url) as conn:
        for kind, query in _SCHEMA_QUERIES.items():
            lines += sorted(f"{kind} {row[0]}" for row in conn.execute(query).fetchall())
    return "\n".join(lines) + "\n"
