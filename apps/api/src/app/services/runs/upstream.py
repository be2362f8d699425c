"""One upstream request as the pipeline makes it: retried, paced, and recorded.

Split in layers, the way httpx splits `send` (auth, then redirects, then one request):

- `call_upstream`: the retries. Transient errors are retried with stamina's backoff, a 429 after
  the run-wide `RateGate` has passed, at most as often as the settings allow.
- `_attempt`: one try. It waits for the rate gate and a slot of the adaptive limiter, calls, and
  tells the limiter the outcome.
- `_Recorder`: what one try leaves behind. That is its events (fetching, rate_limited, error),
  the run's request meter and the Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import stamina

from app import metrics
from app.config import Settings
from app.errors import RateLimited, UpstreamError
from app.models import ActivityAction
from app.services.parallel_runner import create_activity_event
from app.services.runs.usage import RequestKind

if TYPE_CHECKING:
    # Only for annotations: the run's context holds the gate, limiter and meter used here.
    from app.services.runs.pipeline import RunContext

T = TypeVar("T")

# Transient upstream failures worth retrying; a malformed body will be malformed again.
_TRANSIENT = frozenset({"http_error", "timeout", "network"})


class RateGate:
    """Run-wide hold after a 429: every worker waits until the upstream's Retry-After has passed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._resume_at = 0.0

    def hold(self, seconds: float) -> None:
        self._resume_at = max(self._resume_at, self._clock() + max(seconds, 0.0))

    def remaining(self) -> float:
        return max(0.0, self._resume_at - self._clock())

    async def wait(self) -> None:
        # Sleep to the deadline, then look again: another 429 may have pushed it further meanwhile.
        while (remaining := self.remaining()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(remaining)


def ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


@dataclass
class _RetryBudget:
    """stamina's `on=` hook: whether (and after how long) a failed try is tried again."""

    settings: Settings
    gate: RateGate
    transient_failures: int = 0
    rate_limits: int = 0

    def __call__(self, exc: Exception) -> bool | float:
        if isinstance(exc, RateLimited):
            self.rate_limits += 1
            return self.gate.remaining() if self.rate_limits <= self.settings.rate_limit_retries else False
        if isinstance(exc, UpstreamError) and exc.error_type in _TRANSIENT:
            self.transient_failures += 1
            return self.transient_failures < self.settings.upstream_attempts
        return False


@dataclass(slots=True)
class _Recorder:
    """Records one try: its events through the run's runner, the run's meter and the metrics."""

    ctx: RunContext
    provider: str
    worker_id: int
    phase: str
    kind: RequestKind
    attempt: int
    fields: dict[str, Any]
    started: float = 0.0

    async def sending(self) -> None:
        await self._emit("fetching", concurrency_limit=self.ctx.limiter.concurrency_limit)
        self.started = time.perf_counter()

    def succeeded(self) -> None:
        self._count(self.kind, "ok")

    async def rate_limited(self, exc: RateLimited) -> None:
        self._count("rate_limited", "rate_limited")
        wait = exc.retry_after if exc.retry_after is not None else self.ctx.settings.rate_limit_backoff_seconds
        metrics.RATE_LIMITED.labels(self.provider).inc()
        metrics.RATE_LIMIT_WAIT.labels(self.provider).inc(wait)
        self.ctx.gate.hold(wait)
        await self._emit(
            "rate_limited",
            error_type="rate_limit",
            retry_after_seconds=wait,
            duration_ms=ms_since(self.started),
            concurrency_limit=self.ctx.limiter.concurrency_limit,
        )

    async def failed(self, exc: UpstreamError) -> None:
        self._count(self.kind, exc.error_type)
        await self._emit(
            "error", error_type=exc.error_type, error_message=exc.detail, duration_ms=ms_since(self.started)
        )

    def _count(self, kind: RequestKind, outcome: str) -> None:
        self.ctx.meter.count(self.provider, kind)
        metrics.UPSTREAM_REQUESTS.labels(self.provider, outcome).inc()
        metrics.UPSTREAM_LATENCY.labels(self.provider).observe(time.perf_counter() - self.started)

    async def _emit(self, action: ActivityAction, **details: Any) -> None:
        event = create_activity_event(
            self.worker_id, self.phase, action, attempt=self.attempt, **details, **self.fields
        )
        await self.ctx.emit(event)


async def _attempt(ctx: RunContext, call: Callable[[], Awaitable[T]], recorder: _Recorder) -> T:
    """One try: after the rate gate, inside a limiter slot, recorded whatever its outcome."""
    await ctx.gate.wait()
    async with ctx.limiter.slot() as report:
        # A 429 may have come in while this worker waited for its slot.
        await ctx.gate.wait()
        await recorder.sending()
        try:
            result = await call()
        except RateLimited as exc:
            report("rate_limited", exc.retry_after)
            await recorder.rate_limited(exc)
            raise
        except UpstreamError as exc:
            report("timeout" if exc.error_type == "timeout" else "error")
            await recorder.failed(exc)
            raise
        report("ok")
        recorder.succeeded()
        return result


async def call_upstream(
    ctx: RunContext,
    call: Callable[[], Awaitable[T]],
    *,
    worker_id: int,
    phase: str,
    fields: dict[str, Any],
    is_retry: bool = False,
) -> T:
    """One upstream request with retries; emits fetching / rate_limited / error for every attempt.

    Each attempt waits for the run's rate gate and a slot of the adaptive limiter, is counted by
    the run's meter, and reports its outcome to the limiter.
    """
    settings = ctx.settings
    provider = ctx.provider(phase)
    first_kind: RequestKind = "best_sellers" if phase == "amazon" else "ebay_page"
    async for attempt in stamina.retry_context(
        on=_RetryBudget(settings, ctx.gate),
        attempts=None,
        timeout=None,
        wait_initial=settings.retry_wait_initial_seconds,
        wait_max=settings.retry_wait_max_seconds,
    ):
        with attempt:
            kind: RequestKind = "retry" if is_retry or attempt.num > 1 else first_kind
            recorder = _Recorder(ctx, provider, worker_id, phase, kind, attempt.num, fields)
            return await _attempt(ctx, call, recorder)
    raise AssertionError("unreachable: stamina either returns or raises")
