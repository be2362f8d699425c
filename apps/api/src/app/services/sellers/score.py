"""The dropshipper score: 0 to 100 points, each one explained by the signal that gave it.

What it is: how likely it is, from the public listings a run read, that a seller resells Amazon
products. It is not a verdict and says nothing about a seller's business. Every point comes from
one of six signals (reference-seller-evidence.md lists them), each with a ceiling; the ceilings add
up to 100, and every signal gives between 0 and its ceiling, so the points in `score_reasons` add
up to the score exactly, with nothing clamped. The weights come from what tells an Amazon
dropshipper apart, not from any data set:

- Title copying (35): the strongest sign. A dropshipper lists the Amazon title itself, cut to
  eBay's 80 characters, maybe with "NEW" or "Fast shipping" added, which the title match ignores.
  Someone selling the same product in their own words shares the brand and a noun, which the
  title match (title_match.py) puts around 0.5-0.65. So no points up to a median match of 0.65,
  all from 0.95.
- Breadth: distinct Amazon best sellers matched (20) and their categories (10). One product is
  what any shop might sell; the pattern is many unrelated best sellers. Products count on a log
  scale (a 5th product tells more than a 50th): none for one, all from 25. Categories: none for
  one, all from 5.
- Markup consistency (15): a dropshipper prices by formula, so its price sits at a steady multiple
  of Amazon's; a retailer's prices do not track Amazon's. Scored from listings with a comparable
  price (3 at least): the share inside the price window searched, times how tight the markups are
  (interquartile range over median: all points at 0.03 or less, none at 0.13 or more; prices
  spread evenly over a 1.8-2.2x window give 0.10).
- Feedback band (10): most dropshippers have hundreds to low thousands of ratings; very large,
  long-established stores rarely dropship. 100-5,000 gives all 10; fewer gives less (a new
  seller could be anything); above 50,000 gives none.
- Recurrence (10): found again by separate runs. None for one run, all from four.

Without evidence (a seller added by hand) there is no score: None, not 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from app.models import ScoreSignal
from app.repositories.seller_profiles import ProfileFigures, ScoreReason

# The ceilings: they add up to 100 (MAX_SCORE).
TITLE_POINTS, PRODUCT_POINTS, CATEGORY_POINTS = 35, 20, 10
MARKUP_POINTS, FEEDBACK_POINTS, RECURRENCE_POINTS = 15, 10, 10
TITLE_FLOOR, TITLE_FULL = 0.65, 0.95
PRODUCTS_FULL = 25
CATEGORIES_FULL = 5
MIN_PRICED_LISTINGS = 3
SPREAD_FULL, SPREAD_NONE = 0.03, 0.13
RUNS_FULL = 4
# (upper bound of the feedback count, share of the feedback points, how it reads)
FEEDBACK_BANDS = (
    (9, 0.3, "a brand-new seller"),
    (99, 0.6, "a small seller"),
    (5_000, 1.0, "the usual size of a dropshipping store"),
    (50_000, 0.5, "a large store"),
    (math.inf, 0.0, "a very large established store"),
)


@dataclass(frozen=True)
class Markup:
    """A seller's markups (eBay price / Amazon price): their median, spread and share inside the window."""

    median: Decimal | None
    spread: Decimal | None
    in_window: float | None
    priced: int

    @classmethod
    def of(cls, figures: ProfileFigures) -> Markup:
        quartiles = figures.markup_quartiles
        if not quartiles or quartiles[1] is None or quartiles[1] <= 0:
            return cls(None, None, figures.markup_in_window, figures.priced_listings)
        low, median, high = quartiles
        return cls(
            median=round(Decimal(str(median)), 3),
            spread=round(Decimal(str((high - low) / median)), 3),
            in_window=figures.markup_in_window,
            priced=figures.priced_listings,
        )


def _share(value: float, zero_at: float, full_at: float) -> float:
    """0 at `zero_at`, 1 at `full_at`, linear between, 0..1 outside."""
    return min(1.0, max(0.0, (value - zero_at) / (full_at - zero_at)))


def _reason(signal: ScoreSignal, value: float | None, points: int, text: str) -> ScoreReason:
    return ScoreReason(signal=signal, value=value, points=points, text=f"{text} (+{points})")


def _title(f: ProfileFigures, _: Markup) -> ScoreReason:
    match = f.median_title_match or 0.0
    points = round(TITLE_POINTS * _share(match, TITLE_FLOOR, TITLE_FULL))
    verb = "Copies Amazon titles" if points >= TITLE_POINTS / 2 else "Writes its own titles"
    return _reason("title_match", round(match, 3), points, f"{verb}: median match {match:.2f}")


def _products(f: ProfileFigures, _: Markup) -> ScoreReason:
    n = f.products_matched
    points = round(PRODUCT_POINTS * min(1.0, math.log(max(n, 1)) / math.log(PRODUCTS_FULL)))
    noun = "Amazon best seller" if n == 1 else "different Amazon best sellers"
    return _reason("products", n, points, f"Lists {n:,} {noun}")


def _categories(f: ProfileFigures, _: Markup) -> ScoreReason:
    n = len(f.category_ids)
    points = round(CATEGORY_POINTS * _share(n, 1, CATEGORIES_FULL))
    return _reason("categories", n, points, f"Across {n} {'category' if n == 1 else 'categories'}")


def _markup(_: ProfileFigures, m: Markup) -> ScoreReason:
    if m.priced < MIN_PRICED_LISTINGS or m.median is None or m.spread is None:
        return _reason("markup", None, 0, f"Too few listings with a comparable price to judge the markup ({m.priced})")
    inside = m.in_window or 0.0
    tight = 1.0 - _share(float(m.spread), SPREAD_FULL, SPREAD_NONE)
    points = round(MARKUP_POINTS * inside * tight)
    steady = "a steady" if tight >= 0.5 else "an uneven"
    return _reason(
        "markup",
        float(m.spread),
        points,
        f"Prices at {steady} {m.median:.2f}x Amazon: {inside:.0%} inside the window, spread {m.spread:.2f}",
    )


def _feedback(f: ProfileFigures, _: Markup) -> ScoreReason:
    count = f.feedback_score
    if count is None:
        return _reason("feedback", None, 0, "Feedback not shown")
    share, words = next((share, words) for limit, share, words in FEEDBACK_BANDS if count <= limit)
    return _reason("feedback", count, round(FEEDBACK_POINTS * share), f"Feedback {count:,}: {words}")


def _recurrence(f: ProfileFigures, _: Markup) -> ScoreReason:
    n = f.runs_seen
    points = round(RECURRENCE_POINTS * _share(n, 1, RUNS_FULL))
    return _reason("recurrence", n, points, f"Seen in {n} {'run' if n == 1 else 'runs'}")


SIGNALS: tuple[Callable[[ProfileFigures, Markup], ScoreReason], ...] = (
    _title, _products, _categories, _markup, _feedback, _recurrence,
)  # fmt: skip
MAX_SCORE = TITLE_POINTS + PRODUCT_POINTS + CATEGORY_POINTS + MARKUP_POINTS + FEEDBACK_POINTS + RECURRENCE_POINTS


def score(figures: ProfileFigures) -> tuple[int | None, list[ScoreReason]]:
    """The score and its reasons; (None, []) for a seller without evidence."""
    if figures.listings_seen == 0:
        return None, []
    markup = Markup.of(figures)
    reasons = [signal(figures, markup) for signal in SIGNALS]
    return sum(r.points for r in reasons), reasons
