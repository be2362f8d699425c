"""Bulk seller changes scale linearly: per-id cost at 100k ids against the per-id cost at 1k ids, in one run.

    .venv/bin/python apps/api/bench/bulk_bench.py [--small 1000] [--large 100000] [--rounds 3]

A fresh database is created on the server of DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres),
migrated, and dropped at the end. The real app is served by uvicorn on a loopback socket in this process, and
each operation is one real HTTP request:

- bulk add: `POST /sellers/bulk` with N new names,
- flag: `POST /sellers/flag` with the N ids just added,
- bulk delete: `POST /sellers/bulk-delete` with the same N ids.

Every round uses a fresh org, so each case starts from the same empty list. The small case runs `--rounds`
times and its median is the baseline; the large case runs once per round too, median reported.

Bar (issue 9): for each operation, per-id cost at `--large` <= 2.0 x per-id cost at `--small`.
Exit 0 when every bar holds, else 1.
"""

from __future__ import annotations

import argparse
import asyncio
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
BAR = 2.0
OPS = ("bulk add", "flag", "bulk delete")


async def one_round(client: httpx.AsyncClient, token: str, n: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"}
    names = [f"bench-{uuid.uuid4().hex}" for _ in range(n)]
    out: dict[str, float] = {}
    t = time.perf_counter()
    r = await client.post("/sellers/bulk", json={"names": names}, headers=headers)
    out["bulk add"] = time.perf_counter() - t
    assert r.status_code == 200, r.text[:300]
    assert len(r.json()["added"]) == n, r.text[:300]
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/sellers", params=params, headers=headers)).json()
        ids += [s["id"] for s in page["sellers"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(ids) == n
    t = time.perf_counter()
    r = await client.post("/sellers/flag", json={"ids": ids, "flagged": True}, headers=headers)
    out["flag"] = time.perf_counter() - t
    assert r.status_code == 200 and r.json()["updated"] == n, r.text[:300]
    t = time.perf_counter()
    r = await client.post("/sellers/bulk-delete", json={"ids": ids}, headers=headers)
    out["bulk delete"] = time.perf_counter() - t
    assert r.status_code == 200 and r.json()["deleted"] == n, r.text[:300]
    return out


async def main_async(args: argparse.Namespace) -> int:
    import uvicorn
    from tests.support import create_database, drop_database, with_dbname

    from app.config import Settings
    from app.db.migrations import apply_migrations
    from app.db.pool import make_pool
    from app.main import create_app
    from app.services import accounts

    server_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    dbname = create_database(server_url, prefix="sc_bulk_bench")
    url = with_dbname(server_url, dbname)
    try:
        apply_migrations(url)
        with tempfile.TemporaryDirectory(prefix="sc_bulk_bench_") as data_dir:
            settings = Settings(
                database_url=url, data_dir=Path(data_dir), migrate_on_start=False, provider="demo",
                db_pool_min_size=1, db_pool_max_size=5,
            )  # fmt: skip
            sock = socket.socket()
            sock.bind((HOST, 0))
            sock.listen(128)
            server = uvicorn.Server(
                uvicorn.Config(create_app(settings), lifespan="on", log_level="warning", access_log=False)
            )
            task = asyncio.create_task(server.serve(sockets=[sock]))
            # The socket already listens: requests wait in its backlog until the app has started.
            pool = make_pool(url, min_size=1, max_size=1)
            await pool.open()
            results: dict[int, list[dict[str, float]]] = {args.small: [], args.large: []}
            try:
                async with httpx.AsyncClient(base_url=f"http://{HOST}:{sock.getsockname()[1]}", timeout=600) as client:
                    for r in range(args.rounds):
                        for n in (args.small, args.large) if r % 2 == 0 else (args.large, args.small):
                            async with pool.connection() as conn:
                                issued = await accounts.issue_token(
                                    conn, org_name=f"bench-{uuid.uuid4().hex[:8]}", email="b@example.com",
                                    permissions=["sellers.write"],
                                )  # fmt: skip
                            results[n].append(await one_round(client, issued.token, n))
                            print(f"round {r + 1}: {n:>7} ids  " + "  ".join(
                                f"{op} {results[n][-1][op]:.3f}s" for op in OPS
                            ), flush=True)  # fmt: skip
            finally:
                await pool.close()
                server.should_exit = True
                await task
                sock.close()
    finally:
        drop_database(server_url, dbname)

    ok = True
    print(f"\nper-id cost, median of {args.rounds} rounds (bar: {args.large} ids <= {BAR}x the per-id cost of "
          f"{args.small} ids)")  # fmt: skip
    for op in OPS:
        small = statistics.median(x[op] for x in results[args.small]) / args.small
        large = statistics.median(x[op] for x in results[args.large]) / args.large
        ratio = large / small
        passed = ratio <= BAR
        ok &= passed
        print(f"  {op:<12} {small * 1e6:8.1f} us/id @ {args.small:<7} {large * 1e6:8.1f} us/id @ {args.large:<7} "
              f"ratio {ratio:5.2f}  {'PASS' if passed else 'FAIL'}")  # fmt: skip
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(API_DIR))
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
