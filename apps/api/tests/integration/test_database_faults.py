"""Which errors are database faults (waited out) and which are not, with errors raised by a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from uuid import UUID

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from app.db.outage import is_database_fault
from app.errors import UpstreamError
from app.models import ActivityEntry
from app.services.runs.outage import DatabaseWait
from tests.support import free_port


async def _raised(action: Callable[[], Awaitable[object]]) -> Exception:
    try:
        await action()
    except Exception as exc:
        return exc
    raise AssertionError("expected an error")


async def _terminated_session_error(url: str) -> Exception:
    """What a session gets when an administrator (or a server shutdown) terminates it: 57P01."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as victim:
        cur = await victim.execute("SELECT pg_backend_pid()")
        row = await cur.fetchone()
        assert row is not None
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (row[0],))
        return await _raised(lambda: victim.execute("SELECT 1"))


async def test_a_terminated_session_and_then_its_closed_connection_are_faults(db_url: str) -> None:
    terminated = await _terminated_session_error(db_url)
    assert isinstance(terminated, pg_errors.AdminShutdown) and terminated.sqlstate == "57P01"
    assert is_database_fault(terminated)

    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.close()
        closed = await _raised(lambda: conn.execute("SELECT 1"))
    assert isinstance(closed, psycopg.OperationalError) and is_database_fault(closed)


async def test_a_refused_connection_and_a_pool_timeout_are_faults() -> None:
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres?connect_timeout=2"
    refused = await _raised(lambda: psycopg.AsyncConnection.connect(nobody))
    assert isinstance(refused, psycopg.OperationalError) and "refused" in str(refused).lower()
    assert is_database_fault(refused)

    pool: AsyncConnectionPool[psycopg.AsyncConnection[tuple[object, ...]]] = AsyncConnectionPool(
        nobody, min_size=1, open=False, timeout=0.5
    )
    await pool.open(wait=False)
    try:

        async def borrow() -> None:
            async with pool.connection():
                pass

        timed_out = await _raised(borrow)
    finally:
        await pool.close()
    assert type(timed_out).__name__ == "PoolTimeout" and is_database_fault(timed_out)
    # A fault wrapped by whoever met it is still a fault.
    wrapped = RuntimeError("could not store")
    wrapped.__cause__ = refused
    assert is_database_fault(wrapped)


async def test_errors_of_the_work_itself_are_not_faults(db_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        syntax = await _raised(lambda: conn.execute("SELEC 1"))
        zero = await _raised(lambda: conn.execute("SELECT 1 / 0"))
        cancelled = await _raised(lambda: conn.execute("SET statement_timeout = 10; SELECT pg_sleep(1)"))
    assert isinstance(syntax, pg_errors.SyntaxError) and not is_database_fault(syntax)
    assert isinstance(zero, pg_errors.DivisionByZero) and not is_database_fault(zero)
    # 57014 is in the same class as the shutdowns, but it is the statement's fault.
    assert isinstance(cancelled, pg_errors.QueryCanceled) and not is_database_fault(cancelled)
    assert not is_database_fault(UpstreamError("eBay answered 500", error_type="server"))
    assert not is_database_fault(ValueError("bad"))
    # An error raised while handling a fault is that error, not the fault.
    try:
        try:
            raise await _terminated_session_error(db_url)
        except psycopg.OperationalError:
            raise KeyError("bug") from None
    except KeyError as bug:
        assert not is_database_fault(bug)


async def test_a_wait_holds_a_step_until_the_database_answers_and_says_so(db_url: str) -> None:
    fault = await _terminated_session_error(db_url)
    published: list[ActivityEntry] = []
    announced = asyncio.Event()

    def publish(event: ActivityEntry) -> None:
        published.append(event)
        announced.set()

    wait = DatabaseWait(pause_after=600, publish=publish)
    tries = 0

    async def step() -> UUID:
        nonlocal tries
        tries += 1
        if not announced.is_set():
            raise fault
        assert wait.waiting_since is not None
        return UUID(int=tries)

    assert await asyncio.wait_for(wait.hold(step), 30) == UUID(int=tries)
    assert tries >= 2 and wait.waiting_since is None
    assert [e.action for e in published] == ["waiting_for_database", "database_back"]
    assert published[1].duration_ms is not None and published[1].duration_ms >= published[0].duration_ms  # type: ignore[operator]


async def test_a_wait_passes_other_errors_at_once_and_a_bounded_one_gives_up(db_url: str) -> None:
    fault = await _terminated_session_error(db_url)
    wait = DatabaseWait(pause_after=0.3, publish=lambda _e: None)
    tries = 0

    async def broken() -> None:
        nonlocal tries
        tries += 1
        raise ValueError("not the database")

    with pytest.raises(ValueError):
        await wait.hold(broken)
    assert tries == 1

    async def away() -> None:
        raise fault

    with pytest.raises(pg_errors.AdminShutdown):
        await asyncio.wait_for(wait.hold(away), 30)
    assert wait.since is not None  # still waiting: the caller pauses the run and waits unbounded


async def test_a_step_that_hangs_has_the_database_probed_and_the_outage_announced_before_it_ends() -> None:
    # A step waiting for a pooled connection while the server is down fails only at the pool's
    # timeout (30 s); the probe (a real connection to a port nobody listens on) finds the outage first.
    refused_url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    published: list[ActivityEntry] = []
    announced = asyncio.Event()

    def publish(event: ActivityEntry) -> None:
        published.append(event)
        announced.set()

    async def probe() -> None:
        await (await psycopg.AsyncConnection.connect(refused_url, connect_timeout=2)).close()

    wait = DatabaseWait(pause_after=600, publish=publish, probe=probe, probe_after=0.05)
    release = asyncio.Event()

    async def hangs() -> str:
        await release.wait()
        return "stored"

    step = asyncio.create_task(wait.hold(hangs))
    await asyncio.wait_for(announced.wait(), 30)
    assert [e.action for e in published] == ["waiting_for_database"] and not step.done()
    assert wait.waiting_since is not None
    release.set()  # the database answers: the step ends, and so does the wait
    assert await asyncio.wait_for(step, 30) == "stored"
    assert [e.action for e in published] == ["waiting_for_database", "database_back"]
    assert wait.since is None


async def test_a_slow_step_on_a_database_that_answers_the_probe_is_no_outage(db_url: str) -> None:
    probed = asyncio.Event()

    async def probe() -> None:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            await conn.execute("SELECT 1")
        probed.set()

    wait = DatabaseWait(pause_after=600, publish=lambda e: pytest.fail(f"published {e.action}"), probe=probe,
                        probe_after=0.05)  # fmt: skip

    async def slow() -> int:
        await probed.wait()  # still going when the probe has its answer
        return 7

    assert await asyncio.wait_for(wait.hold(slow), 30) == 7
    assert wait.since is None


async def test_closing_a_wait_cancelled_mid_outage_leaves_no_reminder_behind() -> None:
    refused_url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    announced = asyncio.Event()

    async def probe() -> None:
        await (await psycopg.AsyncConnection.connect(refused_url, connect_timeout=2)).close()

    wait = DatabaseWait(pause_after=600, publish=lambda _e: announced.set(), probe=probe, probe_after=0.05)
    step = asyncio.create_task(wait.hold(asyncio.Event().wait))
    await asyncio.wait_for(announced.wait(), 30)
    step.cancel()  # a user's pause cancels the workers while the database is away
    with pytest.raises(asyncio.CancelledError):
        await step
    assert wait._timer is not None  # the next reminder is due: nothing else would ever stop it
    wait.close()
    assert wait._timer is None and wait.since is None and wait.waiting_since is None
