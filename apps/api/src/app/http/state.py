"""The server's state: what the lifespan builds once per app, and the one typed way to read it back.

`server_lifespan(settings)` opens the runtime (pool, activity stream, executor), builds the
admission controls, the scheduler and the notification delivery worker beside it, and keeps them
on the app as one frozen `ServerState`. Handlers read it through `app.http.deps.ServerDep`; code holding the app (tests,
benchmarks) calls `server_state(app)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette

from app import __version__
from app.config import Settings
from app.http.event_stream import close_streams_on_exit
from app.http.export_slots import ExportSlots
from app.http.signin_throttle import SigninThrottle
from app.http.stream_guard import StreamGuard
from app.runtime import Runtime, open_runtime
from app.services.notifications.worker import DeliveryWorker
from app.services.scheduling.scheduler import Scheduler
from app.services.scheduling.schedules import schedule_clock
from app.services.sellers import profiles

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerState:
    runtime: Runtime
    export_slots: ExportSlots
    signin_throttle: SigninThrottle
    stream_guard: StreamGuard
    scheduler: Scheduler
    notifications: DeliveryWorker


def server_state(app: Starlette) -> ServerState:
    """The state the app's lifespan built; a RuntimeError before the lifespan has run."""
    state = getattr(app.state, "server", None)
    if not isinstance(state, ServerState):
        raise RuntimeError("the server state is built by the app's lifespan, which has not run")
    return state


@asynccontextmanager
async def open_server_state(settings: Settings) -> AsyncIterator[ServerState]:
    """The runtime and everything the server keeps beside it, started; all of it closed on exit."""
    # Opening the runtime resumes runs whose executor is gone.
    async with open_runtime(settings) as runtime, AsyncExitStack() as stack:
        # Every server process runs the scheduler; the claim in the database makes each fire happen once.
        scheduler = Scheduler(
            pool=runtime.pool,
            settings=settings,
            executor=runtime.executor,
            stream=runtime.activity_stream,
            clock=schedule_clock(settings),
        )
        stack.push_async_callback(scheduler.close)
        guard = StreamGuard(
            runtime.pool, per_token=settings.max_streams_per_token, check_every=settings.activity_keepalive_seconds
        )
        await guard.start()
        stack.push_async_callback(guard.aclose)
        streams_exit = asyncio.create_task(close_streams_on_exit(guard), name="close-streams-on-exit")
        stack.callback(streams_exit.cancel)
        if settings.scheduler_enabled:
            await scheduler.start()
        # Every server process sends due notifications; the row locks make each delivery go out once.
        notifications = DeliveryWorker(pool=runtime.pool, settings=settings, owner=runtime.executor.owner)
        await notifications.start()
        stack.push_async_callback(notifications.close)
        sweeping = asyncio.create_task(
            profiles.sweep_forever(
                runtime.pool, retention_days=settings.evidence_retention_days, every=settings.evidence_sweep_seconds
            ),
            name="evidence-sweep",
        )
        stack.push_async_callback(_cancelled, sweeping)
        yield ServerState(
            runtime=runtime,
            export_slots=ExportSlots(
                settings.max_concurrent_exports_per_org, concurrent_snapshots=max(1, settings.db_pool_max_size // 4)
            ),
            signin_throttle=SigninThrottle(settings.signin_failures_per_minute),
            stream_guard=guard,
            scheduler=scheduler,
            notifications=notifications,
        )


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def server_lifespan(settings: Settings) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """The app's lifespan: the server state, kept on the app for as long as the app serves."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_server_state(settings) as state:
            app.state.server = state
            logger.info(
                "SellerCollection %s ready (provider: %s, activity feed: %s)",
                __version__,
                settings.run_provider,
                state.runtime.activity_stream.name,
            )
            yield

    return lifespan
