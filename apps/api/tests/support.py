"""What the tests share: test databases, settings, a live server, feeds, served processes, the browser, the schema.

Fixtures live in conftest.py; everything they and the tests call lives here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx_sse import aconnect_sse
from psycopg import sql
from starlette.types import ASGIApp

from app.config import Settings
from app.db.pool import Database
from app.http.state import server_state
from app.runtime import Runtime
from app.services.activity_stream import ActivityStreamManager

if TYPE_CHECKING:
    from playwright.sync_api import Browser

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


def chromium_missing() -> str | None:
    """Why the browser cannot be launched here, or None when it can."""
    if Path(CHROMIUM).exists():
        return None
    return f"Chromium not found at {CHROMIUM}: install it with `apt-get install chromium`"


@contextlib.contextmanager
def launched_chromium() -> Iterator[Browser]:
    """Debian's Chromium with the flags above, driven by Playwright; closed (and Playwright stopped) afterwards."""
    from playwright.sync_api import sync_playwright  # only the browser tests and the web bench pay for it

    # While Playwright's sync API is open it runs an event loop in this thread: keep it no longer than needed.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


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


# Upstream retries that take milliseconds, and a feed that never drops an event a test waits for.
FAST_RETRIES: dict[str, Any] = {
    "upstream_attempts": 2,
    "retry_wait_initial_seconds": 0.01,
    "retry_wait_max_seconds": 0.05,
    "activity_subscriber_queue_size": 100_000,
}


@dataclass
class LiveServer:
    app: FastAPI
    base_url: str

    @property
    def runtime(self) -> Runtime:
        return server_state(self.app).runtime

    @property
    def database(self) -> Database:
        return self.runtime.database

    @property
    def stream(self) -> ActivityStreamManager:
        return self.runtime.activity_stream

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30.0, **kwargs)


@contextlib.asynccontextmanager
async def serve_on_loopback(app: ASGIApp, *, before_exit: Callable[[], None] | None = None) -> AsyncIterator[str]:
    """Serve an ASGI app over real HTTP on a loopback port in this event loop; yields the base URL.

    The socket is bound and listening before uvicorn starts, so clients can connect at once.
    `before_exit` runs before the server is asked to stop (to release handlers that would hold it).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        if before_exit is not None:
            before_exit()
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def serve_app(app: FastAPI) -> AsyncIterator[LiveServer]:
    """Start `app` (its lifespan) and serve it over real HTTP on a loopback port, in this event loop."""
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60), serve_on_loopback(app) as base_url:
        yield LiveServer(app=app, base_url=base_url)


@dataclass(frozen=True)
class Identity:
    token: str
    org_id: uuid.UUID
    user_id: uuid.UUID
    org_name: str


TokenFactory = Callable[..., Awaitable[Identity]]
ServerFactory = Callable[..., contextlib.AbstractAsyncContextManager[LiveServer]]


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


def leaf_ids(catalogue: dict[str, Any]) -> list[str]:
    """The leaf category ids of a `GET /amazon/categories` answer, in catalogue order."""
    return [c["id"] for d in catalogue["departments"] for c in d["categories"]]


async def start_run(
    live: LiveServer, client: httpx.AsyncClient, category_ids: list[str], **fields: Any
) -> tuple[dict[str, Any], Feed]:
    """Create a run and start it, with its feed subscribed in between (so no event is missed)."""
    run = (await client.post("/collection/runs", json={"category_ids": category_ids, **fields})).json()
    feed = Feed(live, run["id"])
    started = await client.post(f"/collection/runs/{run['id']}/start")
    assert started.status_code == 200, started.text
    return run, feed


def run_event(*actions: str) -> Callable[[Events], bool]:
    """True once the run itself reports one of `actions` (complete, failed, cancelled, paused, ...)."""
    return lambda events: any(e["phase"] == "run" and e["action"] in actions for e in events)


terminal = run_event("complete", "failed", "cancelled")


# --- what an interrupted run leaves behind ---------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """What a run left in the database: its product items, and its org's sellers."""

    items: list[tuple[str, int]]  # (status, attempts) of each product item
    sellers: int
    distinct_sellers: int  # by normalized name
    first_seen_in_run: int


def finished_exactly(db_url: str, final: dict[str, Any], org_name: str, *, repeats_at_most: int) -> RunRecord:
    """Assert a run that was interrupted (killed, taken over) still did its work exactly; returns the rows.

    Every product was searched and counted once; at most `repeats_at_most` were fetched again (the
    ones in flight at an interruption); no seller is stored twice.
    """
    with psycopg.connect(db_url) as conn:
        items = conn.execute(
            "SELECT status, attempts FROM collection_items WHERE run_id = %s AND kind = 'product'", (final["id"],)
        ).fetchall()
        sellers = conn.execute(
            "SELECT count(*), count(DISTINCT normalized_name), count(*) FILTER (WHERE first_seen_run_id = %s) "
            "FROM sellers s JOIN orgs o ON o.id = s.org_id WHERE o.name = %s",
            (final["id"], org_name),
        ).fetchone()
    assert sellers is not None
    record = RunRecord(
        items=[(s, a) for s, a in items], sellers=sellers[0], distinct_sellers=sellers[1], first_seen_in_run=sellers[2]
    )
    assert final["status"] == "completed", final["status_reason"]
    assert {s for s, _ in record.items} <= {"completed", "skipped"}  # every product was searched
    assert final["products_searched"] == len(record.items) == final["products_total"]
    assert sum(1 for _, a in record.items if a > 1) <= repeats_at_most
    assert record.sellers == record.distinct_sellers  # no seller duplicated
    return record


# --- the real command in child processes -----------------------------------------------------------

CLI = [sys.executable, "-c", "from app.cli.main import main; main()"]


@contextlib.contextmanager
def open_data_dir(prefix: str) -> Iterator[Path]:
    """A data folder for an embedded server, below a fresh 0755 folder in the system temp folder; removed after.

    As root the server runs as its own OS user, which must reach the data through every folder above
    it; pytest's own temp folders are private (0700), so the server would refuse them.
    """
    parent = Path(tempfile.mkdtemp(prefix=f"sc-{prefix}-"))
    parent.chmod(0o755)
    try:
        yield parent / "data"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def child_env(**extra: str) -> dict[str, str]:
    """The test's environment without settings that would leak into the child, plus `extra`."""
    dropped = {"DATABASE_URL", "REDIS_URL", "OXYLABS_USERNAME", "OXYLABS_PASSWORD"}
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("SELLERCOLLECTION_")}
    env.update(extra)
    return env


def demo_env(db_url: str, **settings: str) -> dict[str, str]:
    """`child_env` for a served process on `db_url` and the demo marketplace, plus `settings` (env names)."""
    return child_env(DATABASE_URL=db_url, SELLERCOLLECTION_PROVIDER="demo", **settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_token(env: dict[str, str], org: str, email: str) -> str:
    made = subprocess.run(
        [*CLI, "create-token", "--org", org, "--email", email, "-p", "admin.automation"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return made.stdout.strip().splitlines()[-1]


# --- real `sellercollection serve` processes -------------------------------------------------------

STOP_WITHIN = 60.0  # seconds a stop signal may take before the process is killed (and the test fails)


@dataclass
class ServedProcess:
    """A running `sellercollection serve`: its address, environment, process and output (stdout and stderr)."""

    base: str
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def token(self, org: str, email: str = "web@example.com") -> str:
        """A new admin.automation token in `org`, made by the CLI against this server's database."""
        return create_token(self.env, org, email)

    def client(self, token: str, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    def running(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        """A crash: SIGKILL, no shutdown of any kind (an embedded PostgreSQL is left running)."""
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self, how: signal.Signals = signal.SIGTERM, within: float = STOP_WITHIN) -> int:
        """Send `how` and return the exit status; one that does not stop in time is killed and fails the test."""
        if self.running():
            self.proc.send_signal(how)
            try:
                self.proc.wait(timeout=within)
            except subprocess.TimeoutExpired:
                self._kill_group()
                raise AssertionError(f"serve did not stop within {within:g} s of {how.name}:\n{self.tail()}") from None
        return self.proc.returncode

    def tail(self, chars: int = 4000) -> str:
        return self.output()[-chars:]

    def _kill_group(self) -> None:
        # Its own process group: whatever it started (an embedded PostgreSQL) goes with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def _wait_ready(self, within: float) -> None:
        """Until /health answers 200; fails as soon as the process exits, or after `within` seconds."""
        deadline = time.monotonic() + within
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"{self.base}/health", timeout=2)
                if health.status_code == 200:
                    return
                last = f"{health.status_code} {health.text}"
            except httpx.TransportError as exc:
                last = repr(exc)
            # Readiness of another process is only observable by asking it; between two asks, wait
            # on its exit instead of sleeping, so a crash at start is reported at once.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=0.1)
                raise AssertionError(f"serve exited with {self.proc.returncode} while starting:\n{self.tail()}")
        raise AssertionError(f"serve was not ready within {within:g} s ({last}):\n{self.tail()}")


@contextlib.contextmanager
def served_process(
    env: Mapping[str, str], *, port: int | None = None, ready_within: float = 120
) -> Iterator[ServedProcess]:
    """A real `sellercollection serve` with `env` (see `child_env`) on `port` (default: a free one).

    Yields once /health answers 200. Afterwards it is stopped with SIGTERM (unless a test already
    stopped or killed it); one that does not stop within STOP_WITHIN seconds is killed with everything
    it started and fails the test. Its output goes to a temporary file, removed at the end.
    """
    port = port or free_port()
    fd, log_name = tempfile.mkstemp(prefix="serve-", suffix=".log")
    log = Path(log_name)
    try:
        with os.fdopen(fd, "wb") as sink:
            proc = subprocess.Popen(
                [*CLI, "serve", "--port", str(port)],
                env=dict(env), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        served = ServedProcess(base=f"http://127.0.0.1:{port}", port=port, env=dict(env), proc=proc, log=log)
        try:
            served._wait_ready(ready_within)
            yield served
        finally:
            served.stop()
    finally:
        log.unlink(missing_ok=True)


def start_served_run(api: httpx.Client, name: str, categories: int) -> dict[str, Any]:
    """Create and start a run over the catalogue's first `categories` categories, through a served process's API."""
    ids = leaf_ids(api.get("/amazon/categories").json())[:categories]
    run: dict[str, Any] = api.post("/collection/runs", json={"name": name, "category_ids": ids}).json()
    started = api.post(f"/collection/runs/{run['id']}/start")
    assert started.status_code == 200, started.text
    return run


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


Event = dict[str, Any]


@dataclass
class FeedReader:
    """One SSE connection, read in the background: events as {"sse_id": id, **data}."""

    client: httpx.AsyncClient
    url: str
    last_id: str | None = None
    events: list[Event] = field(default_factory=list)
    ended: str = ""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def start(self) -> FeedReader:
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
        try:
            async with aconnect_sse(self.client, "GET", self.url, headers=headers) as sse:
                async for item in sse.aiter_sse():
                    if item.data:
                        self.events.append({"sse_id": item.id, **json.loads(item.data)})
                        self._changed.set()
            self.ended = "closed"
        except httpx.HTTPError as exc:
            self.ended = f"broken: {type(exc).__name__}: {exc}"
        self._changed.set()

    async def until(self, predicate: Callable[[list[Event]], bool], timeout: float = 120) -> list[Event]:
        """The events once `predicate` holds for them (an AssertionError if the feed ends first)."""

        async def wait() -> None:
            while not predicate(self.events):
                if self.ended:
                    raise AssertionError(f"feed {self.url} ended ({self.ended}) first: {self.events[-3:]}")
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)
        return self.events

    def ids(self) -> list[int]:
        return [int(e["sse_id"]) for e in self.events if e["sse_id"]]
