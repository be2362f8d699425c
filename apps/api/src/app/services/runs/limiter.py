"""How hard a run may press its upstream: adaptive concurrency, a learned request rate, a fixed cap.

- Concurrency (AIMD): up to `max_concurrency` requests in flight. It starts at one, stays there for
  the first CAUTIOUS_START_SECONDS, then gains a slot per success (slow start) until the first
  refusal. The cautious start is for strict upstreams: one allowing a few requests a second with a
  second's worth of burst runs dry within it, and refuses the one request in flight instead of a
  doubled round of them (against R = 3 at 150 ms, one refusal instead of four); an upstream without
  a limit loses about half a second of the run. From the first refusal on, every success adds
  1/limit (one more slot per round of successes), and a 429 or a timeout halves the limit (at
  most once per round, so one burst of refusals is one decrease). The limit never drops below 1.
- Rate: a 429 means more requests per second than the upstream allows, which no concurrency
  limit expresses (one request in flight at 150 ms is already 6.6 req/s). So the first 429 starts
  pacing. With a Retry-After, at the rate observed until then: the requests the upstream accepted
  since the first one was sent (and half of one: what it had left when it refused was somewhere
  between none and one), over the time from that first send until the upstream will accept again
  (the refused request's send + Retry-After). That counts the burst an upstream lets through
  at the start against the wait it then imposes, so the pace is what the upstream grants on
  average, not its burst. Without a Retry-After, at the rate it was *accepting* over the last few
  seconds (a touch below it). A later 429 cuts the pace by 10 % (AIMD's decrease). Every
  `probe_every` clean successes the pace rises (1 %, then doubling per clean probe) to find out
  whether more is allowed; a pace learned from a Retry-After errs low (the stretch it counts may
  include moments the upstream had more to give), so until a refusal while paced it is probed
  every `probe_every / 4`. Probing is counted in requests, not seconds, so only about one request
  in a few hundred is refused however slow the upstream.
- Holds: a 429's Retry-After also moves the next paced slot past the hold, so the requests that
  waited it out leave one pace apart, not all at once when it ends.
- Cap: `max_rps` (the provider's `..._MAX_RPS` setting) is a fixed ceiling, kept by aiolimiter.

Nothing here retries: callers report each outcome, and the pipeline decides what to do next.
Library AIMD limiters (aimd-limiter, ace-concurrency) are 0.1 releases without a rate side, so
this small one is ours.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

from aiolimiter import AsyncLimiter

Outcome = Literal["ok", "rate_limited", "timeout", "error"]


class Report(Protocol):
    """A request's outcome, told to the limiter; `retry_after` (seconds) with a 429 that carried one."""

    def __call__(self, outcome: Outcome, retry_after: float | None = None) -> None: ...


@dataclass
class _FirstRefusal:
    """What the first 429 with a Retry-After says about the upstream's rate, while its answers come in.

    Requests sent before the refusal came may still be in flight when it is reported; the ones of
    them that are accepted count too (they arrive during the hold, before anything new is sent),
    and the stretch they were granted in reaches to the last one's send.
    """

    first: float  # when the first request was sent
    pressing: float | None  # when slow start began adding slots (None: refused before)
    last: float  # the latest send counted: the refused request's, or a later accepted one's
    retry_after: float
    reported: float  # when the refusal came: requests sent before it and accepted count too
    accepted: int
    accepted_pressing: int  # of `accepted`, those sent since `pressing`

    def count(self, sent: float) -> None:
        self.accepted += 1
        if self.pressing is not None and sent >= self.pressing:
            self.accepted_pressing += 1
        self.last = max(self.last, sent)

    @property
    def rate(self) -> float:
        """Accepted over the time from the first send until the upstream accepts again.

        Also from when slow start began: while one request was in flight the upstream may have
        had more to give than was asked (a token bucket that sat full), which would count as a
        slower rate. The faster of the two. What the upstream had left when it refused is
        somewhere in [0, 1) request: count half.
        """
        stretches = [(self.accepted, self.first)]
        if self.pressing is not None and self.accepted_pressing:
            stretches.append((self.accepted_pressing, self.pressing))
        rates = [(n + 0.5) / max(self.last - start + self.retry_after, 1e-3) for n, start in stretches]
        return max(MIN_RATE, *rates)


# Accepted requests are counted over this window to learn the upstream's rate.
RATE_WINDOW_SECONDS = 3.0
# After a 429 the pace is set this far below the rate the upstream accepted.
BACKOFF_MARGIN = 0.97
# A refusal while paced: the pace was too high by at least the upstream's burst allowance.
PACED_BACKOFF = 0.9
# Probing: +1 % after `probe_every` clean answers, doubling with each further clean probe (so a
# pace set too low by an unlucky burst recovers in a few hundred requests), at most +25 %.
PROBE_STEP = 0.01
MAX_PROBE_STEP = 0.25
MIN_RATE = 0.1
# One request in flight for this long before slow start adds slots (see the module docstring).
CAUTIOUS_START_SECONDS = 0.65


@dataclass(frozen=True)
class LimiterState:
    """What progress, the feed and the terminal show."""

    concurrency_limit: int
    in_flight: int
    paced_rps: float | None  # None: not paced (no 429 seen yet)
    max_rps: float | None


class AdaptiveLimiter:
    def __init__(
        self,
        max_concurrency: int,
        *,
        max_rps: float | None = None,
        probe_every: int = 100,
        start_seconds: float = CAUTIOUS_START_SECONDS,
        fixed: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.max_concurrency = max_concurrency
        self.max_rps = max_rps if max_rps else None
        self._cap = AsyncLimiter(max_rps, 1) if max_rps else None
        self._probe_every = probe_every
        self._start_seconds = start_seconds
        self._clock = clock
        self._sleep = sleep
        # Slow start: one request, then one more slot per success (doubling every round) until the
        # first refusal; so the first contact with a strict upstream costs one refusal, not five,
        # and an upstream without limits has us at full concurrency after three rounds.
        self._limit = float(max_concurrency) if fixed else 1.0
        self._slow_start = True
        # Fixed: always `max_concurrency` and no pace (the behaviour before adaptive concurrency).
        self._fixed = fixed
        self._in_flight = 0
        self._round_end = 0  # successes counted before a new decrease is allowed
        self._successes = 0
        self._decreased_at = -1
        self._rate: float | None = None
        self._paced_at = -math.inf
        self._probe_step = PROBE_STEP
        self._next_slot = 0.0
        self._clean = 0
        # Accepted requests over the last RATE_WINDOW_SECONDS: (answered, sent).
        self._accepted: deque[tuple[float, float]] = deque()
        self._first_sent: float | None = None  # the first request's send: where the observed rate starts
        self._eager = False  # probing often: the pace is the first 429's, not yet refused
        self._pressing_since: float | None = None  # when slow start added its first slot
        self._accepted_pressing = 0  # accepted requests sent since then
        self._first_refusal: _FirstRefusal | None = None
        self._changed = asyncio.Condition()

    @property
    def state(self) -> LimiterState:
        return LimiterState(
            concurrency_limit=self.concurrency_limit,
            in_flight=self._in_flight,
            paced_rps=None if self._rate is None else round(self._rate, 2),
            max_rps=self.max_rps,
        )

    @property
    def concurrency_limit(self) -> int:
        return max(1, math.floor(self._limit))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Report]:
        """Wait for a slot (concurrency, pace, cap); yields `report(outcome, retry_after)` for the request's outcome.

        A request that never reports (cancelled, an unexpected exception) releases its slot as an
        `error`, which changes nothing but the count in flight.
        """
        async with self._changed:
            await self._changed.wait_for(lambda: self._in_flight < self.concurrency_limit)
            self._in_flight += 1
        reported: list[tuple[Outcome, float | None]] = []
        sent = self._clock()

        def report(outcome: Outcome, retry_after: float | None = None) -> None:
            reported.append((outcome, retry_after))

        try:
            await self._pace()
            if self._cap is not None:
                await self._cap.acquire()
            sent = self._clock()
            if self._first_sent is None:
                self._first_sent = sent
            yield report
        finally:
            outcome, retry_after = reported[0] if reported else ("error", None)
            self._finish(outcome, sent, retry_after)
            async with self._changed:
                self._changed.notify_all()

    async def _pace(self) -> None:
        if self._rate is None:
            return
        now = self._clock()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self._rate
        if slot > now:
            await self._sleep(slot - now)

    def _finish(self, outcome: Outcome, sent: float, retry_after: float | None = None) -> None:
        self._in_flight -= 1
        if self._fixed:
            return
        now = self._clock()
        if outcome == "ok":
            self._successes += 1
            self._accepted.append((now, sent))
            self._count_accepted(sent)
            if self._pressing_since is not None and sent >= self._pressing_since:
                self._accepted_pressing += 1
            step = (1.0 if self._started(now) else 0.0) if self._slow_start else 1.0 / self._limit
            if step and self._pressing_since is None:
                self._pressing_since = now
            self._limit = min(float(self.max_concurrency), self._limit + step)
            if self._rate is not None:
                self._clean += 1
                # The pace learned from the first 429 errs low: it is probed four times as often
                # until a refusal while paced says it has been found.
                if self._clean >= (self._probe_every // 4 if self._eager else self._probe_every):
                    self._clean = 0
                    self._rate *= 1 + self._probe_step
                    self._probe_step = min(MAX_PROBE_STEP, self._probe_step * 2)
        elif outcome in ("rate_limited", "timeout"):
            self._slow_start = False
            # One decrease per round: the requests already in flight when the first refusal came
            # were sent at the old limit, and their refusals say nothing new.
            if self._successes >= self._round_end:
                self._limit = max(1.0, self._limit / 2)
                self._round_end = self._successes + self.concurrency_limit
            # Likewise the pace: a request sent before the pace last changed was sent too fast by a
            # pace that no longer applies.
            if outcome == "rate_limited" and sent > self._paced_at:
                if retry_after is not None and self._rate is None:
                    self._learn_from_first_refusal(now, sent, retry_after)
                else:
                    self._on_refusal(now)
            if outcome == "rate_limited" and retry_after is not None and self._rate is not None:
                # The requests waiting out the hold leave one pace apart when it ends, not at once.
                self._next_slot = max(self._next_slot, now + retry_after)
        while self._accepted and self._accepted[0][0] < now - RATE_WINDOW_SECONDS:
            self._accepted.popleft()

    def _started(self, now: float) -> bool:
        """Past the cautious start: slow start may add slots."""
        return self._first_sent is not None and now - self._first_sent >= self._start_seconds

    def _count_accepted(self, sent: float) -> None:
        """Refine the first 429's rate with the answers to requests sent before the refused one."""
        refusal = self._first_refusal
        if refusal is None:
            return
        if sent <= refusal.reported:
            # Sent before the refusal came, answered after it: the upstream granted it too.
            refusal.count(sent)
            self._rate = refusal.rate
        else:
            self._first_refusal = None  # answers to requests sent since then say nothing more about it

    def _learn_from_first_refusal(self, now: float, sent: float, retry_after: float) -> None:
        """The pace from the rate observed until the first 429: accepted requests over first send .. retry time."""
        first = self._first_sent if self._first_sent is not None else sent
        # Every success so far (nothing is sent between the refusal and the end of its hold),
        # granted until the latest of their sends and the refused one.
        last = max([sent, *(at for _, at in self._accepted)])
        self._first_refusal = _FirstRefusal(
            first=first, pressing=self._pressing_since, last=last, retry_after=retry_after, reported=now,
            accepted=self._successes, accepted_pressing=self._accepted_pressing,
        )  # fmt: skip
        self._rate = self._first_refusal.rate
        self._eager = True
        self._paced_at = now
        self._clean = 0
        self._probe_step = PROBE_STEP

    def _on_refusal(self, now: float) -> None:
        self._first_refusal = None
        self._eager = False
        self._clean = 0
        self._probe_step = PROBE_STEP
        if not self._accepted:
            # Refused before anything was accepted lately: there is no rate to learn; the
            # Retry-After hold and the halved concurrency answer it, and a pace only gets slower.
            if self._rate is not None:
                self._rate = max(MIN_RATE, self._rate * PACED_BACKOFF)
                self._paced_at = now
            return
        # From the oldest acceptance still in the window (a hold before it would dilute the rate),
        # over at least a second: a first burst answered within 150 ms says nothing about a rate.
        window = max(1.0, now - self._accepted[0][0])
        learned = max(MIN_RATE, len(self._accepted) / window * BACKOFF_MARGIN)
        # A refusal while already paced means the pace was too high: never answer it by speeding up.
        self._rate = learned if self._rate is None else max(MIN_RATE, min(learned, self._rate * PACED_BACKOFF))
        self._paced_at = now
        # The refusal says the upstream has nothing left right now: the next request waits a slot.
        self._next_slot = max(self._next_slot, now + 1.0 / self._rate)
