"""A throwaway database for a benchmark: created on the local server of DATABASE_URL, migrated, dropped after."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

API_DIR = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def scratch_database(prefix: str) -> Iterator[tuple[str, str]]:
    """Yield (url, name) of a fresh migrated database; exit 2 if DATABASE_URL is not a local server."""
    sys.path.insert(0, str(API_DIR))
    from tests.support import create_database, drop_database, with_dbname

    from app.db.migrations import apply_migrations

    server_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if urlsplit(server_url).hostname not in {"127.0.0.1", "localhost"}:
        print("DATABASE_URL must point at 127.0.0.1", file=sys.stderr)
        raise SystemExit(2)
    name = create_database(server_url, prefix=prefix)
    try:
        url = with_dbname(server_url, name)
        apply_migrations(url)
        yield url, name
    finally:
        drop_database(server_url, name)


def run_on_scratch_database(prefix: str, bench: Callable[[str], Awaitable[bool]]) -> int:
    """A benchmark's exit status: `bench(url)` on a scratch database, then whether every bar was met."""
    with scratch_database(prefix) as (url, name):
        ok = asyncio.run(bench(url))
    print(f"\n{'all bars met' if ok else 'FAILED: a bar was missed'}; database {name} dropped")
    return 0 if ok else 1
