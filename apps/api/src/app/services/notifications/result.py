"""What one try of a delivery came to, as the delivery log keeps it."""

from __future__ import annotations

from dataclasses import dataclass

TIMEOUT_SECONDS = 10.0
BODY_LIMIT = 1024  # bytes of an answer kept in the delivery log


@dataclass(frozen=True)
class SendResult:
    """What one try came to: delivered or not, the receiver's status (HTTP or SMTP), an error, its answer."""

    delivered: bool
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None


def first_kilobyte(raw: bytes) -> str | None:
    """An answer as the log keeps it: at most 1 KB of UTF-8, undecodable bytes and NULs replaced."""
    if not raw:
        return None
    text = raw[:BODY_LIMIT].decode("utf-8", "replace").replace("\x00", "\ufffd")
    return text.encode()[:BODY_LIMIT].decode("utf-8", "ignore")
