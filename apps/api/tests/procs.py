"""Helpers for tests that drive the real `sellercollection` command in child processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

CLI = [sys.executable, "-c", "from app.cli import main; main()"]


def child_env(**extra: str) -> dict[str, str]:
    """The test's environment without settings that would leak into the child, plus `extra`."""
    dropped = {"DATABASE_URL", "OXYLABS_USERNAME", "OXYLABS_PASSWORD"}
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("SELLERCOLLECTION_")}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(base: str, proc: subprocess.Popen[bytes], deadline: float) -> httpx.Response:
    # Polling is the only way to observe another process becoming ready; bounded by the deadline.
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            return httpx.get(f"{base}/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("service did not come up")


def create_token(env: dict[str, str], org: str, email: str) -> str:
    made = subprocess.run(
        [*CLI, "create-token", "--org", org, "--email", email, "-p", "admin.automation"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return made.stdout.strip().splitlines()[-1]
