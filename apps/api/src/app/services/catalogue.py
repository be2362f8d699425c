"""The Amazon Best Sellers category catalogue (15 departments x 5 categories, with browse-node ids)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from app.errors import InvalidInput, quote


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    node_id: str
    department_id: str
    department_name: str

    @property
    def display_name(self) -> str:
        return f"{self.department_name} > {self.name}"


@cache
def catalogue_document() -> dict[str, Any]:
    text = resources.files("app").joinpath("data/amazon_categories.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def categories_by_id() -> dict[str, Category]:
    result: dict[str, Category] = {}
    for department in catalogue_document()["departments"]:
        for category in department["categories"]:
            result[category["id"]] = Category(
                id=category["id"],
                name=category["name"],
                node_id=str(category["node_id"]),
                department_id=department["id"],
                department_name=department["name"],
            )
    return result


def resolve_categories(category_ids: list[str]) -> list[Category]:
    """The categories for `category_ids`, in order and without repeats; 422 naming any unknown id."""
    known = categories_by_id()
    unique = list(dict.fromkeys(cid.strip() for cid in category_ids))
    unknown = [cid for cid in unique if cid not in known]
    if unknown:
        shown = ", ".join(unknown[:5]) if all(len(u) <= 40 for u in unknown[:5]) else ", ".join(map(quote, unknown[:5]))
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise InvalidInput(f"Unknown category id(s): {shown}{more}. See GET /amazon/categories.")
    if not unique:
        raise InvalidInput("category_ids must name at least one category")
    return [known[cid] for cid in unique]
