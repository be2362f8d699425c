"""A server asked to stop (SIGTERM, Ctrl-C) ends its open activity streams instead of waiting on them.

uvicorn waits for every open response before it shuts down, and an activity stream of a run that is
not finished never ends by itself: without the shutdown watcher the process would hang until killed.
"""

from __future__ import annotations

import signal
import threading

import httpx
import pytest

from tests.support import create_token, demo_env, leaf_ids, served_process


@pytest.mark.timeout(240)
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_ends_open_streams_and_the_process(db_url: str, stop: signal.Signals) -> None:
    env = demo_env(db_url)
    token = create_token(env, f"shutdown-{stop.name}", "stop@example.com")
    streams_open = threading.Barrier(4)
    ended: list[bytes] = []
    with served_process(env) as server, server.client(token) as client:
        ids = leaf_ids(client.get("/amazon/categories").json())[:2]
        # Never started: its stream stays open, idle, for as long as the server lets it.
        run = client.post("/collection/runs", json={"name": "idle", "category_ids": ids}).json()

        def read_until_closed() -> None:
            url = f"{server.base}/collection/runs/{run['id']}/activity"
            with httpx.stream("GET", url, headers=client.headers, timeout=httpx.Timeout(120)) as response:
                assert response.status_code == 200
                body = b""
                for chunk in response.iter_bytes():
                    if not body:
                        streams_open.wait(timeout=60)  # the first frame is here
                    body += chunk
                ended.append(body)

        readers = [threading.Thread(target=read_until_closed) for _ in range(3)]
        for reader in readers:
            reader.start()
        streams_open.wait(timeout=60)  # three streams are open and have their first frame

        exit_code = server.stop(stop)  # hangs (and fails here) when the streams hold the server open
        for reader in readers:
            reader.join(timeout=30)
        log = server.output()
    # uvicorn shuts down gracefully, then re-raises the signal it caught: that is the exit status.
    assert exit_code in (0, -stop, 128 + stop), log
    assert "ending 3 open activity streams" in log, log
    assert len(ended) == 3  # each stream ended cleanly (a cut connection would raise in its reader)
    assert all(body.startswith(b": connected") for body in ended)
