"""Seller export under abuse: its speed against a bare COPY, and the service's health while 25 readers stall.

    .venv/bin/python apps/api/bench/export_bench.py [--rows 100000] [--stalled 25] [--rounds 3] [--probe-seconds 10]

A fresh database is created on the server of DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres),
migrated, loaded with one org of `--rows` sellers (one INSERT ... SELECT generate_series), and dropped at the end.
The real app runs in a child process (uvicorn on a loopback port, default pool of 20 connections,
`max_concurrent_exports_per_org` raised to `--stalled` so every stalled reader is admitted).

1. Speed: `GET /sellers/export?format=csv` read to the end with httpx (bytes discarded), against
   `COPY (SELECT <export columns> FROM sellers WHERE org_id = ... ORDER BY created_at, id) TO STDOUT (FORMAT csv)`
   read by psycopg in this process, interleaved, `--rounds` each; medians. Ratio = COPY time / export time.
   Bar: >= 0.6 (the export does at most 1/0.6 the work of the bare COPY).
2. Stalled readers: a prober asks `GET /health` and `GET /sellers?limit=100` back to back for `--probe-seconds`,
   from before the first stalled reader connects until the end. Meanwhile `--stalled` clients (receive buffer
   4 KB) each request the CSV export, read its first KB and then read nothing more.
   Bar: every probe answers 200, and the slowest takes < 1 s.

Exit 0 when both bars hold, else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

HOST = "127.0.0.1"
API_DIR = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SPEED_BAR = 0.6
LATENCY_BAR = 1.0


def server_main(database_url: str, stalled: int) -> None:
    import uvicorn

    from app.config import Settings
    from app.main import create_app

    with tempfile.TemporaryDirectory(prefix="sc_export_bench_") as data_dir:
        settings = Settings(
            database_url=database_url, data_dir=Path(data_dir), migrate_on_start=False, provider="demo",
            max_concurrent_exports_per_org=stalled, signin_failures_per_minute=1_000_000,
        )  # fmt: skip
        sock = socket.socket()
        sock.bind((HOST, 0))
        sock.listen(256)
        print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
        server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="error", access_log=False))
        asyncio.run(server.serve(sockets=[sock]))


async def timed_export(client: httpx.AsyncClient, token: str) -> tuple[float, int]:
    start = time.perf_counter()
    size = 0
    async with client.stream("GET", "/sellers/export", headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status_code == 200, await response.aread()
        async for chunk in response.aiter_raw():
            size += len(chunk)
    return time.perf_counter() - start, size


async def timed_copy(url: str, org_id: uuid.UUID) -> tuple[float, int]:
    import psycopg
    from psycopg import sql

    from app.repositories.exports import EXPORT_COLUMNS

    query = sql.SQL(
        "COPY (SELECT {} FROM sellers WHERE org_id = {} ORDER BY created_at, id) TO STDOUT (FORMAT csv, FORCE_QUOTE *)"
    ).format(sql.SQL(", ").join(map(sql.Identifier, EXPORT_COLUMNS)), sql.Literal(org_id))
    size = 0
    async with await psycopg.AsyncConnection.connect(url) as conn:
        start = time.perf_counter()
        async with conn.cursor() as cur, cur.copy(query) as copy:
            async for data in copy:
                size += len(data)
        return time.perf_counter() - start, size


def stalled_reader(port: int, token: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((HOST, port))
    sock.sendall(f"GET /sellers/export HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    return sock


async def probe(client: httpx.AsyncClient, token: str, until: float, out: list[tuple[str, int, float]]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < until:
        for path in ("/health", "/sellers?limit=100"):
            start = time.perf_counter()
            try:
                status = (await client.get(path, headers=headers)).status_code
            except httpx.HTTPError:
                status = 0
            out.append((path, status, time.perf_counter() - start))


async def main_async(args: argparse.Namespace) -> int:
    import psycopg
    from psycopg.rows import dict_row
    from tests.support import create_database, drop_database, with_dbname

    from app.db.migrations import apply_migrations
    from app.services import accounts

    server_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    dbname = create_database(server_url, prefix="sc_export_bench")
    url = with_dbname(server_url, dbname)
    child: asyncio.subprocess.Process | None = None
    stalled: list[socket.socket] = []
    try:
        apply_migrations(url)
        async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row, autocommit=True) as conn:
            issued = await accounts.issue_token(
                conn, org_name="export-bench", email="b@example.com", permissions=["sellers.read"]
            )
            await conn.execute(
                "INSERT INTO sellers (org_id, display_name, normalized_name, feedback_score, flagged, created_at) "
                "SELECT %s, 'Seller ' || g || ' of the export bench', 'seller ' || g, g %% 5000, g %% 7 = 0, "
                "now() - make_interval(secs => %s - g) FROM generate_series(1, %s) AS g",
                (issued.org_id, args.rows, args.rows),
            )
            await conn.execute("VACUUM ANALYZE sellers")
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", url, "--stalled", str(args.stalled),
            stdout=asyncio.subprocess.PIPE, cwd=API_DIR,
        )  # fmt: skip
        assert child.stdout is not None
        port = json.loads(await child.stdout.readline())["port"]
        base = f"http://{HOST}:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            while True:
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)

            # 1. Speed against a bare COPY, interleaved.
            exports: list[float] = []
            copies: list[float] = []
            for r in range(args.rounds):
                for which in ("export", "copy") if r % 2 == 0 else ("copy", "export"):
                    if which == "export":
                        seconds, size = await timed_export(client, issued.token)
                        exports.append(seconds)
                    else:
                        seconds, size = await timed_copy(url, issued.org_id)
                        copies.append(seconds)
                    print(f"round {r + 1}: {which:<6} {seconds:7.3f} s  {size / 1e6:6.1f} MB", flush=True)

            # 2. Stalled readers while the prober runs.
            samples: list[tuple[str, int, float]] = []
            until = time.monotonic() + args.probe_seconds
            prober = asyncio.create_task(probe(client, issued.token, until, samples))
            stalled = [stalled_reader(port, issued.token) for _ in range(args.stalled)]
            heads = await asyncio.gather(*(asyncio.to_thread(s.recv, 1024) for s in stalled))
            admitted = sum(h.startswith(b"HTTP/1.1 200") for h in heads)
            await prober
    finally:
        for s in stalled:
            s.close()
        if child is not None:
            child.terminate()
            await asyncio.wait_for(child.wait(), 30)
        drop_database(server_url, dbname)

    export_s, copy_s = statistics.median(exports), statistics.median(copies)
    ratio = copy_s / export_s
    bad = [s for s in samples if s[1] != 200]
    slowest = max(s[2] for s in samples)
    by_path = {path: sorted(s[2] for s in samples if s[0] == path) for path in ("/health", "/sellers?limit=100")}
    speed_ok = ratio >= SPEED_BAR
    stall_ok = not bad and slowest < LATENCY_BAR and admitted == args.stalled
    print(f"\n1. export of {args.rows} sellers as CSV, median of {args.rounds}:")
    print(f"   bare COPY {copy_s:.3f} s   export over HTTP {export_s:.3f} s   ratio {ratio:.2f} "
          f"(bar >= {SPEED_BAR})  {'PASS' if speed_ok else 'FAIL'}")  # fmt: skip
    print(f"2. {admitted} of {args.stalled} stalled export readers admitted; {len(samples)} probes over "
          f"{args.probe_seconds:.0f} s, {len(bad)} not 200")  # fmt: skip
    for path, times in by_path.items():
        p95 = times[int(0.95 * (len(times) - 1))] if times else float("nan")
        print(f"   {path:<20} n={len(times):<5} median {statistics.median(times) * 1000:7.1f} ms  "
              f"p95 {p95 * 1000:7.1f} ms  max {max(times) * 1000:7.1f} ms")  # fmt: skip
    print(f"   slowest probe {slowest * 1000:.1f} ms (bar < {LATENCY_BAR * 1000:.0f} ms, all 200)  "
          f"{'PASS' if stall_ok else 'FAIL'}")  # fmt: skip
    return 0 if speed_ok and stall_ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--stalled", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--probe-seconds", type=float, default=10.0)
    parser.add_argument("--serve", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(API_DIR))
    if args.serve:
        server_main(args.serve, args.stalled)
        return
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
