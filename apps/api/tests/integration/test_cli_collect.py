"""`sellercollection collect` as a user runs it: a real subprocess against its own database."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from app.services.catalogue import categories_by_id

COLLECT = [sys.executable, "-c", "from app.cli.main import main; main()", "collect"]


def _env(db_url: str, **extra: str) -> dict[str, str]:
    # Only what the test sets reaches the command: no inherited database, provider or credentials.
    dropped = {"DATABASE_URL", "OXYLABS_USERNAME", "OXYLABS_PASSWORD", "OXYLABS_BASE_URL"}
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("SELLERCOLLECTION_")}
    env.update(DATABASE_URL=db_url, SELLERCOLLECTION_PROVIDER="demo", **extra)
    return env


def _collect(db_url: str, *args: str, latency_ms: int = 2) -> subprocess.CompletedProcess[str]:
    env = _env(db_url, SELLERCOLLECTION_DEMO_LATENCY_MS=str(latency_ms))
    return subprocess.run([*COLLECT, *args], env=env, capture_output=True, text=True, timeout=120)


def _runs(db_url: str, org: str) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT r.* FROM collection_runs r JOIN orgs o ON o.id = r.org_id WHERE o.name = %s", (org,)
        ).fetchall()


def _items(db_url: str, org: str, status: str) -> dict[int, int]:
    """Product items of the org's runs in `status`: id -> attempts."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            """
            SELECT i.id, i.attempts FROM collection_items i
            JOIN collection_runs r ON r.id = i.run_id JOIN orgs o ON o.id = r.org_id
            WHERE o.name = %s AND i.kind = 'product' AND i.status = %s
            """,
            (org, status),
        ).fetchall()
    return dict(rows)


def _org() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


def test_collect_completes_a_run_and_prints_a_summary(db_url: str) -> None:
    org = _org()
    result = _collect(
        db_url, "--categories", "electronics-computers, baby-feeding", "--provider", "demo", "--org", org,
        "--name", "two categories",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    [run] = _runs(db_url, org)
    assert run["status"] == "completed" and run["phase"] == "done"
    assert run["name"] == "two categories" and run["provider"] == "demo"
    assert run["category_ids"] == ["electronics-computers", "baby-feeding"]
    assert run["categories_completed"] == run["categories_total"] == 2
    assert run["products_searched"] == run["products_total"] > 0
    assert run["sellers_found"] >= run["sellers_new"] > 0
    assert run["failed_items"] == 0 and run["lease_owner"] is None

    out = result.stdout
    assert "Recent events" in out  # the live view's last frame (off a terminal, rich prints only that one)
    assert "Status" in out and "completed" in out
    assert re.search(rf"Run id\s+{run['id']}", out)
    assert f"{run['sellers_found']:,} found, {run['sellers_new']:,} new" in out
    assert f"{run['products_searched']:,} searched / {run['products_total']:,} to search" in out
    # The demo shows every seller line: the run read them all, and says so.
    assert run["listings_read"] == run["listings_with_seller"] > 0
    assert re.search(
        rf"Seller lines\s+{run['listings_with_seller']:,} of {run['listings_read']:,} listings \(100\.0 %\)", out
    )
    assert re.search(rf"Org\s+{org}\s", out)
    assert "Resume with" not in out

    with psycopg.connect(db_url) as conn:
        tokens = conn.execute(
            """
            SELECT count(*), count(t.revoked_at) FROM api_tokens t
            JOIN memberships m ON m.id = t.membership_id JOIN orgs o ON o.id = m.org_id WHERE o.name = %s
            """,
            (org,),
        ).fetchone()
    assert tokens == (0, 0)  # the command acts as the local member without minting a credential


def test_collect_ends_with_the_runs_five_best_new_sellers_by_score(db_url: str) -> None:
    org = _org()
    result = _collect(db_url, "--categories", "electronics-computers,baby-feeding", "--org", org)
    assert result.returncode == 0, result.stderr
    [run] = _runs(db_url, org)
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        scored = conn.execute(
            """
            SELECT display_name, score, products_matched FROM sellers
            WHERE first_seen_run_id = %s AND score IS NOT NULL
            ORDER BY score DESC, products_matched DESC NULLS LAST, normalized_name COLLATE "C", id
            """,
            (run["id"],),
        ).fetchall()
    assert len(scored) > 5  # the demo marketplace gives a run more scored new sellers than the list shows

    out = result.stdout
    heading = out.index(f"Best new sellers by score (of {run['sellers_new']:,} new sellers)")
    assert heading > out.index("Run id")  # after the summary: the command ends with them
    rows = []  # the table's body rows, in the order printed
    for line in out[heading:].splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]
        if len(cells) == 3 and cells[0] != "Seller":
            rows.append(cells)
    assert rows == [[s["display_name"], str(s["score"]), f"{s['products_matched']:,}"] for s in scored[:5]]


@pytest.mark.timeout(300)
def test_ctrl_c_pauses_the_run_keeping_finished_items_and_resume_completes_it(db_url: str) -> None:
    org = _org()
    categories = ",".join(list(categories_by_id())[:6])
    env = _env(db_url, SELLERCOLLECTION_DEMO_LATENCY_MS="30")
    proc = subprocess.Popen(
        [*COLLECT, "--categories", categories, "--org", org], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # Another process's progress can only be seen by polling its committed rows; bounded by the deadline.
        deadline = time.monotonic() + 90
        while len(_items(db_url, org, "completed")) < 5:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 130, err  # 128 + SIGINT: paused, not finished
    [run] = _runs(db_url, org)
    assert run["status"] == "paused" and run["status_reason"] is None
    assert run["products_searched"] < run["products_total"]  # it really was stopped mid-run
    assert run["lease_owner"] is None
    done_before = _items(db_url, org, "completed")
    assert len(done_before) >= 5
    assert _items(db_url, org, "processing") == {}  # in-flight work went back to the queue
    assert f"Paused. Resume with: sellercollection collect --resume {run['id']}" in out

    resumed = _collect(db_url, "--resume", str(run["id"]))  # finds the run's org by itself
    assert resumed.returncode == 0, resumed.stderr
    [final] = _runs(db_url, org)
    assert final["status"] == "completed"
    assert final["products_searched"] == final["products_total"] == run["products_total"]
    done_after = _items(db_url, org, "completed")
    assert set(done_before) <= set(done_after)
    assert all(done_after[item] == 1 for item in done_before)  # finished work was never fetched again

    again = _collect(db_url, "--resume", str(run["id"]), "--org", org)
    assert again.returncode == 2
    assert f"Run {run['id']} is completed" in again.stderr


def test_unknown_category_is_rejected_with_exit_code_2(db_url: str) -> None:
    org = _org()
    result = _collect(db_url, "--categories", "electronics-computers,bogus-1", "--org", org)
    assert result.returncode == 2
    assert "Unknown category id(s): bogus-1" in result.stderr
    assert "electronics-computers" not in result.stderr
    assert _runs(db_url, org) == []


def test_collect_prints_the_estimate_and_a_repeat_searches_only_what_is_new(db_url: str) -> None:
    org = _org()
    args = ("--categories", "baby-feeding", "--org", org)
    first = _collect(db_url, *args, "--yes")
    second = _collect(db_url, *args)  # off a terminal: the estimate is printed, nobody is asked
    everything = _collect(db_url, *args, "--refresh", "all")
    bad = _collect(db_url, *args, "--refresh", "sometimes")
    assert (first.returncode, second.returncode, everything.returncode) == (0, 0, 0), second.stderr
    assert bad.returncode == 2 and "sometimes" in bad.stderr

    runs = sorted(_runs(db_url, org), key=lambda r: r["created_at"])
    assert [r["refresh"] for r in runs] == ["new", "new", "all"]
    assert runs[0]["products_remembered"] == 0 and runs[2]["products_remembered"] == 0
    assert runs[1]["products_remembered"] > runs[1]["products_total"]
    assert "Estimate: 1 lists (0 fetched before)" in first.stdout
    assert "Start this run?" not in first.stdout + second.stdout
    listed = runs[1]["products_total"] + runs[1]["products_remembered"]
    assert (
        f"Estimate: 1 lists (1 fetched before), about {listed:,} products, {runs[1]['products_total']:,} to search"
        in (second.stdout)
    )
    assert f"{runs[1]['products_remembered']:,} searched within the last 7 days: skipped" in second.stdout
    assert f"{listed:,} to search; " in everything.stdout and "refresh all" in everything.stdout
