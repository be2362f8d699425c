from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app import __version__
from app.http.deps import DatabaseDep
from app.models import HealthResponse

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "The database does not answer"}},
)
async def health(database: DatabaseDep) -> JSONResponse:
    """Liveness plus whether the database answers (503 when it does not)."""
    ok = await database.ping()
    body = HealthResponse(ok=ok, database="ok" if ok else "unavailable", version=__version__)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
