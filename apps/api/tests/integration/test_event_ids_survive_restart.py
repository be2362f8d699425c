"""In-memory feed: kill -9 the server mid-run, restart it, reconnect with the last id seen.

The ids continue upwards after one `gap` event (what the dead process published after the
client's id is gone), and no id the client saw before is ever used again.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.support import create_token, demo_env, served_process, start_served_run


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
    env = demo_env(
        db_url,
        SELLERCOLLECTION_DEMO_LATENCY_MS="15",
        SELLERCOLLECTION_RUN_LEASE_SECONDS="2",
        SELLERCOLLECTION_RUN_CONTROL_POLL_SECONDS="0.3",
    )
    token = create_token(env, "restart-ids-org", "ids@example.com")

    with served_process(env) as first, first.client(token) as client:
        run = start_served_run(client, "ids", categories=3)
        feed_url = f"/collection/runs/{run['id']}/activity"
        before = read_feed(client, feed_url, last_id=None, stop=60)
        first.kill9()
    seen = [int(e["sse_id"]) for e in before if e["sse_id"]]
    assert seen == sorted(set(seen)) and len(seen) == 60

    with served_process(env, port=first.port) as second, second.client(token) as client:
        after = read_feed(client, feed_url, last_id=str(seen[-1]), stop=None)
        final = client.get(f"/collection/runs/{run['id']}").json()

    assert final["status"] == "completed"
    assert after[0]["action"] == "gap" and not after[0]["sse_id"] and "missed" not in after[0]
    assert [e["action"] for e in after].count("gap") == 1
    later = [int(e["sse_id"]) for e in after[1:]]
    assert later and min(later) > max(seen)  # never a number seen before
    assert later == sorted(set(later))  # upwards, each once
    assert all(e["seq"] == int(e["sse_id"]) for e in after[1:])
    assert after[-1]["action"] == "complete"
