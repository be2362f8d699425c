"""The seller list at 1,000,000 rows: bulk add, snapshot count, CSV export, each against a baseline in one run.

    /work/main/.venv/bin/python apps/api/bench/sellers_bench.py [--rows 1000000] [--bulk 100000] [--profile]

A fresh database is created on the server of DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres),
migrated, and dropped at the end, even on failure. Everything talks to 127.0.0.1 only.

1. Preload: one org and a token (accounts.issue_token), then N sellers in one `INSERT ... SELECT generate_series`.
   The journal triggers of migration 047 fire once for the statement, so org_seller_counts and seller_journal
   stay exact. created_at rises with the row number (1 ms apart), as for a list that grew over time.
2. Bulk add: `services.sellers.seller_list.add_sellers` (in process, pool from `app.db.pool.make_pool`) with B names,
   some of them already in the list under another spelling and some repeated within the request; the skipped
   counts are checked. Baseline: a bare `INSERT ... SELECT unnest(...) ON CONFLICT DO NOTHING` of another B
   names (triggers on, no RETURNING, no audit row). insert_manual and insert_audit are timed through thin
   wrappers around the repository functions, which do not change what they do.
3. Snapshot count at N + 2B: `repositories.sellers.snapshot` (reads org_seller_counts) against
   `SELECT count(*) FROM sellers WHERE org_id = ...`, interleaved, median and p95.
4. Export: the real app (create_app, served by uvicorn on a pre-bound loopback socket) in a child process, so
   its memory is its own. `GET /sellers/export?format=csv` is read with httpx streaming, counting newlines
   and discarding bytes. The child's RSS is sampled every 100 ms (psutil) and at 10 %, 50 % and 100 % of the
   rows. Baseline: `COPY (SELECT <export columns> ... ORDER BY created_at, id) TO STDOUT (FORMAT csv)` into
   this process, once before and once after the export.

Bar (the issue's acceptance): the export's server RSS grows by less than 50 MB over its before-export value.
All correctness checks (counts, skipped names, X-Export-Count) must hold too. Exit 0 when they do, else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

HOST = "127.0.0.1"
SCRIPT = Path(__file__).resolve()
API_DIR = SCRIPT.parents[1]  # apps/api, so that `tests.support` imports
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
MEMORY_BAR_MB = 50.0
SAMPLE_INTERVAL = 0.1
DUP_EXISTING = 50  # names already in the list, spelled differently
DUP_IN_REQUEST = 50  # names given twice in the same request
MB = 1024 * 1024

T = TypeVar("T")


# ==================================================================================================
# Server process: the real app on a loopback socket, until its stdin closes.
# ==================================================================================================


def server_main(database_url: str, profile: bool) -> None:
    import uvicorn

    from app.config import Settings
    from app.main import create_app

    with tempfile.TemporaryDirectory(prefix="sc_sellers_bench_") as data_dir:
        # The same settings as tests.support.make_settings (not imported: it would load the test helpers here).
        settings = Settings(
            database_url=database_url,
            data_dir=Path(data_dir),
            migrate_on_start=False,
            db_pool_min_size=1,
            db_pool_max_size=10,
            provider="demo",
            demo_latency_ms=0,
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        sock.listen(128)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings), lifespan="on", log_level="warning", access_log=False, timeout_graceful_shutdown=2
            )
        )

        def stop_on_eof() -> None:
            sys.stdin.read()  # returns when the parent closes our stdin
            server.should_exit = True

        threading.Thread(target=stop_on_eof, daemon=True).start()
        print(json.dumps({"port": sock.getsockname()[1], "pid": os.getpid()}), flush=True)
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        try:
            asyncio.run(server.serve(sockets=[sock]))
        finally:
            sock.close()
            if profiler:
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
                print(f"--- server profile (by own time) ---\n{out.getvalue()}", file=sys.stderr, flush=True)


# ==================================================================================================
# Helpers
# ==================================================================================================


@dataclass
class Results:
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (measurement, value, note)
    failures: list[str] = field(default_factory=list)

    def add(self, what: str, value: str, note: str = "") -> None:
        self.rows.append((what, value, note))

    def check(self, ok: bool, what: str) -> bool:
        print(f"  check: {what}: {'ok' if ok else 'FAILED'}")
        if not ok:
            self.failures.append(what)
        return ok


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms" if seconds < 0.01 else f"{seconds * 1000:.1f} ms"


def mb(value: float) -> str:
    return f"{value / MB:.1f} MB"


def timed_wrapper(module: Any, name: str, sink: list[float]) -> Callable[[], None]:
    """Replace `module.name` (an async function) by one that records its duration; returns the undo."""
    original = getattr(module, name)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            sink.append(time.perf_counter() - start)

    setattr(module, name, wrapper)
    return lambda: setattr(module, name, original)


async def timed(coro: Awaitable[T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = await coro
    return result, time.perf_counter() - start


class RssSampler:
    """Samples one process's RSS every `interval` seconds in a thread, for at most `max_seconds`."""

    def __init__(self, pid: int, *, interval: float = SAMPLE_INTERVAL, max_seconds: float = 900.0) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.interval = interval
        self.max_samples = int(max_seconds / interval)
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        value = int(self.process.memory_info().rss)
        self.samples.append(value)
        return value

    def _run(self) -> None:
        for _ in range(self.max_samples):
            self.rss()
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# ==================================================================================================
# 1. Database, org, token, preload
# ==================================================================================================

PRELOAD_SQL = """
INSERT INTO sellers (org_id, display_name, normalized_name, platform, platform_id, feedback_score,
                     feedback_percent, times_seen, flagged, created_at, updated_at)
SELECT %(org_id)s, s.display_name, lower(s.display_name), 'ebay', 'p' || s.g, (s.g::bigint * 7919 %% 100000)::int,
       90 + (s.g %% 1000) / 100.0, 1 + s.g %% 5, s.g %% 100 = 0, s.at, s.at
FROM (
    SELECT g,
           -- every 1000th name starts with '=', so the export's formula neutralising runs too
           CASE WHEN g %% 1000 = 0 THEN '=' ELSE '' END || 'Seller ' || lpad(g::text, 8, '0') AS display_name,
           now() - (%(n)s - g) * interval '1 millisecond' AS at
    FROM generate_series(1, %(n)s) AS g
) AS s
"""


def preload_name(g: int) -> str:
    return f"{'=' if g % 1000 == 0 else ''}Seller {g:08d}"


async def counts(conn: Any, org_id: uuid.UUID) -> dict[str, int]:
    """count(*) of sellers and journal rows, and the maintained count and journal position."""
    cur = await conn.execute(
        """
        SELECT (SELECT count(*) FROM sellers WHERE org_id = %(o)s) AS sellers,
               (SELECT count(*) FROM seller_journal WHERE org_id = %(o)s) AS journal,
               (SELECT coalesce(max(id), 0) FROM seller_journal WHERE org_id = %(o)s) AS journal_max,
               (SELECT n FROM org_seller_counts WHERE org_id = %(o)s) AS n,
               (SELECT journal_seq FROM org_seller_counts WHERE org_id = %(o)s) AS journal_seq
        """,
        {"o": org_id},
    )
    row = await cur.fetchone()
    return {k: int(v or 0) for k, v in row.items()}


def check_counts(results: Results, c: dict[str, int], expected: int, when: str) -> None:
    results.check(
        c["sellers"] == expected and c["n"] == expected and c["journal"] == expected,
        f"{when}: sellers = org_seller_counts.n = journal rows = {expected:,} "
        f"(got {c['sellers']:,} / {c['n']:,} / {c['journal']:,})",
    )
    results.check(c["journal_seq"] == c["journal_max"], f"{when}: journal_seq = max(journal id) = {c['journal_max']:,}")


async def vacuum_analyze(url: str) -> float:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        start = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE) sellers")
        await conn.execute("VACUUM (ANALYZE) seller_journal")
        await conn.execute("VACUUM (ANALYZE) org_seller_counts")
        return time.perf_counter() - start


# ==================================================================================================
# 2. Bulk add
# ==================================================================================================


def bulk_names(args: argparse.Namespace, rng: random.Random) -> tuple[list[str], int, int, int]:
    """B names: fresh ones, existing ones spelled differently, repeats; (names, fresh, existing, repeats)."""
    existing = min(DUP_EXISTING, args.rows, args.bulk // 4)
    repeats = min(DUP_IN_REQUEST, args.bulk // 4)
    fresh = args.bulk - existing - repeats
    names = [f"Bulk Seller {i:07d}" for i in range(fresh)]
    # "  SELLER   00000042 " normalizes to "seller 00000042", which the preload holds.
    names += [
        f"  {preload_name(g).upper().replace(' ', '   ')} " for g in rng.sample(range(1, args.rows + 1), existing)
    ]
    names += [f"bulk  SELLER {i:07d}" for i in rng.sample(range(fresh), repeats)]
    rng.shuffle(names)
    return names, fresh, existing, repeats


async def bench_bulk(
    pool: Any, caller: Any, url: str, args: argparse.Namespace, results: Results, rng: random.Random
) -> None:
    from app.repositories import audit as audit_repo
    from app.repositories import sellers as sellers_repo
    from app.services import sellers
    from app.services.sellers.names import normalize_name

    print(f"\n== 2. bulk add {args.bulk:,} names to {args.rows:,} sellers ==")
    names, fresh, existing, repeats = bulk_names(args, rng)
    insert_times: list[float] = []
    audit_times: list[float] = []
    undo = [
        timed_wrapper(sellers_repo, "insert_manual", insert_times),
        timed_wrapper(audit_repo, "insert_audit", audit_times),
    ]
    try:
        outcome, ours = await timed(sellers.add_sellers(pool, caller=caller, names=names))
    finally:
        for restore in undo:
            restore()
    reasons: dict[str, int] = {}
    for skipped in outcome.skipped:
        reasons[skipped.reason] = reasons.get(skipped.reason, 0) + 1
    print(
        f"  add_sellers: {len(names):,} names in {ours:.2f} s = {len(names) / ours:,.0f} names/s "
        f"({len(outcome.added):,} added, skipped {reasons})"
    )
    other = ours - sum(insert_times) - sum(audit_times)
    print(
        f"    of which insert_manual {sum(insert_times):.2f} s, insert_audit {sum(audit_times):.2f} s, "
        f"rest (normalizing, pool, commit) {other:.2f} s"
    )
    results.check(len(outcome.added) == fresh, f"added = {fresh:,}")
    results.check(
        reasons == {"already in list": existing, "duplicate in request": repeats},
        f"skipped = {existing} 'already in list' + {repeats} 'duplicate in request'",
    )
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT affected_count, seller_count_snapshot, journal_seq FROM seller_audit_log "
            "WHERE org_id = %(o)s AND action = 'add' ORDER BY created_at DESC LIMIT 1",
            {"o": caller.org_id},
        )
        audit = await cur.fetchone()
        after_ours = await counts(conn, caller.org_id)
    check_counts(results, after_ours, args.rows + fresh, "after add_sellers")
    results.check(
        audit is not None
        and audit["affected_count"] == fresh
        and audit["seller_count_snapshot"] == args.rows + fresh
        and audit["journal_seq"] == after_ours["journal_seq"],
        "audit row: affected_count, seller_count_snapshot and journal_seq match",
    )

    # Baseline: the same statement shape with no RETURNING, no audit row, arrays built beforehand.
    base_display = [f"Base Seller {i:07d}" for i in range(len(names) - existing)]
    base_display += [preload_name(g) for g in rng.sample(range(1, args.rows + 1), existing)]
    rng.shuffle(base_display)
    base_norm = [normalize_name(d) for d in base_display]
    async with pool.connection() as conn:
        start = time.perf_counter()
        async with conn.transaction():
            cur = await conn.execute(
                """
                INSERT INTO sellers (org_id, display_name, normalized_name, platform)
                SELECT %(org_id)s, u.display_name, u.normalized_name, 'ebay'
                FROM unnest(%(display)s::text[], %(norm)s::text[]) AS u(display_name, normalized_name)
                ON CONFLICT (org_id, platform, normalized_name) DO NOTHING
                """,
                {"org_id": caller.org_id, "display": base_display, "norm": base_norm},
            )
            base_added = cur.rowcount
        base = time.perf_counter() - start
        after_base = await counts(conn, caller.org_id)
    print(
        f"  baseline INSERT ... unnest ON CONFLICT DO NOTHING: {len(base_display):,} names in {base:.2f} s "
        f"= {len(base_display) / base:,.0f} names/s ({base_added:,} added)"
    )
    results.check(base_added == len(base_display) - existing, f"baseline added = {len(base_display) - existing:,}")
    check_counts(results, after_base, args.rows + fresh + base_added, "after baseline")
    ratio = ours / base
    print(f"  time ratio add_sellers / baseline = {ratio:.2f}x")
    results.add("bulk add: add_sellers", f"{len(names) / ours:,.0f} names/s", f"{len(names):,} names, {ours:.2f} s")
    results.add("bulk add: bare INSERT", f"{len(base_display) / base:,.0f} names/s", f"{base:.2f} s")
    results.add("bulk add: time ours/bare", f"{ratio:.2f}x", "")


# ==================================================================================================
# 3. Snapshot count
# ==================================================================================================


async def bench_snapshot(url: str, org_id: uuid.UUID, runs: int, results: Results) -> int:
    import psycopg
    from psycopg.rows import dict_row

    from app.repositories import sellers as sellers_repo

    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:

        async def snapshot() -> int:
            n, _ = await sellers_repo.snapshot(conn, org_id=org_id)
            return n

        async def count() -> int:
            cur = await conn.execute("SELECT count(*) AS n FROM sellers WHERE org_id = %(o)s", {"o": org_id})
            row = await cur.fetchone()
            return int(row["n"])

        for _ in range(3):  # warm up both (plans, caches)
            await snapshot()
            await count()
        snap_times: list[float] = []
        count_times: list[float] = []
        values: set[int] = set()
        for i in range(runs):
            pair = [(snapshot, snap_times), (count, count_times)]
            for fn, sink in pair if i % 2 == 0 else pair[::-1]:
                value, seconds = await timed(fn())
                values.add(value)
                sink.append(seconds)
    total = values.pop() if len(values) == 1 else -1
    print(f"\n== 3. snapshot count at {total:,} sellers, {runs} runs each, interleaved ==")
    results.check(total >= 0, "snapshot n = count(*) on every run")
    snap_med, count_med = statistics.median(snap_times), statistics.median(count_times)
    snap_p95, count_p95 = percentile(snap_times, 95), percentile(count_times, 95)
    print(f"  snapshot (org_seller_counts): median {ms(snap_med)}, p95 {ms(snap_p95)}")
    print(f"  baseline count(*):            median {ms(count_med)}, p95 {ms(count_p95)}")
    print(f"  count(*) / snapshot, median: {count_med / snap_med:,.0f}x")
    results.add("snapshot: org_seller_counts", f"{ms(snap_med)} / {ms(snap_p95)}", "median / p95")
    results.add("snapshot: count(*)", f"{ms(count_med)} / {ms(count_p95)}", "median / p95")
    results.add("snapshot: count(*)/snapshot", f"{count_med / snap_med:,.0f}x", "median")
    return total


# ==================================================================================================
# 4. Export
# ==================================================================================================


@contextlib.asynccontextmanager
async def app_server(url: str, profile: bool) -> AsyncIterator[tuple[str, int]]:
    """The real app in a child process; yields (base URL, pid) once /health answers."""
    import httpx

    cmd = [str(SCRIPT), "--role=server", f"--database-url={url}"] + (["--profile"] if profile else [])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        hello = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
        base_url = f"http://{HOST}:{hello['port']}"
        async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=5.0) as client:
            for _ in range(600):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the app server did not become healthy within 60 s")
        yield base_url, proc.pid
    finally:
        if proc.stdin:
            proc.stdin.close()  # the server stops when its stdin closes
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@dataclass
class Download:
    rows: int
    header_count: int
    seconds: float
    first_byte: float
    nbytes: int
    checkpoints: dict[int, int]  # percent of rows -> server RSS


async def download_csv(
    base_url: str, token: str, params: dict[str, str], expected: int, sampler: RssSampler | None
) -> Download:
    import httpx

    marks = [(10, expected // 10), (50, expected // 2)]
    checkpoints: dict[int, int] = {}
    newlines = nbytes = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, trust_env=False, timeout=60.0) as client:
        start = time.perf_counter()
        async with client.stream("GET", "/sellers/export", params=params) as response:
            first_byte = time.perf_counter() - start
            response.raise_for_status()
            async for chunk in response.aiter_raw():
                nbytes += len(chunk)
                newlines += chunk.count(b"\n")
                while sampler and marks and newlines - 1 >= marks[0][1]:
                    checkpoints[marks.pop(0)[0]] = sampler.rss()
            if sampler:
                checkpoints[100] = sampler.rss()
            seconds = time.perf_counter() - start
            header_count = int(response.headers.get("X-Export-Count", "-1"))
    return Download(newlines - 1, header_count, seconds, first_byte, nbytes, checkpoints)


async def copy_baseline(url: str, org_id: uuid.UUID) -> tuple[int, float]:
    import psycopg
    from psycopg import sql

    from app.repositories import exports as exports_repo

    query = sql.SQL(
        "COPY (SELECT {} FROM sellers WHERE org_id = {} ORDER BY created_at, id) "
        "TO STDOUT (FORMAT csv, HEADER true, FORCE_QUOTE *)"
    ).format(sql.SQL(", ").join(map(sql.Identifier, exports_repo.EXPORT_COLUMNS)), sql.Literal(org_id))
    newlines = 0
    async with await psycopg.AsyncConnection.connect(url) as conn:
        start = time.perf_counter()
        async with conn.cursor() as cur, cur.copy(query) as copy:
            async for data in copy:
                newlines += bytes(data).count(b"\n")
        return newlines - 1, time.perf_counter() - start


async def bench_export(
    url: str, org_id: uuid.UUID, token: str, expected: int, args: argparse.Namespace, results: Results
) -> None:
    import psutil

    print(f"\n== 4. CSV export of {expected:,} sellers over HTTP on loopback ==")
    async with app_server(url, args.profile) as (base_url, pid):
        server = psutil.Process(pid)
        warm = await download_csv(base_url, token, {"format": "csv", "flagged": "true"}, 0, None)
        print(f"  warm-up: flagged sellers, {warm.rows:,} rows in {warm.seconds:.2f} s")
        results.check(warm.rows == warm.header_count, "warm-up rows = X-Export-Count")
        await asyncio.sleep(0.5)
        rss_before = min(int(server.memory_info().rss) for _ in range(3))

        copy_rows_1, copy_s_1 = await copy_baseline(url, org_id)
        print(f"  baseline COPY ... TO STDOUT (csv), before: {copy_rows_1:,} rows in {copy_s_1:.2f} s")

        cpu_before = server.cpu_times()
        me_before = psutil.Process().cpu_times()
        with RssSampler(pid) as sampler:
            got = await download_csv(base_url, token, {"format": "csv"}, expected, sampler)
        cpu_after = server.cpu_times()
        me_after = psutil.Process().cpu_times()
        server_cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        client_cpu = (me_after.user + me_after.system) - (me_before.user + me_before.system)

        copy_rows_2, copy_s_2 = await copy_baseline(url, org_id)
        print(f"  baseline COPY ... TO STDOUT (csv), after:  {copy_rows_2:,} rows in {copy_s_2:.2f} s")
        await asyncio.sleep(0.5)
        rss_after = int(server.memory_info().rss)

    rate = got.rows / got.seconds
    copy_rate = statistics.mean([copy_rows_1 / copy_s_1, copy_rows_2 / copy_s_2])
    peak = max(sampler.samples)
    growth = peak - rss_before
    print(
        f"  GET /sellers/export?format=csv: {got.rows:,} rows, {got.nbytes / MB:.0f} MB in {got.seconds:.2f} s "
        f"= {rate:,.0f} rows/s (first byte after {ms(got.first_byte)})"
    )
    print(
        f"  server CPU {server_cpu:.2f} s = {server_cpu / got.rows * 1e6:.1f} us/row "
        f"({server_cpu / got.seconds:.0%} of one core); client CPU {client_cpu:.2f} s"
    )
    print(f"  rows/s export / COPY: {rate / copy_rate:.2f}  (COPY mean {copy_rate:,.0f} rows/s)")
    print(
        f"  server RSS: before {mb(rss_before)}; at 10% {mb(got.checkpoints.get(10, 0))}, "
        f"50% {mb(got.checkpoints.get(50, 0))}, 100% {mb(got.checkpoints.get(100, 0))}; "
        f"peak {mb(peak)} ({len(sampler.samples)} samples); after {mb(rss_after)}"
    )
    late_growth = got.checkpoints.get(100, 0) - got.checkpoints.get(10, 0)
    print(f"  peak - before = {mb(growth)}; RSS(100%) - RSS(10%) = {mb(late_growth)}")
    results.check(got.rows == expected, f"rows streamed = sellers = {expected:,} (got {got.rows:,})")
    results.check(got.header_count == expected, f"X-Export-Count = {expected:,} (got {got.header_count:,})")
    results.check(copy_rows_1 == expected == copy_rows_2, "COPY rows = sellers")
    flat = growth < MEMORY_BAR_MB * MB
    print(f"  BAR server RSS growth < {MEMORY_BAR_MB:.0f} MB: {'PASS' if flat else 'FAIL'}")
    if not flat:
        results.failures.append("export memory not flat")
    results.add("export: GET csv", f"{rate:,.0f} rows/s", f"{got.rows:,} rows, {got.seconds:.2f} s")
    results.add("export: COPY csv", f"{copy_rate:,.0f} rows/s", "mean of 2")
    results.add("export: rate ours/COPY", f"{rate / copy_rate:.2f}", "")
    results.add("export: server CPU/row", f"{server_cpu / got.rows * 1e6:.1f} us", "")
    results.add("export: server RSS before", mb(rss_before), "")
    results.add(
        "export: RSS 10/50/100%", " / ".join(f"{got.checkpoints.get(p, 0) / MB:.1f}" for p in (10, 50, 100)), "MB"
    )
    results.add("export: peak - before", mb(growth), f"bar < {MEMORY_BAR_MB:.0f} MB: {'PASS' if flat else 'FAIL'}")


# ==================================================================================================
# Orchestration
# ==================================================================================================


async def run(url: str, args: argparse.Namespace, results: Results) -> None:
    from app.db.pool import make_pool
    from app.security import caller_from_token
    from app.services import accounts

    rng = random.Random(7)
    pool = make_pool(url, min_size=1, max_size=4)
    await pool.open(wait=True, timeout=30)
    try:
        async with pool.connection() as conn:
            issued = await accounts.issue_token(
                conn,
                org_name=f"bench-{uuid.uuid4().hex[:8]}",
                email="bench@example.com",
                permissions=["sellers.read", "sellers.write"],
            )
        caller = await caller_from_token(pool, issued.token)

        print(f"\n== 1. preload {args.rows:,} sellers (one INSERT ... SELECT generate_series) ==")
        async with pool.connection() as conn:
            start = time.perf_counter()
            async with conn.transaction():
                await conn.execute(PRELOAD_SQL, {"org_id": caller.org_id, "n": args.rows})
            preload = time.perf_counter() - start
            rate = args.rows / preload
            print(f"  {args.rows:,} rows, with journal and count triggers: {preload:.1f} s = {rate:,.0f} rows/s")
            check_counts(results, await counts(conn, caller.org_id), args.rows, "after preload")
        vacuum = await vacuum_analyze(url)
        print(f"  VACUUM (ANALYZE) sellers, seller_journal: {vacuum:.1f} s")
        results.add("preload (generate_series)", f"{rate:,.0f} rows/s", f"{preload:.1f} s")

        await bench_bulk(pool, caller, url, args, results, rng)
        vacuum = await vacuum_analyze(url)
        print(f"  VACUUM (ANALYZE) after the bulk adds: {vacuum:.1f} s")
    finally:
        await pool.close()

    total = await bench_snapshot(url, caller.org_id, args.snapshot_runs, results)
    await bench_export(url, caller.org_id, issued.token, total, args, results)


def print_table(results: Results) -> None:
    width = max(len(r[0]) for r in results.rows)
    value_width = max(len(r[1]) for r in results.rows)
    print("\n== results ==")
    for what, value, note in results.rows:
        print(f"  {what:<{width}}  {value:>{value_width}}  {note}".rstrip())
    verdict = "all checks passed" if not results.failures else "FAILED: " + "; ".join(results.failures)
    print(f"  {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="sellers preloaded (default 1,000,000)")
    parser.add_argument("--bulk", type=int, default=100_000, help="names per bulk add (default 100,000)")
    parser.add_argument("--snapshot-runs", type=int, default=50, help="timed runs of each count (default 50)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile table of the app server process")
    parser.add_argument("--role", choices=["bench", "server"], default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "server":
        server_main(args.database_url, args.profile)
        return 0
    if args.rows < 1 or args.bulk < 8 or args.snapshot_runs < 1:
        parser.error("--rows >= 1, --bulk >= 8 and --snapshot-runs >= 1")

    sys.path.insert(0, str(API_DIR))
    from tests.support import create_database, drop_database, with_dbname

    from app.db.migrations import apply_migrations

    server_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if urlsplit(server_url).hostname not in {HOST, "localhost"}:
        print(f"DATABASE_URL must point at {HOST}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    name = create_database(server_url, prefix="sc_sellers_bench")
    results = Results()
    try:
        url = with_dbname(server_url, name)
        apply_migrations(url)
        print(f"database {name} on {HOST}, migrated; rows={args.rows:,} bulk={args.bulk:,}")
        asyncio.run(run(url, args, results))
    finally:
        drop_database(server_url, name)
    print_table(results)
    print(f"  total {time.perf_counter() - started:.0f} s; database {name} dropped")
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
