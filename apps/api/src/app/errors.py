"""One error hierarchy. Services raise these; the HTTP layer (`app.main`) turns them into `{"detail": ...}` responses.

AppError (500)
├── Misconfigured (500)         a setting or folder the operator must change (commands exit 2 with the message)
├── NotAuthenticated (401)      no, unknown, expired or revoked credentials
├── PermissionDenied (403)      authenticated, but lacking a permission key (or CSRF proof)
├── NotFound (404)              absent, or belonging to another org (indistinguishable on purpose)
├── Conflict (409)              the request contradicts current state (duplicate, bad transition)
├── PayloadTooLarge (413)       a request body over the configured limit
├── InvalidInput (422)          well-formed but meaningless input (unknown category ids, ...)
├── TooManyRequests (429)       a per-org, per-token or per-address limit; may carry Retry-After
│   └── TooManyOpenRuns (429)   per-org limit on open runs
└── UpstreamError (502)         the marketplace provider failed
    └── RateLimited (502)       the provider answered 429; carries Retry-After
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")

# Bad values are quoted in error messages only this far, so an error never echoes a huge input.
QUOTE_LIMIT = 40


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A bad value as an error message may show it: repr-quoted, cut to a short prefix, always encodable."""
    text = value if isinstance(value, str) else repr(value)
    cut = text[:limit]
    # A lone surrogate cannot be encoded as UTF-8; show its escape instead.
    shown = repr(cut.encode("utf-8", "backslashreplace").decode("utf-8"))
    return shown + (f"... ({len(text)} characters)" if len(text) > limit else "")


class AppError(Exception):
    """Internal error."""

    status_code = 500

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or (self.__doc__ or "Error").strip()
        super().__init__(self.detail)


class Misconfigured(AppError):
    """The service cannot start as configured."""


class NotAuthenticated(AppError):
    """Not authenticated."""

    status_code = 401


class PermissionDenied(AppError):
    """Permission denied."""

    status_code = 403


class NotFound(AppError):
    """Not found."""

    status_code = 404


def found(value: T | None, detail: str) -> T:
    """`value`, or NotFound(detail) when there is none (an absent row, or another org's)."""
    if value is None:
        raise NotFound(detail)
    return value


class Conflict(AppError):
    """Conflict with the current state."""

    status_code = 409


class InvalidInput(AppError):
    """Invalid input."""

    status_code = 422


class PayloadTooLarge(AppError):
    """Request body too large."""

    status_code = 413


class TooManyRequests(AppError):
    """Too many requests."""

    status_code = 429

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TooManyOpenRuns(TooManyRequests):
    """Too many open runs."""


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
