"""Words for people: counts with the right plural."""

from __future__ import annotations


def plural(count: int | None, noun: str, nouns: str | None = None) -> str:
    """`1 seller`, `2 sellers`, `0 sellers` (pass `nouns` when the plural is not noun + s)."""
    if count is None:
        return nouns or noun + "s"
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
