"""Schema migrations: numbered `apps/api/migrations/NNN_name.sql` files applied by yoyo-migrations.

yoyo records what it applied and runs each file in a transaction. Its own lock is a polled row
with a 10 s timeout, so we additionally hold a PostgreSQL advisory lock for the whole pass: two
processes starting at once simply take turns, and the second finds nothing left to do.
"""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"
# Any fixed 64-bit number; it names "the sellercollection migration lock" for pg_advisory_lock.
_ADVISORY_LOCK_KEY = 4_512_045_001


def _yoyo_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in {"postgres", "postgresql", "postgresql+psycopg"}:
        raise ValueError("DATABASE_URL must be a postgresql:// URL")
    return f"postgresql+psycopg://{rest}"


def apply_migrations(url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration in order; return the ids applied (empty when up to date)."""
    # yoyo reads a missing folder as "no migrations" and would leave the schema empty without a word.
    if not any(directory.glob("*.sql")):
        raise FileNotFoundError(f"No migrations found in {directory}")
    migrations = read_migrations(str(directory))
    with psycopg.connect(url, autocommit=True) as lock_conn:
        lock_conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_KEY,))
        try:
            backend = get_backend(_yoyo_url(url))
            try:
                with backend.lock():
                    pending = backend.to_apply(migrations)
                    backend.apply_migrations(pending)
            finally:
                backend.connection.close()
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK_KEY,))
    applied = [m.id for m in pending]
    if applied:
        logger.info("applied migrations: %s", ", ".join(applied))
    return applied
