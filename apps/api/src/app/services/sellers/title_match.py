"""How closely an eBay listing's title copies the Amazon title it was found for: 0 (nothing shared) to 1.

Both titles are normalised the same way before they are compared:

1. Unicode NFKC and casefold, so "Ｗｉｒｅｌｅｓｓ" and "WIRELESS" are the same word;
2. punctuation and symbols become spaces ("3-Pack," is "3 pack");
3. marketing noise that resellers add and that says nothing about the product is dropped: the
   phrases in NOISE_PHRASES ("free shipping", "us seller", "brand new", ...), then the words in
   NOISE_WORDS ("new", "fast", "nib", ...).

The score is rapidfuzz's `partial_ratio`: the listing's title against the stretch of the Amazon
title it best lines up with, in order. A copied title, cut to eBay's 80 characters or with words
added in front, lines up with a stretch of the Amazon title letter for letter and scores 1; one
word changed scores about 0.9. A title in the seller's own words and order shares the brand and a
noun or two and scores about 0.5-0.65; an unrelated one about 0.3-0.45.

`token_set_ratio` was tried first and rejected: it gives 1 to any title whose words all occur in
the Amazon title, so a store's own "Sony Headphones Wireless Black" scored 0.92 against Sony's
listing and could not be told from a copy.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from rapidfuzz import fuzz

NOISE_PHRASES = (
    "free fast shipping", "fast free shipping", "free shipping", "fast shipping", "same day shipping",
    "ships fast", "fast ship", "ships from usa", "ships from us", "us seller", "usa seller", "us stock",
    "usa stock", "brand new", "new in box", "factory sealed", "in stock", "hot sale", "free returns",
)  # fmt: skip
NOISE_WORDS = frozenset({"new", "fast", "nib", "nwt", "sealed", "authentic", "genuine", "oem", "sale", "hot"})

_WORD = re.compile(r"[^\W_]+")
_PHRASES = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in NOISE_PHRASES) + r")\b")


@functools.lru_cache(maxsize=4096)  # a product's title is compared with each of its listings
def normalise_title(title: str) -> str:
    """The title as compared: NFKC, casefolded, punctuation as spaces, marketing noise dropped."""
    text = " ".join(_WORD.findall(unicodedata.normalize("NFKC", title).casefold()))
    if _PHRASES.search(text):
        text = _PHRASES.sub(" ", text)
    return " ".join(word for word in text.split() if word not in NOISE_WORDS)


def title_match(ebay_title: str, amazon_title: str) -> float:
    """0..1, three decimals: how much of the listing's wording is the Amazon product's."""
    ebay, amazon = normalise_title(ebay_title), normalise_title(amazon_title)
    if not ebay or not amazon:
        return 0.0
    return round(fuzz.partial_ratio(ebay, amazon) / 100, 3)
