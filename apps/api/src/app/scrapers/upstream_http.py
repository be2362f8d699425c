"""What the HTTP providers share: their credentials check, their JSON client, and reading Retry-After."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from pydantic import SecretStr

from app.errors import InvalidInput


def credentials(user: str | None, secret: SecretStr | None, *, missing: str) -> tuple[str, str]:
    """The user and secret, both set; InvalidInput(`missing`) otherwise, before any request is made."""
    if not user or secret is None or not secret.get_secret_value():
        raise InvalidInput(missing)
    return user, secret.get_secret_value()


def upstream_timeout(seconds: float) -> httpx.Timeout:
    # No pool limit: waiting for a free connection is the pipeline's concurrency, not a slow upstream.
    return httpx.Timeout(seconds, pool=None)


def json_client(
    *, transport: httpx.AsyncBaseTransport | None, timeout_seconds: float, auth: httpx.Auth | None = None
) -> httpx.AsyncClient:
    """One client for a provider's whole life, asking for JSON."""
    return httpx.AsyncClient(
        auth=auth,
        transport=transport,
        headers={"Accept": "application/json"},
        timeout=upstream_timeout(timeout_seconds),
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None when absent or garbled."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
