"""`GET /metrics`: Prometheus exposition, behind its own bearer token (or off)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response

from app import metrics
from app.config import Settings
from app.errors import NotAuthenticated, NotFound
from app.http.deps import PoolDep, SettingsDep, signed_in
from app.services import metrics_report

router = APIRouter(tags=["metrics"])


async def _check_scrape_token(request: Request, settings: Settings) -> None:
    """The scrape token, checked under the sign-in throttle like every other credential."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise NotAuthenticated("Metrics need 'Authorization: Bearer <SELLERCOLLECTION_METRICS_TOKEN>'")
    if settings.metrics_token is None:
        raise NotFound("Metrics are off (set SELLERCOLLECTION_METRICS_TOKEN to turn them on)")
    expected = settings.metrics_token.get_secret_value().encode()

    async def compare() -> None:
        if not secrets.compare_digest(given.strip().encode(), expected):
            raise NotAuthenticated("Wrong metrics bearer token")

    await signed_in(request, compare)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {metrics.CONTENT_TYPE: {}}, "description": "Prometheus text format"},
        401: {"description": "No or wrong scrape token"},
        404: {"description": "Metrics are off (no scrape token configured), for a caller sending a token"},
        429: {"description": "Too many wrong tokens from this address (see Retry-After)"},
    },
)
async def get_metrics(request: Request, settings: SettingsDep, pool: PoolDep) -> Response:
    """Runs by status, items, upstream requests and latency, 429s, breaker trips, SSE and pool gauges."""
    await _check_scrape_token(request, settings)
    return Response(await metrics_report.scrape(pool), media_type=metrics.CONTENT_TYPE)
