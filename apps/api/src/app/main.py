"""The application: `create_app(settings)` wires routers to services; the lifespan owns every resource."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.config import Settings
from app.db import open_database
from app.errors import register_error_handlers
from app.routers import amazon, auth, collection, health, history, sellers
from app.scrapers.base import Marketplace
from app.scrapers.factory import build_marketplace
from app.services.activity_stream import ActivityStreamManager
from app.services.run_executor import RunExecutor

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    def marketplace_for(provider: str) -> Marketplace:
        return build_marketplace(settings.model_copy(update={"provider": provider}))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_database(settings) as database:
            stream = ActivityStreamManager(
                subscriber_queue_size=settings.activity_subscriber_queue_size,
                finished_grace_seconds=settings.activity_finished_grace_seconds,
                idle_ttl_seconds=settings.activity_idle_ttl_seconds,
            )
            executor = RunExecutor(
                pool=database.pool, settings=settings, stream=stream, marketplace_factory=marketplace_for
            )
            app.state.settings = settings
            app.state.database = database
            app.state.activity_stream = stream
            app.state.executor = executor
            await executor.start()  # resumes runs whose executor is gone
            logger.info("SellerCollection %s ready (provider: %s)", __version__, settings.resolved_provider)
            try:
                yield
            finally:
                await executor.close()

    app = FastAPI(title="SellerCollection", version=__version__, lifespan=lifespan)
    register_error_handlers(app)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(amazon.router)
    app.include_router(collection.router)
    app.include_router(sellers.router)
    app.include_router(history.router)
    return app
