"""Links built from upstream data: only https links to the marketplaces' own sites ever leave as a URL.

An upstream answer is data, not something to trust: a listing URL could be `javascript:...` or
point anywhere. Each URL is checked when it comes in (the pipeline keeps only a safe one) and again
when it goes out (API fields, exports); anything else is never a link.
"""

from __future__ import annotations

import re
from urllib.parse import quote

# eBay's and Amazon's own sites (https://<host>, www.<host> or m.<host>, the mobile site); no other subdomain.
EBAY_HOSTS = frozenset(
    f"ebay.{tld}"
    for tld in ("com", "co.uk", "de", "ca", "com.au", "fr", "it", "es", "at", "ch", "ie", "nl", "be", "pl", "ph",
                "com.hk", "com.sg", "com.my", "in")
)  # fmt: skip
AMAZON_HOSTS = frozenset(
    f"amazon.{tld}"
    for tld in ("com", "co.uk", "de", "ca", "com.au", "fr", "it", "es", "nl", "pl", "se", "sg", "in", "co.jp",
                "com.mx", "com.br", "ae", "sa", "com.tr", "com.be")
)  # fmt: skip
MARKETPLACE_HOSTS = EBAY_HOSTS | AMAZON_HOSTS
MAX_URL_LENGTH = 2048
_ITEM_ID = re.compile(r"[1-9][0-9]{0,18}")
_ASIN = re.compile(r"[0-9A-Z]{10}")


def _sites(hosts: frozenset[str]) -> str:
    return "|".join(re.escape(site) for site in sorted(hosts))


# https, an optional "www." or "m.", one of the sites, then nothing (no credentials, no port) or a path without
# white space, control characters or backslashes. One regular expression, so the check costs about a
# microsecond, and the same expression serves PostgreSQL (url_pattern) for the exports.
_PATH = r"(/[^\x00-\x20\x7f\\]*)?"
_MARKETPLACE = re.compile(rf"https://(www\.|m\.)?({_sites(MARKETPLACE_HOSTS)}){_PATH}")
_EBAY = re.compile(rf"https://(www\.|m\.)?({_sites(EBAY_HOSTS)}){_PATH}")


def marketplace_url(value: object, hosts: frozenset[str] = MARKETPLACE_HOSTS) -> str | None:
    """`value` if it is an https URL on one of `hosts` (bare, www. or m.), without credentials or port; else None."""
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        return None
    pattern = _MARKETPLACE if hosts is MARKETPLACE_HOSTS else _EBAY if hosts is EBAY_HOSTS else None
    if pattern is None:
        pattern = re.compile(rf"https://(www\.|m\.)?({_sites(hosts)}){_PATH}")
    return value if pattern.fullmatch(value) else None


def ebay_item_url(item_id: str | int) -> str | None:
    """The canonical address of an eBay listing (the one a stored evidence row leaves out)."""
    text = str(item_id)
    return f"https://www.ebay.com/itm/{text}" if _ITEM_ID.fullmatch(text) else None


def ebay_profile_url(username: str) -> str | None:
    """A seller's public eBay profile; the name is percent-encoded, so it stays one path segment."""
    name = username.strip()
    return f"https://www.ebay.com/usr/{quote(name, safe='')}" if name else None


def amazon_product_url(asin: str) -> str | None:
    """The Amazon product page of an ASIN (ten capital letters or digits)."""
    return f"https://www.amazon.com/dp/{asin}" if _ASIN.fullmatch(asin) else None


def is_item_id(value: object) -> bool:
    return isinstance(value, str) and _ITEM_ID.fullmatch(value) is not None


def url_pattern(hosts: frozenset[str] = MARKETPLACE_HOSTS) -> str:
    """The same check as `marketplace_url`, as a PostgreSQL regular expression (for exports made by COPY)."""
    return rf"^https://(www\.|m\.)?({_sites(hosts)})(/[^[:cntrl:][:space:]\\]*)?$"
