"""When a failed delivery is tried again: exponential backoff with jitter, at most 8 tries within 24 hours.

The schedule outlives the process (a delivery waits hours in PostgreSQL, not in a coroutine), so
stamina's in-process retry loop does not fit; the wait comes from tenacity's `wait_exponential_jitter`,
the strategy library under stamina, asked for the wait after a given number of tries.

    try   1     2       3       4        5         6          7          8
    after 0     2-5 s   12-15 s 72-75 s  7.2 min   43 min     4.3 h      24 h after the first try
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tenacity import AsyncRetrying, RetryCallState, wait_exponential_jitter

MAX_ATTEMPTS = 8
RETRY_WINDOW = timedelta(hours=24)
# 2 s x 6^(n-1) plus up to 3 s of jitter: the first retry within 5 s, the seventh wait past the window's end.
_WAIT = wait_exponential_jitter(multiplier=2, exp_base=6, jitter=3, max=RETRY_WINDOW.total_seconds())


def backoff_seconds(attempts_made: int) -> float:
    """The wait after `attempts_made` failed tries (1 for the first retry)."""
    state = RetryCallState(AsyncRetrying(), None, (), {})
    state.attempt_number = attempts_made
    return float(_WAIT(state))


def next_attempt_at(attempts_made: int, first_attempt_at: datetime, now: datetime) -> datetime | None:
    """When to try again after `attempts_made` failed tries; None once the tries or the 24 hours are used up.

    The last try is pulled in to the window's end, so a failing delivery gets all 8 tries within 24 hours.
    """
    deadline = first_attempt_at + RETRY_WINDOW
    if attempts_made >= MAX_ATTEMPTS or now >= deadline:
        return None
    return min(now + timedelta(seconds=backoff_seconds(attempts_made)), deadline)
