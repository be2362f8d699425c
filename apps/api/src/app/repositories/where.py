"""A WHERE clause built from optional filters, and the parameters its conditions name."""

from __future__ import annotations

from typing import Any


class Where:
    """Conditions joined by AND; `str(where)` is the clause, `where.params` its parameters."""

    def __init__(self, condition: str, **params: Any) -> None:
        self.conditions = [condition]
        self.params: dict[str, Any] = params

    def add(self, condition: str, **params: Any) -> None:
        self.conditions.append(condition)
        self.params |= params

    def add_if(self, applies: bool, condition: str, **params: Any) -> None:
        """Add `condition` (with the parameters it names) when its filter was given."""
        if applies:
            self.add(condition, **params)

    def __str__(self) -> str:
        return " AND ".join(self.conditions)
