"""The adaptive limiter on a fake clock: slow start, halving, pacing learned from accepted answers, probing."""

from __future__ import annotations

import asyncio

import pytest

from app.services.runs.limiter import AdaptiveLimiter, Outcome


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def answer(limiter: AdaptiveLimiter, outcome: Outcome) -> None:
    async with limiter.slot() as report:
        report(outcome)


async def test_slow_start_doubles_then_halves_once_per_burst_of_refusals() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(5, clock=clock, sleep=clock.sleep)
    assert limiter.concurrency_limit == 1
    for expected in (2, 3, 4, 5, 5):
        await answer(limiter, "ok")
        assert limiter.concurrency_limit == expected
    # Three refusals of requests sent in the same round are one decrease.
    for _ in range(3):
        await answer(limiter, "timeout")
    assert limiter.concurrency_limit == 2
    # After slow start, growth is one slot per round of successes: 2.5 + 1/2.5 = 2.9, + 1/2.9 = 3.24.
    await answer(limiter, "ok")
    assert limiter.concurrency_limit == 2
    await answer(limiter, "ok")
    assert limiter.concurrency_limit == 3


async def test_a_429_starts_pacing_at_the_rate_that_was_accepted() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(5, clock=clock, sleep=clock.sleep)
    for _ in range(20):  # 20 answers over 2 seconds: 10 per second accepted
        await answer(limiter, "ok")
        clock.now += 0.1
    assert limiter.state.paced_rps is None
    await answer(limiter, "rate_limited")
    assert limiter.state.paced_rps == pytest.approx(20 / 2.0 * 0.97, rel=0.01)
    # Paced: requests are spaced 1/rate apart.
    clock.slept.clear()
    for _ in range(3):
        await answer(limiter, "ok")
    assert all(gap == pytest.approx(1 / limiter.state.paced_rps, rel=0.02) for gap in clock.slept[1:])


async def test_refusals_of_requests_sent_before_the_pace_changed_do_not_cut_it_again() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(5, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        await answer(limiter, "ok")
        clock.now += 0.1
    # Two requests in flight when the first 429 arrives: only the first one changes the pace.
    first = limiter.slot()
    second = limiter.slot()
    report_first = await first.__aenter__()
    report_second = await second.__aenter__()
    report_first("rate_limited")
    await first.__aexit__(None, None, None)
    paced = limiter.state.paced_rps
    report_second("rate_limited")
    await second.__aexit__(None, None, None)
    assert limiter.state.paced_rps == paced


async def test_probing_raises_the_pace_after_clean_answers() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(5, probe_every=10, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        await answer(limiter, "ok")
        clock.now += 0.1
    await answer(limiter, "rate_limited")
    start = limiter.state.paced_rps
    assert start is not None
    for _ in range(30):
        await answer(limiter, "ok")
    # +1 %, then +2 %, then +4 %.
    assert limiter.state.paced_rps == pytest.approx(start * 1.01 * 1.02 * 1.04, rel=0.01)


async def test_at_most_limit_requests_are_in_flight() -> None:
    limiter = AdaptiveLimiter(3, fixed=True)
    inside = 0
    most = 0
    release = asyncio.Event()
    full = asyncio.Event()

    async def request() -> None:
        nonlocal inside, most
        async with limiter.slot() as report:
            inside += 1
            most = max(most, inside)
            if inside == 3:
                full.set()
            await release.wait()
            inside -= 1
            report("ok")

    tasks = [asyncio.create_task(request()) for _ in range(7)]
    await full.wait()
    assert limiter.state.in_flight == 3
    release.set()
    await asyncio.gather(*tasks)
    assert most == 3
    assert limiter.state.concurrency_limit == 3 and limiter.state.paced_rps is None


async def test_a_fixed_cap_per_second_is_kept() -> None:
    limiter = AdaptiveLimiter(5, max_rps=50, fixed=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(60):
        await answer(limiter, "ok")
    # aiolimiter allows a burst of max_rps, then paces: 60 requests need at least 10 / 50 s beyond it.
    assert loop.time() - started >= 0.15
    assert limiter.state.max_rps == 50
