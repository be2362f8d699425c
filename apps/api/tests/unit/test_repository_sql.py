"""Repository queries name their columns: a new column must never reach a row type that does not declare it."""

from __future__ import annotations

import re
from pathlib import Path

from app import repositories

# `SELECT *`, `RETURNING *` and `alias.*`; `count(*)` and COPY's `FORCE_QUOTE *` are fine.
STAR = re.compile(r"\b(?:SELECT|RETURNING)\s+\*|\b\w+\.\*", re.IGNORECASE)


def star_queries(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if STAR.search(line)]


def test_no_repository_query_selects_or_returns_star() -> None:
    found = {
        module.name: stars
        for module in sorted(Path(repositories.__path__[0]).glob("*.py"))
        if (stars := star_queries(module.read_text()))
    }
    assert found == {}


def test_the_check_above_notices_a_star() -> None:
    assert star_queries('f"SELECT * FROM presets WHERE {where}"') != []
    assert star_queries("    RETURNING *") != []
    assert star_queries("SELECT s.*, p.name FROM collection_schedules s") != []
    assert star_queries("SELECT count(*) FROM sellers") == []
    assert star_queries("COPY (...) TO STDOUT (FORMAT csv, FORCE_QUOTE *)") == []
