from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.config import Settings
from app.errors import NotAuthenticated
from app.http.deps import BearerDeclared, CallerDep, PoolDep, SettingsDep, bearer_token, signed_in
from app.models import MeResponse, SessionResponse
from app.security import CSRF_COOKIE, SESSION_COOKIE, caller_from_token
from app.services import accounts

router = APIRouter(prefix="/auth", tags=["auth"])


@router.get("/me", response_model=MeResponse)
async def me(caller: CallerDep) -> MeResponse:
    """Who the credentials belong to."""
    return MeResponse.model_validate(caller)


def _set_session_cookie(response: Response, settings: Settings, name: str, value: str, *, httponly: bool) -> None:
    """The session cookie, and the CSRF token's readable twin: the same lifetime, SameSite and scope."""
    response.set_cookie(
        name,
        value,
        max_age=settings.session_ttl_hours * 3600,
        httponly=httponly,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )


@router.post("/session", response_model=SessionResponse)
async def create_session(
    request: Request, response: Response, pool: PoolDep, settings: SettingsDep, _bearer: BearerDeclared = None
) -> SessionResponse:
    """Exchange a Bearer token for an HttpOnly, SameSite=Strict session cookie."""
    token = bearer_token(request)
    if token is None:
        raise NotAuthenticated("Send 'Authorization: Bearer <token>' to open a session")
    caller = await signed_in(request, lambda: caller_from_token(pool, token))
    async with pool.connection() as conn:
        opened = await accounts.open_session(conn, caller=caller, ttl_hours=settings.session_ttl_hours)
    _set_session_cookie(response, settings, SESSION_COOKIE, opened.session_secret, httponly=True)
    _set_session_cookie(response, settings, CSRF_COOKIE, opened.csrf_token, httponly=False)
    return SessionResponse.model_validate(opened)


@router.delete("/session", status_code=204)
async def delete_session(response: Response, caller: CallerDep, pool: PoolDep) -> Response:
    """End the cookie session (needs the CSRF header like any state change)."""
    if caller.session_id is not None:
        async with pool.connection() as conn:
            await accounts.close_session(conn, session_id=caller.session_id)
    response.status_code = 204
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict")
    return response
