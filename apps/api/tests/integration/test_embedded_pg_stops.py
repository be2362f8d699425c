"""The embedded PostgreSQL always stops: `serve` ended by SIGTERM, SIGHUP or Ctrl-C, or killed and restarted."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import psutil
import pytest

from tests.support import ServedProcess, child_env, open_data_dir, served_process


def postgres_of(pgdata: Path) -> list[psutil.Process]:
    """Running postgres server processes serving `pgdata`."""
    found = []
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and any(str(pgdata) in part for part in cmdline):
            found.append(proc)
    return found


def serve(data_dir: Path) -> AbstractContextManager[ServedProcess]:
    return served_process(child_env(SELLERCOLLECTION_DATA_DIR=str(data_dir), SELLERCOLLECTION_DEMO_LATENCY_MS="0"))


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    with open_data_dir("embedded-serve") as folder:
        yield folder


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["SIGTERM", "SIGHUP", "Ctrl-C"])
def test_serve_stops_its_postgres_on(how: signal.Signals, data_dir: Path) -> None:
    pgdata = (data_dir / "pgdata").resolve()
    with serve(data_dir) as server:
        assert postgres_of(pgdata), "serve should have started an embedded PostgreSQL"
        server.stop(how)  # fails the test unless serve exits within a minute
        assert postgres_of(pgdata) == [], server.tail(2000)
        assert "RuntimeDirWarning" not in server.output()


def test_a_start_after_a_crash_adopts_the_leftover_server_and_stops_it(data_dir: Path) -> None:
    pgdata = (data_dir / "pgdata").resolve()
    with serve(data_dir) as crashed:
        crashed.kill9()
    leftover = postgres_of(pgdata)
    assert leftover, "a killed serve cannot stop its PostgreSQL; the next start has to"
    assert crashed.proc.pid in json.loads((pgdata / ".handle_pids.json").read_text())

    with serve(data_dir) as server:
        pids = json.loads((pgdata / ".handle_pids.json").read_text())
        assert crashed.proc.pid not in pids and server.proc.pid in pids
        assert {p.pid for p in postgres_of(pgdata)} == {p.pid for p in leftover}  # reused, not a second server
        server.stop()
    assert postgres_of(pgdata) == []
