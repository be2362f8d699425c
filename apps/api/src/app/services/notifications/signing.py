"""The signature every webhook delivery carries, so a receiver can check it came from us, unchanged.

    X-SellerCollection-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the secret>

The time is inside what is signed, so a receiver can refuse old deliveries replayed later. Each try
is signed anew (a new `t`); the body, and so the event id in it, are the same on every try.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-SellerCollection-Signature"


def signature(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
