"""ParallelCollectionRunner against plain-asyncio baselines, measured as ratios in one run.

    /work/main/.venv/bin/python apps/api/bench/runner_bench.py [--rounds 3] [--profile]

a) Efficiency at L = 10 ms per task (asyncio.sleep), N = 2,000 tasks, 5-way concurrency:
   efficiency = ideal makespan (N*L/5) / measured makespan, for the runner (5 workers), aiometer
   (max_at_once=5) and asyncio.gather over every task with an asyncio.Semaphore(5).
   Bar: runner >= 0.99 x the better baseline.
b) Per-task overhead at L = 0 with one activity event per task (20,000 tasks): makespan / N for the
   runner (emit_activity -> on_activity) and for gather+Semaphore (the callback called directly).
   Bar: runner <= 1.5 x gather+Semaphore. Informational: the runner with on_activity pushing into an
   ActivityStreamManager (per-run numbering, ActivityEntry validation and JSON, buffering).

Every measurement is repeated `--rounds` times, interleaved with the others in alternating order;
the median is reported. A missed bar (or --profile) prints a cProfile summary of the runner.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import aiometer

from app.services.activity_stream import ActivityStreamManager
from app.services.parallel_runner import (
    ActivityEvent,
    ParallelCollectionRunner,
    create_activity_event,
)

WORKERS = 5
EFFICIENCY_BAR = 0.99
OVERHEAD_BAR = 1.5

Measure = Callable[[], Awaitable[None]]


# --- a) efficiency at L = 10 ms --------------------------------------------------------------------


def latency_cases(n: int, latency: float) -> dict[str, Measure]:
    async def sleep_task(_task: int, _worker_id: int) -> None:
        await asyncio.sleep(latency)

    async def sleep_one(_task: int) -> None:
        await asyncio.sleep(latency)

    async def runner() -> None:
        done = await ParallelCollectionRunner(max_workers=WORKERS).run(range(n), sleep_task, phase="ebay")
        assert len(done) == n

    async def aiometer_case() -> None:
        await aiometer.run_on_each(sleep_one, range(n), max_at_once=WORKERS)

    async def gather_semaphore() -> None:
        semaphore = asyncio.Semaphore(WORKERS)

        async def one(task: int) -> None:
            async with semaphore:
                await sleep_one(task)

        await asyncio.gather(*(one(i) for i in range(n)))

    return {"runner": runner, "aiometer": aiometer_case, "gather+sem": gather_semaphore}


# --- b) per-task overhead at L = 0 with events ----------------------------------------------------


def overhead_cases(n: int) -> dict[str, Measure]:
    sink: list[ActivityEvent] = []

    def on_activity(event: ActivityEvent) -> None:
        sink.append(event)

    async def runner() -> None:
        sink.clear()
        runner = ParallelCollectionRunner(max_workers=WORKERS, on_activity=on_activity)

        async def emit(i: int, worker_id: int) -> None:
            await runner.emit_activity(create_activity_event(worker_id, "ebay", "found", items_count=i))

        await runner.run(range(n), emit, phase="ebay")
        assert len(sink) == n

    async def gather_semaphore() -> None:
        sink.clear()
        semaphore = asyncio.Semaphore(WORKERS)

        async def one(i: int) -> None:
            async with semaphore:
                on_activity(create_activity_event(i % WORKERS + 1, "ebay", "found", items_count=i))

        await asyncio.gather(*(one(i) for i in range(n)))
        assert len(sink) == n

    async def runner_stream() -> None:
        manager = ActivityStreamManager()
        run_id = uuid.uuid4()
        runner = ParallelCollectionRunner(max_workers=WORKERS, on_activity=lambda event: manager.push(run_id, event))

        async def emit(i: int, worker_id: int) -> None:
            await runner.emit_activity(create_activity_event(worker_id, "ebay", "found", items_count=i))

        await runner.run(range(n), emit, phase="ebay")
        assert await manager.last_seq(run_id) == n

    return {"runner": runner, "gather+sem": gather_semaphore, "runner->stream": runner_stream}


# --- measuring -------------------------------------------------------------------------------------


async def timed(case: Measure) -> float:
    gc.collect()
    start = time.perf_counter()
    await case()
    return time.perf_counter() - start


async def interleaved(cases: dict[str, Measure], rounds: int) -> dict[str, list[float]]:
    """Run every case once per round; odd rounds reverse the order so no case always goes first."""
    names = list(cases)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(rounds):
        order = names if round_no % 2 == 0 else names[::-1]
        for name in order:
            samples[name].append(await timed(cases[name]))
    return samples


def profile_runner(case: Measure, title: str, top: int = 18) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(case())
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime")
    stats.print_stats(top)
    print(f"\n--- cProfile: {title} (sorted by own time) ---")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions per measurement (median)")
    parser.add_argument("--tasks", type=int, default=2000, help="N for the latency benchmark")
    parser.add_argument("--latency-ms", type=float, default=10.0, help="simulated latency L per task")
    parser.add_argument("--overhead-tasks", type=int, default=20000, help="N for the L = 0 overhead benchmark")
    parser.add_argument("--profile", action="store_true", help="always print the runner profiles")
    args = parser.parse_args()

    n, latency = args.tasks, args.latency_ms / 1000
    ideal = n * latency / WORKERS
    print(f"python {sys.version.split()[0]}, {args.rounds} interleaved rounds per measurement, medians reported")

    print(f"\n[a] efficiency: N={n}, L={args.latency_ms:g} ms, {WORKERS}-way; ideal makespan {ideal:.3f} s")
    lat_cases = latency_cases(n, latency)
    lat = asyncio.run(interleaved(lat_cases, args.rounds))
    eff = {name: ideal / statistics.median(times) for name, times in lat.items()}
    for name, times in lat.items():
        runs = ", ".join(f"{t:.3f}" for t in times)
        print(f"  {name:<12} efficiency {eff[name]:.4f}  makespan median {statistics.median(times):.3f} s  [{runs}]")
    best_name = max(("aiometer", "gather+sem"), key=lambda name: eff[name])
    eff_ratio = eff["runner"] / eff[best_name]
    eff_ok = eff_ratio >= EFFICIENCY_BAR
    print(
        f"  runner / best baseline ({best_name}) = {eff_ratio:.4f}   "
        f"bar >= {EFFICIENCY_BAR}: {'PASS' if eff_ok else 'FAIL'}"
    )

    m = args.overhead_tasks
    print(f"\n[b] per-task overhead, L=0, one activity event per task: N={m}, {WORKERS}-way")
    ovh_cases = overhead_cases(m)
    ovh = asyncio.run(interleaved(ovh_cases, max(args.rounds, 5)))
    per_task = {name: statistics.median(times) / m * 1e6 for name, times in ovh.items()}
    labels = {
        "runner": "runner (emit_activity -> callback)",
        "gather+sem": "gather+Semaphore (callback direct)",
        "runner->stream": "INFORMATIONAL: runner -> ActivityStreamManager.push",
    }
    for name in ("runner", "gather+sem", "runner->stream"):
        runs = ", ".join(f"{t * 1e3:.0f}" for t in ovh[name])
        print(f"  {labels[name]:<52} {per_task[name]:7.2f} us/task  [makespans ms: {runs}]")
    ovh_ratio = per_task["runner"] / per_task["gather+sem"]
    ovh_ok = ovh_ratio <= OVERHEAD_BAR
    print(f"  runner / gather+Semaphore = {ovh_ratio:.3f}   bar <= {OVERHEAD_BAR}: {'PASS' if ovh_ok else 'FAIL'}")
    print(
        f"  (informational) runner->stream / runner = {per_task['runner->stream'] / per_task['runner']:.2f}; "
        "the stream push has no subscribers here"
    )

    if args.profile or not eff_ok:
        profile_runner(lat_cases["runner"], f"runner, N={n}, L={args.latency_ms:g} ms")
    if args.profile or not ovh_ok:
        profile_runner(ovh_cases["runner"], f"runner, N={m}, L=0 with events")

    print(f"\nbars: efficiency {'PASS' if eff_ok else 'FAIL'}, overhead {'PASS' if ovh_ok else 'FAIL'}")
    return 0 if eff_ok and ovh_ok else 1


if __name__ == "__main__":
    sys.exit(main())
