"""`sellercollection notifications`, and a run made by `collect` (no server in that process) still announced."""

from __future__ import annotations

import subprocess

from tests.receivers import WebhookReceiver, wait_delivered
from tests.support import CLI, create_token, demo_env, served_process


def test_a_collect_run_is_announced_by_the_server_and_the_cli_lists_it(db_url: str) -> None:
    env = demo_env(db_url, SELLERCOLLECTION_DEMO_LATENCY_MS="0", SELLERCOLLECTION_WEBHOOK_ALLOW_PRIVATE="true")
    org = "cli-notify"
    token = create_token(env, org, "cli-notify@example.com")
    with WebhookReceiver() as receiver, served_process(env) as served:
        with served.client(token) as api:
            created = api.post(
                "/notifications/webhooks",
                json={"url": receiver.url(), "events": ["run.completed"], "description": "chat"},
            )
            assert created.status_code == 201, created.text
        # `collect` runs in a process of its own; its completion waits in the outbox for the server to send.
        collected = subprocess.run(
            [*CLI, "collect", "--categories", "pet-fish", "--org", org, "--name", "From the terminal"],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert collected.returncode == 0, collected.stderr
        [got] = receiver.wait_for(lambda got: len(got) == 1)
        wait_delivered(db_url, org, 1)
        listed = subprocess.run(
            [*CLI, "notifications", "--org", org], env={**env, "COLUMNS": "250"}, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        unknown = subprocess.run([*CLI, "notifications", "--org", "nobody"], env=env, capture_output=True, text=True)
    assert got.payload["type"] == "run.completed" and got.payload["data"]["name"] == "From the terminal"
    assert listed.returncode == 0, listed.stderr
    assert receiver.url() in listed.stdout and "run.completed" in listed.stdout and "enabled" in listed.stdout
    assert "E-mail is off" in listed.stdout
    assert "Latest deliveries" in listed.stdout and "delivered" in listed.stdout
    assert unknown.returncode == 2 and "No org named 'nobody'" in unknown.stderr
