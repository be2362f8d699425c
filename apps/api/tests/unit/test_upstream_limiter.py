"""The adaptive limiter on a fake clock: the cautious start, slow start, halving, pacing learned from accepted
answers and from the first 429's Retry-After, holds, probing."""

from __future__ import annotations

import asyncio
import itertools

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


async def answer(limiter: AdaptiveLimiter, outcome: Outcome, retry_after: float | None = None) -> None:
    async with limiter.slot() as report:
        report(outcome, retry_after)


async def test_slow_start_doubles_then_halves_once_per_burst_of_refusals() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(5, start_seconds=0, clock=clock, sleep=clock.sleep)
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


async def test_a_pace_learned_from_a_retry_after_is_probed_four_times_as_often_until_refused() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(5, probe_every=40, clock=clock, sleep=clock.sleep)
    await learned_after(clock, limiter, accepted=4, gap=0.15)
    await answer(limiter, "rate_limited", retry_after=1.0)
    start = limiter.state.paced_rps or 0
    for _ in range(30):
        await answer(limiter, "ok")
    assert limiter.state.paced_rps == pytest.approx(start * 1.01 * 1.02 * 1.04, rel=0.01)  # every 10
    await answer(limiter, "rate_limited", retry_after=1.0)
    refused = limiter.state.paced_rps or 0
    for _ in range(39):
        await answer(limiter, "ok")
    assert limiter.state.paced_rps == refused  # every 40 from now on
    await answer(limiter, "ok")
    assert limiter.state.paced_rps == pytest.approx(refused * 1.01, abs=0.006)
    assert limiter.state.paced_rps != refused


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


async def test_the_start_keeps_one_request_in_flight_for_its_first_moments_then_slow_start_grows() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(5, start_seconds=0.65, clock=clock, sleep=clock.sleep)
    limits = []
    for _ in range(8):
        await answer(limiter, "ok")
        limits.append(limiter.concurrency_limit)
        clock.now += 0.15
    # Answers at 0, 0.15, ..., 0.6 s after the first send change nothing; from 0.75 s on, one slot each.
    assert limits == [1, 1, 1, 1, 1, 2, 3, 4]


async def learned_after(clock: Clock, limiter: AdaptiveLimiter, accepted: int, gap: float) -> None:
    """`accepted` answers, one every `gap` seconds from the first send."""
    for _ in range(accepted):
        await answer(limiter, "ok")
        clock.now += gap


async def test_the_first_429_with_retry_after_paces_at_the_rate_observed_until_the_upstream_accepts_again() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(5, clock=clock, sleep=clock.sleep)
    await learned_after(clock, limiter, accepted=4, gap=0.15)  # sent at 0, 0.15, 0.3, 0.45
    # Refused at 0.6 s, retry after 1 s: 4 accepted (and half of one) over the 1.6 s until then.
    await answer(limiter, "rate_limited", retry_after=1.0)
    assert limiter.state.paced_rps == pytest.approx(4.5 / 1.6, abs=0.01)
    # The concurrency is halved as well (AIMD), never below one.
    assert limiter.concurrency_limit == 1


async def test_a_long_retry_after_spreads_the_burst_over_the_wait() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(5, clock=clock, sleep=clock.sleep)
    # 100 accepted within 5 s, then "come back in 55 s": a limit of about 100 a minute, not 20 a second.
    await learned_after(clock, limiter, accepted=100, gap=0.05)
    await answer(limiter, "rate_limited", retry_after=55.0)
    assert limiter.state.paced_rps == pytest.approx(100.5 / 60.0, abs=0.01)


async def test_answers_sent_before_the_refusal_came_and_answered_after_it_count_too() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(5, start_seconds=0, clock=clock, sleep=clock.sleep)
    await learned_after(clock, limiter, accepted=2, gap=0.25)  # sent at 0 and 0.25 s; limit 3 now
    early, refused = limiter.slot(), limiter.slot()
    report_early = await early.__aenter__()
    report_refused = await refused.__aenter__()  # both sent at 0.5 s
    clock.now += 0.1
    late = limiter.slot()
    report_late = await late.__aenter__()  # sent at 0.6 s, after the refused one
    clock.now += 0.05
    report_refused("rate_limited", 1.0)
    await refused.__aexit__(None, None, None)
    assert limiter.state.paced_rps == pytest.approx(2.5 / 1.5, abs=0.01)  # sent at 0.5 s, retry at 1.5 s
    report_early("ok")
    await early.__aexit__(None, None, None)
    assert limiter.state.paced_rps == pytest.approx(3.5 / 1.5, abs=0.01)
    # Granted after the refused request: the stretch reaches to its send.
    report_late("ok")
    await late.__aexit__(None, None, None)
    assert limiter.state.paced_rps == pytest.approx(4.5 / 1.6, abs=0.01)
    # A request sent after the refusal came says nothing more about that first stretch.
    await answer(limiter, "ok")
    assert limiter.state.paced_rps == pytest.approx(4.5 / 1.6, abs=0.01)


async def test_after_a_hold_the_waiting_requests_leave_one_pace_apart() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(5, clock=clock, sleep=clock.sleep)
    await learned_after(clock, limiter, accepted=4, gap=0.15)
    await answer(limiter, "rate_limited", retry_after=1.0)
    refused_at = clock.now
    pace = 1 / (limiter.state.paced_rps or 0)
    sent = []
    for _ in range(3):
        async with limiter.slot() as report:
            sent.append(clock.now)
            report("ok")
    assert sent[0] == pytest.approx(refused_at + 1.0)
    assert [b - a for a, b in itertools.pairwise(sent)] == pytest.approx([pace, pace], rel=0.01)


async def test_later_429s_cut_the_learned_pace_by_a_tenth_and_a_429_without_retry_after_learns_from_the_window() -> (
    None
):
    clock = Clock()
    limiter = AdaptiveLimiter(5, clock=clock, sleep=clock.sleep)
    await learned_after(clock, limiter, accepted=4, gap=0.15)
    await answer(limiter, "rate_limited", retry_after=1.0)
    await learned_after(clock, limiter, accepted=30, gap=0.01)  # accepted fast lately: the 10 % cut decides
    paced = limiter.state.paced_rps or 0
    await answer(limiter, "rate_limited", retry_after=1.0)
    assert limiter.state.paced_rps == pytest.approx(paced * 0.9, abs=0.01)

    # Without a Retry-After there is no wait to spread the burst over: the rate accepted lately.
    other = AdaptiveLimiter(5, clock=clock, sleep=clock.sleep)
    await learned_after(clock, other, accepted=20, gap=0.1)
    await answer(other, "rate_limited")
    assert other.state.paced_rps == pytest.approx(20 / 2.0 * 0.97, rel=0.01)


async def test_the_rate_is_also_observed_from_when_slow_start_began_pressing() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(5, start_seconds=0.65, clock=clock, sleep=clock.sleep)
    # One request in flight, answered at 0, 0.15, ..., 0.75 s: an upstream with more to give than was asked.
    await learned_after(clock, limiter, accepted=6, gap=0.15)
    clock.now = 100.8
    await learned_after(clock, limiter, accepted=20, gap=0.02)  # slow start presses from 0.75 s on
    clock.now = 101.2
    await answer(limiter, "rate_limited", retry_after=1.0)
    from_first = (26 + 0.5) / (1.2 + 1.0)
    from_pressing = (20 + 0.5) / (1.2 - 0.75 + 1.0)
    assert from_pressing > from_first
    assert limiter.state.paced_rps == pytest.approx(from_pressing, abs=0.01)
