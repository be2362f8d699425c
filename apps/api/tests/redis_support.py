"""Reaching Redis in tests: REDIS_URL or 127.0.0.1:6379. With `CI` set, an unreachable Redis fails the test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from urllib.parse import urlsplit

import pytest

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    """The Redis to test against, or fail (CI) / skip (a user's machine) when none answers."""
    url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 2).close()
    except OSError:
        message = f"Redis is not reachable at {url} (start redis-server, or set REDIS_URL)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


def unique_prefix() -> str:
    """Each test's own key space, so tests never see each other's streams."""
    return f"sctest:{uuid.uuid4().hex[:12]}"


class PrivateRedis:
    """A redis-server of the test's own on a free port, to stop and start (for outages)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed (apt install redis-server)"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        self._proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        # Another process coming up is only observable by trying it; bounded by the deadline.
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._proc = None
