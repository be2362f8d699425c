from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app import __version__
from app.http.deps import DatabaseDep, PoolDep, optional_caller
from app.models import HealthResponse

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={
        401: {"description": "Credentials were sent, and are not valid (sending none is fine)"},
        429: {"description": "Too many failed sign-ins from this address (see Retry-After)"},
        503: {"model": HealthResponse, "description": "The database does not answer"},
    },
)
async def health(request: Request, database: DatabaseDep, pool: PoolDep) -> JSONResponse:
    """Liveness plus whether the database answers (503 when it does not); the version only to a signed-in caller."""
    ok = await database.ping()
    # Credentials are checked only while the database answers: a probe must see the 503, not a failed lookup.
    signed_in = ok and await optional_caller(request, pool) is not None
    body = HealthResponse(ok=ok, database="ok" if ok else "unavailable", version=__version__ if signed_in else None)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if ok else 503)
