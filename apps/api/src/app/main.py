"""The application: `create_app(settings)` wires routers to services; the lifespan builds the server state."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from app import __version__
from app.config import Settings
from app.http.body_limit import BodyLimitMiddleware
from app.http.errors import register_error_handlers
from app.http.openapi import install_openapi
from app.http.security_headers import SecurityHeadersMiddleware
from app.http.state import server_lifespan
from app.http.stream_cors import StreamCORSMiddleware
from app.routers import (
    amazon,
    auth,
    collection,
    collection_settings,
    docs,
    health,
    history,
    metrics,
    notifications,
    presets,
    schedules,
    sellers,
    web,
)

# The API, in the order the OpenAPI document lists it.
API_ROUTERS: tuple[APIRouter, ...] = (
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
    notifications.router,
)


# Paths whose answers a browser may cache: versioned static files, no org data.
CACHEABLE_PREFIXES = ("/static/", f"{docs.ASSETS}/")


class SellerCollectionApp(FastAPI):
    """FastAPI with the security headers outermost: outside even the error middleware, so a 500 has them too."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack(), cacheable_prefixes=CACHEABLE_PREFIXES)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = SellerCollectionApp(
        title="SellerCollection",
        version=__version__,
        lifespan=server_lifespan(settings),
        docs_url=None,
        redoc_url=None,
    )
    for router in API_ROUTERS:
        app.include_router(router)
    # The one place the error hierarchy meets HTTP: every error becomes {"detail": ...} with its status.
    register_error_handlers(app, API_ROUTERS)
    install_openapi(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    app.add_middleware(StreamCORSMiddleware, origins=settings.stream_cors_origins)
    docs.install(app)
    web.install(app)  # last: the page routes answer only what the API does not
    return app
