"""In-memory feed: kill -9 the server mid-run, restart it, reconnect with the last id seen.

The ids continue upwards after one `gap` event (what the dead process published after the
client's id is gone), and no id the client saw before is ever used again.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.support import CLI, child_env, create_token, free_port, wait_healthy


def read_feed(client: httpx.Client, url: str, *, last_id: str | None, stop: int | None) -> list[dict[str, Any]]:
    """Events as {"id": sse id, **data}, until `stop` events with ids or the end of the stream."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    events: list[dict[str, Any]] = []
    with connect_sse(client, "GET", url, headers=headers, timeout=httpx.Timeout(60, read=60)) as sse:
        for item in sse.iter_sse():
            if not item.data:
                continue
            events.append({"sse_id": item.id, **json.loads(item.data)})
            if stop is not None and sum(1 for e in events if e["sse_id"]) >= stop:
                break
    return events


@pytest.mark.timeout(300)
def test_ids_continue_upwards_with_one_gap_after_kill_9(db_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = child_env(
        DATABASE_URL=db_url,
        SELLERCOLLECTION_PROVIDER="demo",
        SELLERCOLLECTION_DEMO_LATENCY_MS="15",
        SELLERCOLLECTION_RUN_LEASE_SECONDS="2",
        SELLERCOLLECTION_RUN_CONTROL_POLL_SECONDS="0.3",
    )
    token = create_token(env, "restart-ids-org", "ids@example.com")
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})

    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE)
    try:
        wait_healthy(base, proc, time.monotonic() + 120)
        catalogue = client.get("/amazon/categories").json()
        ids = [c["id"] for d in catalogue["departments"] for c in d["categories"]][:3]
        run = client.post("/collection/runs", json={"name": "ids", "category_ids": ids}).json()
        feed_url = f"/collection/runs/{run['id']}/activity"
        assert client.post(f"/collection/runs/{run['id']}/start").status_code == 200
        before = read_feed(client, feed_url, last_id=None, stop=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    seen = [int(e["sse_id"]) for e in before if e["sse_id"]]
    assert seen == sorted(set(seen)) and len(seen) == 60

    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE)
    try:
        wait_healthy(base, proc, time.monotonic() + 120)
        after = read_feed(client, feed_url, last_id=str(seen[-1]), stop=None)
        final = client.get(f"/collection/runs/{run['id']}").json()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        client.close()

    assert final["status"] == "completed"
    assert after[0]["action"] == "gap" and not after[0]["sse_id"] and "missed" not in after[0]
    assert [e["action"] for e in after].count("gap") == 1
    later = [int(e["sse_id"]) for e in after[1:]]
    assert later and min(later) > max(seen)  # never a number seen before
    assert later == sorted(set(later))  # upwards, each once
    assert all(e["seq"] == int(e["sse_id"]) for e in after[1:])
    assert after[-1]["action"] == "complete"
