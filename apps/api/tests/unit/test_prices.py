from __future__ import annotations

from decimal import Decimal

import pytest

from app.scrapers.prices import (
    COMMA_DECIMAL,
    POINT_DECIMAL,
    Money,
    NumberFormat,
    from_cents,
    parse_money,
    parse_number,
    parse_price,
    price_to_cents,
    to_cents,
)


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


@pytest.mark.parametrize(
    ("text", "number_format", "expected"),
    [
        ("1,234.5", POINT_DECIMAL, "1234.5"),
        ("1234.5", POINT_DECIMAL, "1234.5"),
        ("1.234", POINT_DECIMAL, "1.234"),
        ("1.234,5", COMMA_DECIMAL, "1234.5"),
        ("1.234", COMMA_DECIMAL, "1234"),
        ("1\u202f234,5", COMMA_DECIMAL, "1234.5"),  # fr: narrow no-break space
        ("1\u00a0234.50", POINT_DECIMAL, "1234.50"),  # eBay.com in Spanish
        ("1 234 567", COMMA_DECIMAL, "1234567"),
        ("99,7", COMMA_DECIMAL, "99.7"),
        ("0", POINT_DECIMAL, "0"),
    ],
)
def test_parse_number_in_a_locale(text: str, number_format: NumberFormat, expected: str) -> None:
    assert parse_number(text, number_format) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "number_format"),
    [
        ("99,7", POINT_DECIMAL),  # a comma in an English number only groups thousands
        ("1,234.5", COMMA_DECIMAL),
        ("1.234,5", POINT_DECIMAL),
        ("12,34", POINT_DECIMAL),
        ("1,234 567", POINT_DECIMAL),  # one kind of separator per number
        ("", POINT_DECIMAL),
        ("-5", POINT_DECIMAL),
        ("5%", POINT_DECIMAL),
    ],
)
def test_parse_number_refuses_other_formats(text: str, number_format: NumberFormat) -> None:
    assert parse_number(text, number_format) is None


# What each price reads as: "amount currency", or just the amount where no currency is marked.
POINT_DECIMAL_PRICES = [
    ("$1,299.99", "1299.99 USD"),
    ("US $12.50", "12.50 USD"),
    ("USD2\u00a0332.00", "2332.00 USD"),
    ("C $15.00", "15.00 CAD"),
    ("AU $15.00", "15.00 AUD"),
    ("S$ 120.00", "120.00 SGD"),
    ("£5.99", "5.99 GBP"),
    ("6,314 円", "6314 JPY"),
    ("KRW9,999,999.99", "9999999.99 KRW"),
    ("S/. 99.99", "99.99 PEN"),
    ("19.99", "19.99"),
]
COMMA_DECIMAL_PRICES = [("EUR 17,72", "17.72 EUR"), ("1.234,56 €", "1234.56 EUR"), ("EUR 1 299,00", "1299.00 EUR")]


@pytest.mark.parametrize(
    ("text", "number_format", "expected"),
    [(text, POINT_DECIMAL, expected) for text, expected in POINT_DECIMAL_PRICES]
    + [(text, COMMA_DECIMAL, expected) for text, expected in COMMA_DECIMAL_PRICES],
)
def test_parse_money_reads_the_amount_and_its_currency(text: str, number_format: NumberFormat, expected: str) -> None:
    amount, _, currency = expected.partition(" ")
    assert parse_money(text, number_format) == Money(Decimal(amount), currency or None)


@pytest.mark.parametrize(
    ("text", "number_format"),
    [
        ("EUR 17,72", POINT_DECIMAL),
        ("free", POINT_DECIMAL),
        ("Tickets 5", POINT_DECIMAL),  # not a currency mark
        ("$5 USD", POINT_DECIMAL),  # marks on both sides: not one plain price
        ("$10.00 to $20.00", POINT_DECIMAL),
    ],
)
def test_parse_money_refuses_what_is_not_one_price(text: str, number_format: NumberFormat) -> None:
    assert parse_money(text, number_format) is None
