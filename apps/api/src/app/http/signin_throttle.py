"""Failed sign-ins per client address, limited: past the limit an address is refused without a database query.

A moving window (the `limits` library, in memory) counts failed credential checks per address.
While an address is over its limit, every credential it presents is refused with 429 and a
Retry-After, before any lookup, so guessing tokens costs the attacker time and the database nothing.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from app.errors import TooManyRequests


class SigninThrottle:
    def __init__(self, failures_per_minute: int) -> None:
        self._item = RateLimitItemPerMinute(failures_per_minute)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, address: str) -> None:
        """429 when `address` has used up its failed attempts for now."""
        if not self._limiter.test(self._item, address):
            reset_at = self._limiter.get_window_stats(self._item, address).reset_time
            wait = max(1, math.ceil(reset_at - time.time()))
            raise TooManyRequests(
                f"Too many failed sign-in attempts from this address; try again in {wait} s", retry_after=wait
            )

    def failed(self, address: str) -> None:
        self._limiter.hit(self._item, address)
