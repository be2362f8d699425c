"""The command line's listings and options, in process (the subprocess tests cover the wiring)."""

from __future__ import annotations

import pytest
from rich.console import Console

from app.cli import collect, lists
from app.cli.errors import CommandError


def test_the_whole_tree_lists_every_department_and_category() -> None:
    console = Console(record=True, width=200)
    lists.print_categories(console, None)
    text = console.export_text()
    assert "Toys & Games" in text and "toys-building-toys" in text and text.count("electronics-") == 5


def test_a_department_by_id_or_name() -> None:
    for name in ("electronics", "ELECTRONICS", "Electronics"):
        console = Console(record=True, width=200)
        lists.print_categories(console, name)
        text = console.export_text()
        assert "electronics-headphones" in text and "pet-" not in text
    with pytest.raises(CommandError, match="known: appliances"):
        lists.print_categories(Console(), "gadgets")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"categories": ["pet-dogs"], "preset": "Pets"}, "not both"),
        ({"resume": "00000000-0000-0000-0000-000000000001", "preset": "Pets"}, "--resume"),
        ({}, "--preset NAME"),
    ],
)
def test_collect_takes_categories_or_a_preset(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"categories": None, "resume": None, "provider": None, "name": None}
    with pytest.raises(CommandError, match=message):
        collect.CollectOptions.parse(**{**base, **kwargs}, org="o", email="e@example.com")  # type: ignore[arg-type]
    parsed = collect.CollectOptions.parse(**base, org="o", email="e@example.com", preset="Pets")  # type: ignore[arg-type]
    assert (parsed.preset, parsed.category_ids) == ("Pets", [])
