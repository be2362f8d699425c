"""Property-based test of the live API against its own OpenAPI document (schemathesis, every check).

A wider search, to run by hand now and then: FUZZ_SEEDS="1 2 3 4 5" FUZZ_EXAMPLES=30 pytest this file.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import LiveServer, TokenFactory

CONFIG = Path(__file__).resolve().parents[1] / "schemathesis" / "schemathesis.toml"
PERMISSIONS = ("admin.automation", "sellers.read", "sellers.write")
ALL_PHASES = "examples,coverage,fuzzing"
# (seed, phases): the examples and coverage phases hardly depend on the seed and take most of the time, so a
# second seed only fuzzes (random bodies of other shapes: ST201, a 5xx or a schema mismatch shows there).
RUNS = [(9, ALL_PHASES), (2, "fuzzing"), (5, "fuzzing")]
if "FUZZ_SEEDS" in os.environ:
    RUNS = [(int(seed), ALL_PHASES) for seed in os.environ["FUZZ_SEEDS"].split()]
EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "8")
# The document grows with the API: 10 minutes for schemathesis at 8 examples, more for a wider search.
WAIT = 600 * max(1, int(EXAMPLES) // 8)


# The fuzzer's deliberate bad credentials must not throttle its own address (test_signin_throttle covers that).
SETTINGS: dict[str, Any] = {"signin_failures_per_minute": 1_000_000}


@pytest.mark.timeout(WAIT + 60)
@pytest.mark.parametrize(("seed", "phases"), RUNS)
async def test_the_api_matches_its_openapi_document(
    live: LiveServer, make_identity: TokenFactory, tmp_path: Path, seed: int, phases: str
) -> None:
    me = await make_identity(PERMISSIONS)
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", f"{live.base_url}/openapi.json",
        "--checks", "all", "--max-examples", EXAMPLES, "--seed", str(seed), "--phases", phases,
        "--request-timeout", "20", "--workers", "1", "--no-color", "--header", f"Authorization: Bearer {me.token}",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        # In a scratch folder: schemathesis keeps a cache of what it found in the working directory.
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=WAIT)
    report = output.decode(errors="replace")
    assert proc.returncode == 0, report[-8000:]
