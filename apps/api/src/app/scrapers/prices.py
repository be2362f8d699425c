"""Exact money parsing: dollars as `Decimal`, never floats, and never a guess about units.

The earlier system read any integer above 100 as cents, so a $150 product became $1.50. Here a
number is always dollars, and text that is not plainly one price (a range, a foreign format) is
refused rather than interpreted.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")

# Either plain digits, or digits grouped by commas in threes: "1299.99", "1,299.99".
_AMOUNT = re.compile(r"(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?|\.\d+")
_CURRENCY_MARKS = ("US $", "US$", "USD", "$")


def parse_price(value: object) -> Decimal | None:
    """A non-negative dollar amount from an upstream value, or None when there is none to trust."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        # str() gives the shortest repr, so 19.99 stays 19.99 instead of its binary expansion.
        amount = Decimal(str(value))
    elif isinstance(value, str):
        parsed = _parse_price_text(value)
        if parsed is None:
            return None
        amount = parsed
    else:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    # -0.0 is not negative, but storing a signed zero would only confuse comparisons downstream.
    return amount.copy_abs()


def _parse_price_text(text: str) -> Decimal | None:
    cleaned = text.strip()
    for mark in _CURRENCY_MARKS:
        if cleaned.startswith(mark):
            cleaned = cleaned[len(mark) :].strip()
            break
    if cleaned.endswith("USD"):
        cleaned = cleaned[:-3].strip()
    if not cleaned or _AMOUNT.fullmatch(cleaned) is None:
        return None
    try:
        return Decimal(cleaned.replace(",", ""))
    except InvalidOperation:
        return None


def to_cents(amount: Decimal) -> int:
    """Whole cents, half a cent rounding up (as a shop would)."""
    return int(amount.quantize(CENT, rounding=ROUND_HALF_UP) * 100)


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def price_to_cents(value: object) -> int | None:
    """`parse_price` then `to_cents`, for callers that store integer cents."""
    amount = parse_price(value)
    return None if amount is None else to_cents(amount)
