"""Exact money parsing: amounts as `Decimal`, never floats, and never a guess about units.

The earlier system read any integer above 100 as cents, so a $150 product became $1.50. Here a
number is always whole currency units, and text that is not plainly one price (a range, a foreign
format) is refused rather than interpreted.

`parse_price` reads the US-formatted dollar amounts of the Amazon side and of configuration.
`parse_number` and `parse_money` read numbers as a given locale writes them (`NumberFormat`): the
caller says which, from what the page declares, so "1,234" is never guessed per number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class NumberFormat:
    """How a locale writes a number: its decimal mark; the other mark, or a space, groups thousands."""

    decimal: str  # "." or ","

    @property
    def group(self) -> str:
        return "," if self.decimal == "." else "."


POINT_DECIMAL = NumberFormat(".")  # en, ja, ko, zh: 1,234.5
COMMA_DECIMAL = NumberFormat(",")  # de, es, fr, it, pt: 1.234,5 or 1 234,5


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str | None  # ISO 4217; None when the text carried no currency mark


# Spaces that group thousands besides the locale's mark: plain, no-break (es), narrow no-break
# and thin (fr). Typed out because `\s` would also let a number run across a line break.
_GROUP_SPACES = " \u00a0\u202f\u2009"
# Either plain digits, or digits grouped in threes by one kind of separator, then the decimals.
_NUMBER_PATTERNS = {
    mark: re.compile(
        rf"(?:\d+|\d{{1,3}}(?:(?P<group>[{re.escape(group)}{_GROUP_SPACES}])\d{{3}})(?:(?P=group)\d{{3}})*)"
        rf"(?:{re.escape(mark)}\d+)?"
    )
    for mark, group in ((".", ","), (",", "."))
}
# A currency mark before or after the amount ("US $12.50", "EUR 17,72", "6,314 円", "S/. 99.99").
_MONEY = re.compile(r"(?P<before>\D*?)\s*(?P<number>\d(?:[\d., ]*\d)?)\s*(?P<after>\D*)")
# Marks eBay prints for a currency, where it does not print the ISO code itself. eBay writes every
# dollar other than the US one with a prefix (C $, AU $, S$), so a bare "$" is the US dollar.
_CURRENCY_SYMBOLS = {
    "$": "USD",
    "US $": "USD",
    "US$": "USD",
    "C $": "CAD",
    "C$": "CAD",
    "AU $": "AUD",
    "AU$": "AUD",
    "NZ $": "NZD",
    "S$": "SGD",
    "HK$": "HKD",
    "R$": "BRL",
    "£": "GBP",
    "€": "EUR",
    "円": "JPY",
    "¥": "JPY",
    "￥": "JPY",
    "₩": "KRW",
    "S/.": "PEN",
    "zł": "PLN",
}
_ISO_CODE = re.compile(r"[A-Z]{3}")


def parse_number(text: str, number_format: NumberFormat) -> Decimal | None:
    """'1,234.5' (point) or '1.234,5' / '1 234,5' (comma) as a Decimal; None for anything else."""
    cleaned = text.strip()
    match = _NUMBER_PATTERNS[number_format.decimal].fullmatch(cleaned)
    if match is None:
        return None
    group = match.group("group")
    digits = cleaned.replace(group, "") if group else cleaned
    return Decimal(digits.replace(number_format.decimal, "."))


def parse_money(text: str, number_format: NumberFormat) -> Money | None:
    """One amount with its currency mark, as the locale writes it; None for anything else."""
    # str.split() also splits on the no-break spaces, which leaves one plain space per group.
    match = _MONEY.fullmatch(" ".join(text.split()))
    if match is None:
        return None
    before, after = match.group("before").strip(), match.group("after").strip()
    if before and after:
        return None
    amount = parse_number(match.group("number"), number_format)
    mark = before or after
    currency = _currency(mark) if mark else None
    if amount is None or (mark and currency is None):
        return None
    return Money(amount=amount, currency=currency)


def _currency(mark: str) -> str | None:
    if _ISO_CODE.fullmatch(mark):
        return mark
    return _CURRENCY_SYMBOLS.get(mark)


def to_cents(amount: Decimal) -> int:
    """Whole cents, half a cent rounding up (as a shop would)."""
    return int(amount.quantize(CENT, rounding=ROUND_HALF_UP) * 100)


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def price_to_cents(value: object) -> int | None:
    """`parse_price` then `to_cents`, for callers that store integer cents."""
    amount = parse_price(value)
    return None if amount is None else to_cents(amount)
