"""The application: `create_app(settings)` wires routers to services; the lifespan opens the runtime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app import __version__
from app.config import Settings
from app.errors import AppError
from app.routers import amazon, auth, collection, health, history, sellers
from app.runtime import open_runtime

logger = logging.getLogger(__name__)


async def _handle_app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Opening the runtime resumes runs whose executor is gone.
        async with open_runtime(settings) as runtime:
            app.state.runtime = runtime
            logger.info("SellerCollection %s ready (provider: %s)", __version__, settings.run_provider)
            yield

    app = FastAPI(title="SellerCollection", version=__version__, lifespan=lifespan)
    # The one place the error hierarchy meets HTTP: every AppError becomes {"detail": ...} with its status.
    app.add_exception_handler(AppError, _handle_app_error)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(amazon.router)
    app.include_router(collection.router)
    app.include_router(sellers.router)
    app.include_router(history.router)
    return app
