"""An offline, deterministic marketplace for demos and tests.

Everything derives from `settings.demo_seed`: the same node id always lists the same products, the
same (query, page) always shows the same sellers. With `demo_churn` set, each best-seller list
replaces that share of its products per simulated day (`demo_day`, else the days since
2026-01-01), so repeat runs meet a few new products, as on Amazon. A few best sellers appear in many categories and
sellers come from one shared pool, so cross-category and cross-product deduplication have real
work to do. Latency, failures and rate limiting can be switched on to exercise the pipeline.

Sellers are of three kinds, so that evidence and the dropshipper score mean something offline:

- dropshippers copy the Amazon title (cut to eBay's 80 characters, sometimes with "NEW" or
  "Fast Free Shipping" added) across many best sellers, priced at a steady multiple of Amazon's
  (each at its own place in the window, about twice the Amazon price), with hundreds to low
  thousands of ratings;
- established stores write their own titles (the brand and the noun, in their words), price
  anywhere in the window, and have very large feedback;
- occasional sellers show up with unrelated listings and little feedback.

The kind of each seller (`seller_kinds`) is ground truth for the ranking benchmark only: nothing
in the pipeline or the score reads it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import random
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from typing import Literal, NamedTuple

from app.config import Settings
from app.errors import RateLimited, UpstreamError
from app.scrapers.base import AmazonProduct, EbayListing, EbaySearchPage, EbaySeller, PriceWindow
from app.scrapers.oxylabs import ebay_search_url

logger = logging.getLogger(__name__)

SELLER_POOL_SIZE = 3000
# Best sellers listed in many categories at once; each category shows a few of them.
CROSS_LISTED_POOL_SIZE = 8
MIN_PRODUCTS, MAX_PRODUCTS = 30, 50
MAX_SELLERS_PER_PAGE = 8
MAX_PAGES_PER_QUERY = 4
# Day 0 of the simulated calendar when `demo_day` is unset.
DEMO_EPOCH = date(2026, 1, 1)


class Vocabulary(NamedTuple):
    brands: tuple[str, ...]
    adjectives: tuple[str, ...]
    nouns: tuple[str, ...]


def _load_words() -> tuple[dict[str, Vocabulary], tuple[str, ...]]:
    """Product words by department id (of app/data/amazon_categories.json), and the words of seller ids."""
    data = json.loads(resources.files("app").joinpath("data/demo_words.json").read_text(encoding="utf-8"))
    vocabularies = {
        department: Vocabulary(tuple(words["brands"]), tuple(words["adjectives"]), tuple(words["nouns"]))
        for department, words in data["departments"].items()
    }
    return vocabularies, tuple(data["seller_words"])


VOCABULARIES, SELLER_WORDS = _load_words()
VARIANTS = ("", "", "", ", 2 Pack", ", Black", ", Large", ", 12 Count", ", Blue", " (Pack of 3)")
PRICE_ENDINGS = ("0.99", "0.99", "0.49", "0.95", "0.00", "0.89", "0.97")

# Seller user IDs are composed the way real ones are: a word or two, sometimes digits or a shop suffix.
SELLER_SUFFIXES = ("", "", "", "store", "shop", "deals", "goods", "outlet", "usa", "trading", "co", "llc")
SELLER_JOINERS = ("", "", "_", "-", ".")

SellerKind = Literal["dropshipper", "established", "occasional"]
# The popular front of the pool (the sellers that turn up for many products) is mostly resellers.
POPULAR_SELLERS = 300
KIND_ODDS: dict[bool, tuple[float, float]] = {True: (0.45, 0.30), False: (0.04, 0.03)}  # (dropshipper, established)
DROPSHIP_ADDITIONS = ("", "", "", "NEW ", " - Fast Free Shipping", " Brand New", " US Seller")
STORE_WORDS = ("Retail Packaging", "Authorized Dealer", "Official", "with Warranty", "OEM", "Open Stock", "Genuine")


@dataclass(frozen=True)
class _DemoSeller:
    seller: EbaySeller
    kind: SellerKind
    price_position: float  # where in the price window a dropshipper prices (its steady markup)


@dataclass(frozen=True)
class _World:
    """The pools one seed produces, built once and shared by every provider using that seed."""

    seed: int
    sellers: tuple[EbaySeller, ...]
    kinds: dict[str, _DemoSeller]
    cross_listed: tuple[AmazonProduct, ...]
    departments: dict[str, str]  # browse node id -> department id


class DemoMarketplace:
    name: str = "demo"

    def __init__(self, settings: Settings) -> None:
        self._world = _world(settings.demo_seed)
        self._latency_seconds = settings.demo_latency_ms / 1000
        self._error_rate = settings.demo_error_rate
        self._rate_limit_rate = settings.demo_rate_limit_rate
        self._retry_after = settings.demo_retry_after_seconds
        # One stream of draws per provider: the same sequence of calls meets the same failures.
        self._faults = random.Random(settings.demo_seed)
        self._churn = settings.demo_churn
        self._day = settings.demo_day
        self._products: dict[tuple[str, int], list[AmazonProduct]] = {}
        # How late asyncio timers fire here (seconds), learnt as calls go: see _simulate_latency.
        self._timer_lateness = 0.0

    async def aclose(self) -> None:
        return None

    @property
    def day(self) -> int:
        """The simulated day: `demo_day`, else the days since DEMO_EPOCH (no churn: always 0)."""
        if not self._churn:
            return 0
        if self._day is not None:
            return self._day
        return max(0, (datetime.now(UTC).date() - DEMO_EPOCH).days)

    async def bestsellers(self, node_id: str) -> list[AmazonProduct]:
        await self._upstream()
        key = (node_id, self.day)
        products = self._products.get(key)
        if products is None:
            products = self._products[key] = bestsellers_on(self._world, node_id, day=key[1], churn=self._churn)
        return list(products)

    async def search_sellers(
        self, query: str, window: PriceWindow, page: int, *, list_view_forced: bool = False
    ) -> EbaySearchPage:
        url = ebay_search_url(query, window, page)
        if not 0 <= window.low < window.high:
            return EbaySearchPage(sellers=[], has_more=False, url=url)
        await self._upstream()
        sellers, has_more = _search(self._world, query, page)
        # One listing per seller found, worded and priced the way its kind does.
        rng = _rng(self._world.seed, "listings", query, page)
        listings = [_listing(self._world.kinds[seller.username], seller, query, window, rng) for seller in sellers]
        return EbaySearchPage(sellers=sellers, has_more=has_more, url=url, listings=listings)

    def seller_kind(self, username: str) -> SellerKind | None:
        """Ground truth for the ranking benchmark: the kind of a demo seller (None: not a demo seller)."""
        found = self._world.kinds.get(username)
        return None if found is None else found.kind

    async def _simulate_latency(self) -> None:
        """Take the configured latency, on average exactly.

        asyncio timers fire up to ~1 ms late (epoll waits in whole milliseconds), which would make
        every simulated call slower than configured. We aim early by the lateness observed so far
        (a running average, so mean lateness converges to zero), keeping benchmarks about the
        pipeline rather than the timer.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._latency_seconds
        await asyncio.sleep(max(0.0, self._latency_seconds - self._timer_lateness))
        late = loop.time() - deadline
        self._timer_lateness = min(max(0.0, self._timer_lateness + 0.05 * late), self._latency_seconds / 2)

    async def _upstream(self) -> None:
        """Pretend to be a remote API: take some time, and sometimes fail the way one does."""
        if self._latency_seconds > 0:
            await self._simulate_latency()
        draw = self._faults.random()
        if draw < self._rate_limit_rate:
            raise RateLimited("demo provider is rate limiting", retry_after=self._retry_after)
        if draw < self._rate_limit_rate + self._error_rate:
            raise UpstreamError("demo provider answered HTTP 503", error_type="http_error")


def _rng(*parts: object) -> random.Random:
    # String seeds are hashed with SHA-512 by `random`, so they are stable across processes.
    return random.Random(":".join(str(part) for part in parts))


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()[:8], "big")


def _asin(*parts: object) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    number = _digest("asin", *parts)
    chars = []
    for _ in range(8):
        number, index = divmod(number, len(alphabet))
        chars.append(alphabet[index])
    return "B0" + "".join(chars)


@functools.lru_cache(maxsize=8)
def _world(seed: int) -> _World:
    rng = _rng(seed, "world")
    departments = _known_departments()
    cross_listed = tuple(
        _product(rng, _asin(seed, "cross", index), VOCABULARIES[rng.choice(sorted(VOCABULARIES))], position=1)
        for index in range(CROSS_LISTED_POOL_SIZE)
    )
    pool = _seller_pool(rng)
    kinds = {s.seller.username: s for s in pool}
    return _World(
        seed=seed,
        sellers=tuple(s.seller for s in pool),
        kinds=kinds,
        cross_listed=cross_listed,
        departments=departments,
    )


def seller_kinds(seed: int) -> dict[str, SellerKind]:
    """Every demo seller of `seed` and its kind (ground truth for benchmarks; the score never reads it)."""
    return {name: s.kind for name, s in _world(seed).kinds.items()}


def _known_departments() -> dict[str, str]:
    """Node id -> department id from the bundled category list, so titles fit the category."""
    try:
        text = resources.files("app").joinpath("data/amazon_categories.json").read_text(encoding="utf-8")
        data = json.loads(text)
        mapping: dict[str, str] = {}
        for department in data["departments"]:
            mapping[str(department["node_id"])] = department["id"]
            for category in department.get("categories", []):
                mapping[str(category["node_id"])] = department["id"]
        return mapping
    except (OSError, ValueError, KeyError, TypeError):
        # Only flavour depends on it: unknown nodes still get a stable department below.
        logger.warning("demo marketplace could not read the category list; titles will be generic", exc_info=True)
        return {}


def _vocabulary(world: _World, node_id: str) -> Vocabulary:
    department = world.departments.get(node_id)
    if department not in VOCABULARIES:
        names = sorted(VOCABULARIES)
        department = names[_digest(world.seed, "department", node_id) % len(names)]
    return VOCABULARIES[department]


def _product(rng: random.Random, asin: str, words: Vocabulary, position: int) -> AmazonProduct:
    title = f"{rng.choice(words.brands)} {rng.choice(words.adjectives)} {rng.choice(words.nouns)}"
    title += rng.choice(VARIANTS)
    # About one best seller in forty is unavailable and shows no price, as on Amazon.
    price = None if rng.random() < 0.025 else Decimal(rng.randint(5, 149)) + Decimal(rng.choice(PRICE_ENDINGS))
    return AmazonProduct(
        asin=asin,
        title=title,
        price=price,
        currency="USD",
        rating=round(rng.uniform(3.6, 5.0), 1),
        url=f"https://www.amazon.com/dp/{asin}",
        position=position,
    )


def _bestsellers(world: _World, node_id: str) -> list[AmazonProduct]:
    rng = _rng(world.seed, "node", node_id)
    count = rng.randint(MIN_PRODUCTS, MAX_PRODUCTS)
    shared = rng.sample(world.cross_listed, k=max(1, round(count / 10)))
    own_count = count - len(shared)
    words = _vocabulary(world, node_id)
    products = [_product(rng, _asin(world.seed, node_id, index), words, position=0) for index in range(own_count)]
    products.extend(shared)
    rng.shuffle(products)
    return [replace(product, position=position) for position, product in enumerate(products, start=1)]


def bestsellers_on(world: _World, node_id: str, *, day: int, churn: float) -> list[AmazonProduct]:
    """The list on simulated `day`: each day replaces round(churn x size) of its places with new products.

    A place keeps its product until a day picks it; the product then put there is new (its own ASIN).
    """
    products = _bestsellers(world, node_id)
    size = len(products)
    replaced = min(size, round(churn * size))
    if day <= 0 or replaced == 0:
        return products
    generation = [0] * size
    for today in range(1, day + 1):
        for place in _rng(world.seed, "churn", node_id, today).sample(range(size), k=replaced):
            generation[place] += 1
    words = _vocabulary(world, node_id)
    return [
        product
        if generation[index] == 0
        else _product(
            _rng(world.seed, "churned", node_id, index, generation[index]),
            _asin(world.seed, node_id, index, "generation", generation[index]),
            words,
            position=index + 1,
        )
        for index, product in enumerate(products)
    ]


def demo_world(seed: int) -> _World:
    """The pools of `seed` (for tests and benchmarks that work out what the demo shows)."""
    return _world(seed)


def _seller_pool(rng: random.Random) -> tuple[_DemoSeller, ...]:
    names: dict[str, None] = {}
    while len(names) < SELLER_POOL_SIZE:
        name = rng.choice(SELLER_WORDS)
        if rng.random() < 0.7:
            name += rng.choice(SELLER_JOINERS) + rng.choice(SELLER_WORDS)
        name += rng.choice(SELLER_SUFFIXES)
        # eBay asks new members for six characters or more; short words get a number, as people do.
        if len(name) < 6:
            name += str(rng.randint(100, 999))
        elif rng.random() < 0.3:
            name += str(rng.randint(1, 999))
        names.setdefault(name, None)
    sellers = []
    for index, name in enumerate(names):
        dropship, established = KIND_ODDS[index < POPULAR_SELLERS]
        draw = rng.random()
        kind: SellerKind = (
            "dropshipper" if draw < dropship else "established" if draw < dropship + established else "occasional"
        )
        feedback = _feedback(rng, kind)
        percent = Decimal(str(round(min(100.0, rng.triangular(93.0, 100.0, 99.8)), 1)))
        seller = EbaySeller(username=name, feedback_count=feedback, feedback_percent=percent, item_url=None)
        sellers.append(_DemoSeller(seller, kind, price_position=rng.uniform(0.3, 0.7)))
    return tuple(sellers)


def _feedback(rng: random.Random, kind: SellerKind) -> int:
    """Ratings by kind: dropshippers hundreds to low thousands, stores very many, occasional sellers few
    (each spread wide enough to overlap the others now and then)."""
    if kind == "dropshipper":
        return int(min(max(rng.lognormvariate(6.6, 1.1), 5), 60_000))
    if kind == "established":
        return int(min(max(rng.lognormvariate(10.8, 1.2), 2_000), 2_000_000))
    return int(min(rng.lognormvariate(4.0, 1.5), 20_000))


def _truncated(title: str, limit: int) -> str:
    """`title` cut to at most `limit` characters, at a word boundary (eBay titles have at most 80)."""
    if len(title) <= limit:
        return title
    return title[:limit].rsplit(" ", 1)[0]


# Kinds are not clean-cut: sometimes a dropshipper rewords a title, a store lists a product under
# its Amazon title, an occasional seller sells the very product searched for.
OFF_PATTERN = {"dropshipper": 0.15, "established": 0.2, "occasional": 0.25}


def _listing_title(demo: _DemoSeller, query: str, rng: random.Random) -> str:
    kind = demo.kind
    if rng.random() < OFF_PATTERN[kind]:
        kind = "established" if kind != "established" else "dropshipper"
    if kind == "dropshipper":
        addition = rng.choice(DROPSHIP_ADDITIONS)
        copied = _truncated(query, 80 - len(addition))
        return addition + copied if addition.endswith(" ") else copied + addition
    if kind == "established":
        # The brand and a couple of the product's words, in the store's own words and order.
        words = [w.strip(",()") for w in query.split()]
        kept = rng.sample(words[1:], k=min(2, len(words) - 1))
        model = f"{rng.choice('ABCDEFGHJKLMNPRSTUVWXZ')}{rng.randint(10, 9999)}"
        return " ".join([words[0], *kept, rng.choice(STORE_WORDS), model])
    vocabulary = VOCABULARIES[rng.choice(sorted(VOCABULARIES))]
    return f"{rng.choice(vocabulary.adjectives)} {rng.choice(vocabulary.nouns)} {rng.choice(vocabulary.brands)} lot"


def _listing(demo: _DemoSeller, seller: EbaySeller, query: str, window: PriceWindow, rng: random.Random) -> EbayListing:
    span = window.high - window.low
    # A dropshipper prices by formula (a steady place in the window); the others anywhere in it.
    position = demo.price_position + rng.uniform(-0.02, 0.02) if demo.kind == "dropshipper" else rng.random()
    price = (window.low + span * Decimal(str(round(position, 4)))).quantize(Decimal("0.01"))
    return EbayListing(
        item_id=seller.item_url.rsplit("/", 1)[-1] if seller.item_url else None,
        title=_listing_title(demo, query, rng),
        price=price,
        currency="USD",
        url=seller.item_url,
        seller=seller,
        location="US",
    )


def _popular_index(rng: random.Random, size: int) -> int:
    # Skewed towards the front of the pool: a few big resellers turn up for many products.
    return min(size - 1, int(size * rng.random() ** 2.5))


def _search(world: _World, query: str, page: int) -> tuple[list[EbaySeller], bool]:
    query_rng = _rng(world.seed, "query", query)
    pages = query_rng.randint(1, MAX_PAGES_PER_QUERY)
    if page > pages:
        return [], False
    pool = world.sellers
    regulars = [pool[_popular_index(query_rng, len(pool))] for _ in range(12)]
    rng = _rng(world.seed, "query", query, "page", page)
    found: dict[str, EbaySeller] = {}
    for _ in range(rng.randint(0, MAX_SELLERS_PER_PAGE)):
        seller = rng.choice(regulars) if rng.random() < 0.5 else pool[_popular_index(rng, len(pool))]
        if seller.username not in found:
            item_id = rng.randint(10**11, 10**12 - 1)
            found[seller.username] = replace(seller, item_url=f"https://www.ebay.com/itm/{item_id}")
    return list(found.values()), page < pages
