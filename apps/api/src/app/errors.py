"""One error hierarchy. Services raise these; the HTTP layer (`app.main`) turns them into `{"detail": ...}` responses.

AppError (500)
├── NotAuthenticated (401)      no, unknown, expired or revoked credentials
├── PermissionDenied (403)      authenticated, but lacking a permission key (or CSRF proof)
├── NotFound (404)              absent, or belonging to another org (indistinguishable on purpose)
├── Conflict (409)              the request contradicts current state (duplicate, bad transition)
├── InvalidInput (422)          well-formed but meaningless input (unknown category ids, ...)
├── TooManyOpenRuns (429)       per-org limit on open runs
└── UpstreamError (502)         the marketplace provider failed
    └── RateLimited (502)       the provider answered 429; carries Retry-After
"""

from __future__ import annotations


class AppError(Exception):
    """Internal error."""

    status_code = 500

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or (self.__doc__ or "Error").strip()
        super().__init__(self.detail)


class NotAuthenticated(AppError):
    """Not authenticated."""

    status_code = 401


class PermissionDenied(AppError):
    """Permission denied."""

    status_code = 403


class NotFound(AppError):
    """Not found."""

    status_code = 404


class Conflict(AppError):
    """Conflict with the current state."""

    status_code = 409


class InvalidInput(AppError):
    """Invalid input."""

    status_code = 422


class TooManyOpenRuns(AppError):
    """Too many open runs."""

    status_code = 429


class UpstreamError(AppError):
    """The upstream provider failed."""

    status_code = 502

    def __init__(self, detail: str | None = None, *, error_type: str = "api_error") -> None:
        super().__init__(detail)
        self.error_type = error_type


class RateLimited(UpstreamError):
    """The upstream provider is rate limiting us."""

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(detail, error_type="rate_limit")
        self.retry_after = retry_after
