"""`sellercollection categories`, `presets`, `schedules` and `collect --preset`, as real subprocesses."""

from __future__ import annotations

import subprocess
import uuid

import psycopg

from tests.support import CLI, child_env, create_token


def _cli(db_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_env(SELLERCOLLECTION_PROVIDER="demo", SELLERCOLLECTION_DEMO_LATENCY_MS="0", COLUMNS="200")
    if db_url is not None:
        env["DATABASE_URL"] = db_url
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def test_categories_tree_one_department_and_an_unknown_one() -> None:
    one = _cli(None, "categories", "Pet Supplies")
    assert one.returncode == 0 and "pet-dogs" in one.stdout and "electronics" not in one.stdout
    unknown = _cli(None, "categories", "gadgets")
    assert unknown.returncode == 2 and "Unknown department 'gadgets'" in unknown.stderr


def test_presets_and_schedules_lists_and_collect_from_a_preset(db_url: str) -> None:
    org = f"cli-{uuid.uuid4().hex[:8]}"
    create_token(child_env(DATABASE_URL=db_url), org, f"{org}@example.com")

    listed = _cli(db_url, "presets", "--org", org)
    assert listed.returncode == 0, listed.stderr
    assert "All categories" in listed.stdout and "Home & Kitchen" in listed.stdout and "built-in" in listed.stdout
    assert "has no schedules" in _cli(db_url, "schedules", "--org", org).stdout

    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO amazon_category_presets (org_id, name, category_ids) "
            "SELECT id, 'Fish only', ARRAY['pet-fish'] FROM orgs WHERE name = %s",
            (org,),
        )
    collected = _cli(db_url, "collect", "--preset", "fish ONLY", "--org", org)
    assert collected.returncode == 0, collected.stderr
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            """
            SELECT r.status, r.category_ids, p.name FROM collection_runs r
            JOIN orgs o ON o.id = r.org_id JOIN amazon_category_presets p ON p.id = r.preset_id
            WHERE o.name = %s
            """,
            (org,),
        ).fetchone()
        assert row is not None
        assert row == ("completed", ["pet-fish"], "Fish only")
        org_id = conn.execute("SELECT id FROM orgs WHERE name = %s", (org,)).fetchone()
        assert org_id is not None
        conn.execute(
            """
            INSERT INTO collection_schedules (org_id, name, category_ids, cron_expression, timezone, next_run_at)
            VALUES (%s, 'Weekly pets', ARRAY['pet-dogs'], '0 6 * * 1', 'Europe/Berlin', now() + interval '1 day')
            """,
            (org_id[0],),
        )
    schedules = _cli(db_url, "schedules", "--org", org)
    assert schedules.returncode == 0, schedules.stderr
    assert "Weekly pets" in schedules.stdout and "Europe/Berlin" in schedules.stdout and "pet-dogs" in schedules.stdout

    missing = _cli(db_url, "collect", "--preset", "No such preset", "--org", org)
    assert missing.returncode == 2 and "No preset named 'No such preset'" in missing.stderr
