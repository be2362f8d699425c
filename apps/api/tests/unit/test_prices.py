from __future__ import annotations

from decimal import Decimal

import pytest

from app.scrapers.prices import from_cents, parse_price, price_to_cents, to_cents


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$1,299.99", Decimal("1299.99")),
        ("1299.99", Decimal("1299.99")),
        ("  $19.99 ", Decimal("19.99")),
        ("US $12.50", Decimal("12.50")),
        ("12.50 USD", Decimal("12.50")),
        ("$1,000,000", Decimal("1000000")),
        ("$.99", Decimal(".99")),
        ("0", Decimal("0")),
        (19.99, Decimal("19.99")),
        (0.1, Decimal("0.1")),
        (5, Decimal("5")),
        # Integers are dollars: the earlier system turned 150 into $1.50.
        (150, Decimal("150")),
        (12999, Decimal("12999")),
        (Decimal("7.25"), Decimal("7.25")),
    ],
)
def test_parses_exact_dollar_amounts(value: object, expected: Decimal) -> None:
    parsed = parse_price(value)
    assert parsed == expected
    assert isinstance(parsed, Decimal)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "$",
        "free",
        "N/A",
        "$10.00 to $20.00",
        "1,29",
        "12,34.5",
        "1.299,99",
        "-5",
        "$-5.00",
        -5,
        -0.01,
        Decimal("-1"),
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        True,
        [19.99],
        {"value": 19.99},
    ],
)
def test_refuses_what_is_not_one_plain_price(value: object) -> None:
    assert parse_price(value) is None


def test_negative_zero_is_plain_zero() -> None:
    parsed = parse_price(-0.0)
    assert parsed == 0
    assert parsed is not None and not parsed.is_signed()


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        (Decimal("1299.99"), 129999),
        (Decimal("0.005"), 1),
        (Decimal("0.004"), 0),
        (Decimal("2.675"), 268),
        (Decimal("10"), 1000),
        (Decimal("0"), 0),
    ],
)
def test_cents_round_half_up(amount: Decimal, cents: int) -> None:
    assert to_cents(amount) == cents


def test_cents_round_trip() -> None:
    assert from_cents(129999) == Decimal("1299.99")
    assert from_cents(5) == Decimal("0.05")
    assert to_cents(from_cents(123456)) == 123456


def test_price_to_cents() -> None:
    assert price_to_cents("$1,299.99") == 129999
    assert price_to_cents(19.99) == 1999
    assert price_to_cents("garbage") is None
    assert price_to_cents(None) is None
