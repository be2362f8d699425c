"""The dropshipper score, its reasons, the title match and the link checks: pure functions, no database."""

from __future__ import annotations

import itertools
import math
import uuid
from datetime import UTC, datetime

import pytest

from app.repositories.seller_profiles import ProfileFigures
from app.scrapers.links import amazon_product_url, ebay_item_url, ebay_profile_url, marketplace_url
from app.services.sellers import score as scoring
from app.services.sellers.title_match import normalise_title, title_match

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def figures(**overrides: object) -> ProfileFigures:
    values: dict[str, object] = {
        "seller_id": uuid.uuid4(),
        "org_id": uuid.uuid4(),
        "queue_ids": [1],
        "feedback_score": 800,
        "listings_seen": 30,
        "products_matched": 25,
        "category_ids": ["a", "b", "c", "d", "e"],
        "median_title_match": 0.97,
        "markup_quartiles": [1.98, 2.0, 2.02],
        "priced_listings": 30,
        "markup_in_window": 1.0,
        "run_ids": [uuid.uuid4() for _ in range(4)],
        "gone": False,
        "first_seen_at": NOW,
        "last_seen_at": NOW,
    }
    values.update(overrides)
    return ProfileFigures(**values)  # type: ignore[arg-type]


def test_the_ceilings_add_up_to_100_and_a_textbook_dropshipper_gets_them_all() -> None:
    ceilings = (
        scoring.TITLE_POINTS, scoring.PRODUCT_POINTS, scoring.CATEGORY_POINTS,
        scoring.MARKUP_POINTS, scoring.FEEDBACK_POINTS, scoring.RECURRENCE_POINTS,
    )  # fmt: skip
    assert sum(ceilings) == scoring.MAX_SCORE == 100
    points, reasons = scoring.score(figures())
    assert points == 100 and [r.points for r in reasons] == list(ceilings)
    assert reasons[0].text == "Copies Amazon titles: median match 0.97 (+35)"


def test_no_evidence_no_score() -> None:
    assert scoring.score(figures(listings_seen=0, products_matched=0, category_ids=[])) == (None, [])


def test_reasons_always_add_up_to_the_score_within_0_and_100() -> None:
    grid = itertools.product(
        [0.0, 0.6, 0.8, 1.0],
        [1, 3, 60],
        [0, 1, 7],
        [None, [1.8, 2.0, 2.2], [2.0, 2.0, 2.0]],
        [0.0, 0.5, None],
        [None, 0, 150, 40_000, 3_000_000],
        [1, 2, 9],
    )
    for match, products, categories, quartiles, in_window, feedback, runs in grid:
        f = figures(
            median_title_match=match, products_matched=products, category_ids=[str(n) for n in range(categories)],
            markup_quartiles=quartiles, markup_in_window=in_window, feedback_score=feedback,
            run_ids=[uuid.uuid4() for _ in range(runs)],
            priced_listings=0 if quartiles is None else 5,
        )  # fmt: skip
        points, reasons = scoring.score(f)
        assert points is not None and 0 <= points <= 100
        assert sum(r.points for r in reasons) == points
        assert all(r.text.endswith(f"(+{r.points})") and r.points >= 0 for r in reasons)


def test_each_signal_moves_the_score_the_way_the_domain_says() -> None:
    base, _ = scoring.score(figures())
    assert base is not None
    worse = [
        figures(median_title_match=0.55),  # own wording
        figures(products_matched=1),  # one product
        figures(category_ids=["a"]),  # one category
        figures(markup_quartiles=[1.8, 2.0, 2.2]),  # prices anywhere in the window
        figures(feedback_score=400_000),  # a very large established store
        figures(run_ids=[uuid.uuid4()]),  # seen once
        figures(priced_listings=2),  # too few prices to judge
    ]
    for f in worse:
        lower, _ = scoring.score(f)
        assert lower is not None and lower < base, f
    _, reasons = scoring.score(figures(feedback_score=400_000, priced_listings=2))
    assert reasons[4].text == "Feedback 400,000: a very large established store (+0)"
    assert reasons[3].value is None and "Too few listings" in reasons[3].text


def test_products_count_on_a_log_scale() -> None:
    points = [scoring.score(figures(products_matched=n))[1][1].points for n in (1, 5, 25, 100)]
    assert points == [0, round(20 * math.log(5) / math.log(25)), 20, 20]


@pytest.mark.parametrize(
    ("ebay", "amazon", "low", "high"),
    [
        (
            "NEW Sony WH-1000XM5 Wireless Headphones, Black - FREE SHIPPING",
            "Sony WH-1000XM5 Wireless Headphones, Black",
            1,
            1,
        ),
        (
            "Sony WH-1000XM5 Wireless Noise Canceling Headphones",
            "Sony WH-1000XM5 Wireless Noise Canceling Headphones, 30 Hour Battery, Alexa",
            1,
            1,
        ),
        (
            "Sony Headphones Wireless Black Genuine X774",
            "Sony WH-1000XM5 Wireless Noise Canceling Headphones, Black",
            0.4,
            0.7,
        ),
        ("Vintage ceramic mug handmade", "Sony WH-1000XM5 Wireless Noise Canceling Headphones", 0, 0.5),
        ("", "Sony WH-1000XM5", 0, 0),
    ],
)
def test_title_match_tells_a_copy_from_own_wording(ebay: str, amazon: str, low: float, high: float) -> None:
    assert low <= title_match(ebay, amazon) <= high


def test_title_normalisation() -> None:
    assert normalise_title("NEW!! Ｓｏｎｙ® WH_1000 “Fast” Free Shipping, US Seller") == "sony wh 1000"


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://www.ebay.com/itm/123", True),
        ("https://ebay.co.uk/itm/123?x=1", True),
        ("https://www.amazon.de/dp/B000000001", True),
        ("javascript:alert(1)", False),
        ("http://www.ebay.com/itm/123", False),
        ("http://evil.example/", False),
        ("https://evil.example/www.ebay.com", False),
        ("https://www.ebay.com.evil.example/itm/1", False),
        ("https://www.ebay.com@evil.example/", False),
        ("https://user@www.ebay.com/", False),
        ("https://www.ebay.com:8443/itm/1", False),
        ("https://pages.ebay.com/x", False),
        ("https://m.ebay.com/itm/123", True),  # eBay's mobile site
        ("https://m.ebay.com.evil.example/itm/1", False),
        ("https://m.www.ebay.com/itm/1", False),
        ("https://www.ebay.com/itm/1 onmouseover=x", False),
        ("https://www.ebay.com/\\evil", False),
        ("https://[::1/", False),
        ("https://www.ebay.com/itm/1\x01", False),
        ("https://www.ebay.de", True),
        ("", False),
    ],
)
def test_only_https_marketplace_links_pass(url: str, safe: bool) -> None:
    assert (marketplace_url(url) == url) is safe


def test_links_built_from_ids_and_names() -> None:
    assert ebay_item_url("123456789012") == "https://www.ebay.com/itm/123456789012"
    assert ebay_item_url("12a") is None and ebay_item_url("0123") is None
    assert amazon_product_url("B0ABCDEF12") == "https://www.amazon.com/dp/B0ABCDEF12"
    assert amazon_product_url("../../x") is None
    assert ebay_profile_url("a/b c?") == "https://www.ebay.com/usr/a%2Fb%20c%3F"
