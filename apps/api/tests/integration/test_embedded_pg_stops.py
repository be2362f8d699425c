"""The embedded PostgreSQL always stops: `serve` ended by SIGTERM, SIGHUP or Ctrl-C, or killed and restarted."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.support import CLI, child_env, free_port, wait_healthy


def postgres_of(pgdata: Path) -> list[psutil.Process]:
    """Running postgres server processes serving `pgdata`."""
    found = []
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and any(str(pgdata) in part for part in cmdline):
            found.append(proc)
    return found


def start_serve(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = child_env(SELLERCOLLECTION_DATA_DIR=str(data_dir), SELLERCOLLECTION_DEMO_LATENCY_MS="0")
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    assert wait_healthy(base, proc, time.monotonic() + 120).status_code == 200
    return proc, base


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embedded-serve")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["SIGTERM", "SIGHUP", "Ctrl-C"])
def test_serve_stops_its_postgres_on(how: signal.Signals, data_dir: Path) -> None:
    pgdata = (data_dir / "pgdata").resolve()
    proc, _ = start_serve(data_dir)
    assert postgres_of(pgdata), "serve should have started an embedded PostgreSQL"
    proc.send_signal(how)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode is not None
    assert postgres_of(pgdata) == [], stderr.decode(errors="replace")[-2000:]
    assert b"RuntimeDirWarning" not in stderr


def test_a_start_after_a_crash_adopts_the_leftover_server_and_stops_it(data_dir: Path) -> None:
    pgdata = (data_dir / "pgdata").resolve()
    crashed, _ = start_serve(data_dir)
    crashed.kill()
    crashed.wait(timeout=30)
    leftover = postgres_of(pgdata)
    assert leftover, "a killed serve cannot stop its PostgreSQL; the next start has to"
    assert crashed.pid in json.loads((pgdata / ".handle_pids.json").read_text())

    proc, _ = start_serve(data_dir)
    pids = json.loads((pgdata / ".handle_pids.json").read_text())
    assert crashed.pid not in pids and proc.pid in pids
    assert {p.pid for p in postgres_of(pgdata)} == {p.pid for p in leftover}  # reused, not a second server
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert postgres_of(pgdata) == []
