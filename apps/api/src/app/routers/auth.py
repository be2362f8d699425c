from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from app.auth import SESSION_COOKIE, Caller, authenticate, bearer_token, caller_from_token
from app.config import Settings
from app.db import Pool
from app.deps import get_pool, get_settings
from app.errors import NotAuthenticated
from app.models import MeResponse, SessionResponse
from app.services import accounts

router = APIRouter(prefix="/auth", tags=["auth"])


@router.get("/me", response_model=MeResponse)
async def me(caller: Caller = Depends(authenticate)) -> MeResponse:
    """Who the credentials belong to."""
    return MeResponse(
        user_id=caller.user_id,
        email=caller.email,
        org_id=caller.org_id,
        org_name=caller.org_name,
        permission_keys=sorted(caller.permission_keys),
    )


@router.post("/session", response_model=SessionResponse)
async def create_session(
    request: Request,
    response: Response,
    pool: Pool = Depends(get_pool),
    settings: Settings = Depends(get_settings),
) -> SessionResponse:
    """Exchange a Bearer token for an HttpOnly, SameSite=Strict session cookie."""
    token = bearer_token(request)
    if token is None:
        raise NotAuthenticated("Send 'Authorization: Bearer <token>' to open a session")
    caller = await caller_from_token(pool, token)
    async with pool.connection() as conn:
        opened = await accounts.open_session(conn, caller=caller, ttl_hours=settings.session_ttl_hours)
    response.set_cookie(
        SESSION_COOKIE,
        opened.session_secret,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )
    return SessionResponse(csrf_token=opened.csrf_token, expires_at=opened.expires_at)


@router.delete("/session", status_code=204)
async def delete_session(
    response: Response, caller: Caller = Depends(authenticate), pool: Pool = Depends(get_pool)
) -> Response:
    """End the cookie session (needs the CSRF header like any state change)."""
    if caller.session_id is not None:
        async with pool.connection() as conn:
            await accounts.close_session(conn, session_id=caller.session_id)
    response.status_code = 204
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
