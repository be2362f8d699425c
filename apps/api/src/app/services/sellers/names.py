"""Seller-name normalization: the key that makes "Best Deals" and " best  deals " the same seller."""

from __future__ import annotations

import unicodedata


def normalize_name(name: str) -> str:
    """NFKC, lowercase, trimmed, inner whitespace runs collapsed to one space."""
    return " ".join(unicodedata.normalize("NFKC", name).lower().split())
