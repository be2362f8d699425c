"""The application: `create_app(settings)` wires routers to services; the lifespan opens the runtime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.config import Settings
from app.http.body_limit import BodyLimitMiddleware
from app.http.errors import register_error_handlers
from app.http.event_stream import close_streams_on_exit
from app.http.export_slots import ExportSlots
from app.http.openapi import install_openapi
from app.http.signin_throttle import SigninThrottle
from app.http.stream_cors import StreamCORSMiddleware
from app.http.stream_guard import StreamGuard
from app.routers import (
    amazon,
    auth,
    collection,
    collection_settings,
    docs,
    health,
    history,
    metrics,
    presets,
    schedules,
    sellers,
    web,
)
from app.runtime import open_runtime
from app.services.scheduling.scheduler import Scheduler
from app.services.scheduling.schedules import schedule_clock

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Opening the runtime resumes runs whose executor is gone.
        async with open_runtime(settings) as runtime:
            app.state.runtime = runtime
            app.state.export_slots = ExportSlots(
                settings.max_concurrent_exports_per_org, concurrent_snapshots=max(1, settings.db_pool_max_size // 4)
            )
            app.state.signin_throttle = SigninThrottle(settings.signin_failures_per_minute)
            app.state.stream_guard = guard = StreamGuard(
                runtime.pool, per_token=settings.max_streams_per_token, check_every=settings.activity_keepalive_seconds
            )
            await guard.start()
            streams_exit = asyncio.create_task(close_streams_on_exit(guard), name="close-streams-on-exit")
            # Every server process runs the scheduler; the claim in the database makes each fire happen once.
            scheduler = Scheduler(
                pool=runtime.pool,
                settings=settings,
                executor=runtime.executor,
                stream=runtime.activity_stream,
                clock=schedule_clock(settings),
            )
            app.state.scheduler = scheduler
            if settings.scheduler_enabled:
                await scheduler.start()
            logger.info(
                "SellerCollection %s ready (provider: %s, activity feed: %s)",
                __version__,
                settings.run_provider,
                runtime.activity_stream.name,
            )
            try:
                yield
            finally:
                streams_exit.cancel()
                await guard.aclose()
                await scheduler.close()

    app = FastAPI(title="SellerCollection", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    routers = [
        health.router,
        auth.router,
        amazon.router,
        presets.router,
        collection.router,
        collection_settings.router,
        schedules.router,
        sellers.router,
        history.router,
        metrics.router,
    ]
    for router in routers:
        app.include_router(router)
    # The one place the error hierarchy meets HTTP: every error becomes {"detail": ...} with its status.
    register_error_handlers(app, routers)
    install_openapi(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    app.add_middleware(StreamCORSMiddleware, origins=settings.stream_cors_origins)
    docs.install(app)
    web.install(app)  # last: the page routes answer only what the API does not
    return app
