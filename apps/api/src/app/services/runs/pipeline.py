"""The collection pipeline: the Amazon phase, then the eBay phase, on `ParallelCollectionRunner`.

Every category and product is a durable work item. A worker claims an item, calls the upstream
(`upstream.call_upstream`: transient errors are retried; a 429 makes the *whole run* wait out
Retry-After), then
commits the item's results and the run's counters in one transaction, and only then publishes
the item's events. So a pause, crash or restart never loses finished work and never re-fetches it.
A searched product's commit and events run in its worker's writer (`Deferred`), while the worker
already searches its next product: the commit is off the worker's path, not out of its order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

import stamina
from psycopg import errors as pg_errors

from app import metrics
from app.config import Settings
from app.db.outage import is_database_fault
from app.db.pool import Pool, probe_database
from app.errors import AppError, UpstreamError
from app.models import ActivityAction, FoundSeller, Refresh
from app.repositories import evidence as evidence_repo
from app.repositories import items as items_repo
from app.repositories import runs as runs_repo
from app.repositories import search_memory
from app.repositories import sellers as sellers_repo
from app.repositories import usage as usage_repo
from app.repositories.items import CategoryPayload, ProductPayload, WorkItem
from app.scrapers.base import EbaySearchPage, EbaySeller, Marketplace, PriceWindow
from app.scrapers.prices import parse_price, to_cents
from app.services.activity_stream import ActivityBackend
from app.services.parallel_runner import (
    ActivityEvent,
    CollectionPausedException,
    Deferred,
    ParallelCollectionRunner,
    create_activity_event,
)
from app.services.runs.limiter import AdaptiveLimiter
from app.services.runs.outage import DatabaseWait
from app.services.runs.upstream import RateGate, call_upstream, ms_since
from app.services.runs.usage import RequestMeter, UsageDelta, prices_per_1000
from app.services.sellers.evidence import page_evidence
from app.services.sellers.names import normalize_name
from app.services.sellers.profiles import ProfileRefresher, refreshing_profiles
from app.status import ItemKind, ItemStatus, RunPhase

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Sellers a product's `found` event names (the web shows them on its card).
FOUND_SELLERS_NAMED = 3
# A run pauses once at least this many answers could not be read and they outnumber the readable ones.
LAYOUT_PAUSE_MIN = 3
# A result page under this share of listings with a readable seller line gets a `layout` error event
# (it still yields what it read); a run whose last COVERAGE_PAGES pages together stay under
# COVERAGE_PAUSE pauses, as one whose pages cannot be read at all does.
COVERAGE_WARN = 0.9
COVERAGE_PAUSE = 0.5
COVERAGE_PAGES = 10


class RunFailed(AppError):
    """The run cannot go on (nothing to search, no credentials, ...)."""


@dataclass
class LayoutWatch:
    """Answers of the current phase that were read, those whose page layout was not understood, and
    the seller-line coverage of the last result pages read (listings, listings with a seller)."""

    read: int = 0
    unreadable: int = 0
    pages: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=COVERAGE_PAGES))

    @property
    def mostly_unreadable(self) -> bool:
        return self.unreadable >= LAYOUT_PAUSE_MIN and self.unreadable > self.read

    @property
    def recent_coverage(self) -> tuple[int, int]:
        """Listings with a readable seller line, and listings, over the last pages read."""
        return sum(seller for _, seller in self.pages), sum(listings for listings, _ in self.pages)

    @property
    def coverage_low(self) -> bool:
        """The last COVERAGE_PAGES pages, all read, together under COVERAGE_PAUSE."""
        with_seller, listings = self.recent_coverage
        return len(self.pages) == COVERAGE_PAGES and with_seller < COVERAGE_PAUSE * listings


@dataclass
class WorkerState:
    worker_id: int
    phase: str
    state: str
    label: str | None
    since: str


@dataclass
class RunContext:
    run_id: UUID
    org_id: UUID
    pool: Pool
    settings: Settings
    marketplace: Marketplace
    stream: ActivityBackend
    gate: RateGate = field(default_factory=RateGate)
    workers: dict[int, WorkerState] = field(default_factory=dict)
    runner: ParallelCollectionRunner = field(init=False)
    limiter: AdaptiveLimiter = field(init=False)
    meter: RequestMeter = field(init=False)
    layout: LayoutWatch = field(init=False)
    limiter_provider: str | None = field(default=None, init=False)
    usage_flushed_at: float = 0.0
    # Items' `processing` marks still on their way (see _claimed): settled before in-flight items are released.
    marks: set[asyncio.Task[None]] = field(default_factory=set)
    # The eBay phase: products not yet done (stored, skipped or failed).
    products_left: int = 0
    outage: DatabaseWait = field(init=False)
    # Waited for the database past `db_outage_pause_seconds`: paused until it answers again.
    paused_for_database: bool = False
    # The run's refresh choice: "new" searches what the search memory says is due, "all" everything.
    refresh: Refresh = "new"

    def __post_init__(self) -> None:
        # One runner serves both phases (each `run` starts afresh); every event of the run goes
        # through it, so its callback is the single place events are published.
        self.runner = ParallelCollectionRunner(max_workers=self.settings.workers, on_activity=self._publish)
        self.meter = RequestMeter(prices_per_1000(self.settings))
        self.outage = DatabaseWait(
            self.settings.db_outage_pause_seconds, self._publish, probe=partial(probe_database, self.pool)
        )
        self.start_phase("amazon")

    def start_phase(self, phase: str) -> None:
        """A phase on another provider learns that upstream's limits afresh; the same provider keeps them."""
        settings = self.settings
        provider = self.provider(phase)
        if self.limiter_provider != provider:
            self.limiter = AdaptiveLimiter(
                settings.workers, max_rps=settings.max_rps(provider), fixed=not settings.adaptive_concurrency
            )
            self.limiter_provider = provider
        self.layout = LayoutWatch()

    def provider(self, phase: str) -> str:
        """The provider serving `phase` ("oxylabs+ebay_api" serves Amazon from oxylabs, eBay from the API)."""
        amazon, _, ebay = self.marketplace.name.partition("+")
        return (ebay or amazon) if phase == "ebay" else amazon

    async def emit(self, event: ActivityEvent) -> None:
        """Publish `event` through the runner: now, in order, and never breaking the caller."""
        await self.runner.emit_activity(event)

    def _publish(self, event: ActivityEvent) -> None:
        """The runner's `on_activity`: track each worker's latest step, then publish to the run's stream."""
        if event.worker_id > 0:
            self.workers[event.worker_id] = WorkerState(
                worker_id=event.worker_id,
                phase=event.phase,
                state=event.action,
                label=event.product_name or event.category,
                since=event.timestamp,
            )
        self.stream.push(self.run_id, event)

    async def settle_marks(self, timeout: float) -> None:
        """Let the `processing` marks in flight land (a stopped worker no longer waits for its own)."""
        if self.marks:
            await asyncio.wait(set(self.marks), timeout=timeout)

    def lanes(self) -> list[dict[str, Any]]:
        """Each worker's latest step, as progress shows it (and as other processes read it from the row)."""
        return [vars(w) for w in sorted(self.workers.values(), key=lambda w: w.worker_id)]


def _usable_price(value: object) -> Decimal | None:
    """The stored Amazon price, if it can anchor an eBay price window (a zero price cannot)."""
    price = parse_price(value)
    return price if price is not None and price > 0 else None


USAGE_FLUSH_SECONDS = 1.0


async def _flush_usage(ctx: RunContext, *, force: bool = False) -> None:
    """Add the requests counted since the last flush to the run: at most once a second, and at phase ends.

    Once a second, not once per item: a statement per item on the run's row would cost a database
    round trip on every item's critical path. A crash loses at most a second of counts.
    """
    now = time.monotonic()
    if not force and now - ctx.usage_flushed_at < USAGE_FLUSH_SECONDS:
        return
    ctx.usage_flushed_at = now
    delta = ctx.meter.drain()
    if delta.empty:
        return
    try:
        await ctx.outage.hold(partial(_store_usage, ctx, delta))
    except BaseException:
        ctx.meter.give_back(delta)
        raise


async def _flush_usage_at_phase_end(ctx: RunContext) -> None:
    """The phase's last flush; while the database is away it is left to the next flush after the outage.

    Waiting here would hold up the run's stop for the database (this runs as the phase unwinds).
    """
    if ctx.outage.since is not None:
        return
    try:
        await _flush_usage(ctx, force=True)
    except Exception as exc:
        if not is_database_fault(exc):
            raise
        logger.warning("run %s: usage left for the next flush, the database does not answer", ctx.run_id)


async def _store_usage(ctx: RunContext, delta: UsageDelta) -> None:
    async with ctx.pool.connection() as conn:
        await usage_repo.add_usage(
            conn, run_id=ctx.run_id, requests=delta.requests, cost=delta.cost, pages_skipped=delta.pages_skipped,
            listings_read=delta.listings_read, listings_with_seller=delta.listings_with_seller,
        )  # fmt: skip


def _layout_failure(ctx: RunContext, exc: Exception) -> CollectionPausedException | None:
    """Count an unreadable answer; the pause to raise when the phase's answers are now mostly unreadable."""
    if not (isinstance(exc, UpstreamError) and exc.error_type == "layout"):
        return None
    ctx.layout.unreadable += 1
    if not ctx.layout.mostly_unreadable:
        return None
    watch = ctx.layout
    return CollectionPausedException(
        f"the page layout was not understood: {watch.unreadable} of {watch.read + watch.unreadable} answers "
        f"could not be read (last: {exc.detail})",
        reason="layout",
    )


async def _page_coverage(ctx: RunContext, page: EbaySearchPage, worker_id: int, fields: dict[str, Any]) -> None:
    """Count a result page's listings and seller lines; a page under COVERAGE_WARN says so in the feed.

    The page still yields every seller it read: a partial page is reported, never dropped.
    """
    listings, with_seller = len(page.listings), page.listings_with_seller
    ctx.meter.read_listings(listings, with_seller)
    if not listings:
        return
    ctx.layout.pages.append((listings, with_seller))
    if with_seller < COVERAGE_WARN * listings:
        await ctx.emit(
            create_activity_event(
                worker_id, "ebay", "error", error_type="layout", url=page.url,
                error_message=f"{listings - with_seller} of {listings} listings without a readable seller",
                **fields,
            )
        )  # fmt: skip


def _coverage_pause(ctx: RunContext) -> CollectionPausedException | None:
    """The pause to raise when the last pages read together had too few readable seller lines."""
    if not ctx.layout.coverage_low:
        return None
    with_seller, listings = ctx.layout.recent_coverage
    return CollectionPausedException(
        f"seller lines could not be read: {listings - with_seller} of {listings} listings on the last "
        f"{COVERAGE_PAGES} result pages had no readable seller",
        reason="layout",
    )


# An item's commit is retried if PostgreSQL picks it as a deadlock or serialization victim.
_commit = stamina.AsyncRetryingCaller(attempts=5, timeout=None, wait_initial=0.01, wait_max=0.5).on(
    (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
)


async def _stored(ctx: RunContext, step: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Commit one of an item's outcomes, waiting for the database if it is away (the results wait in memory).

    Every step is idempotent (an item is finished once), so a commit whose answer was lost is safe to redo.
    """
    return await ctx.outage.hold(partial(_commit, step, ctx, *args))


async def _item_failed(ctx: RunContext, item: WorkItem[Any], exc: Exception) -> None:
    """Store the item's failure and its requests; pause the run when its answers are mostly unreadable.

    The item that tips the run into a pause is not marked failed: it goes back to the queue, so a
    resume (once the layout is understood) searches it again. Nor is an item the database left:
    the runner stops the run for the database and the item is done again afterwards.
    """
    if is_database_fault(exc):
        return
    pause = _layout_failure(ctx, exc)
    if pause is None:
        await _record_failure(ctx, item, exc)
    await _flush_usage(ctx)
    if pause is not None:
        raise pause from exc


async def _record_failure(ctx: RunContext, item: WorkItem[Any], exc: Exception) -> None:
    message = exc.detail if isinstance(exc, AppError) else f"{type(exc).__name__}: {exc}"
    await _stored(ctx, _store_failure, item, message)


async def _store_failure(ctx: RunContext, item: WorkItem[Any], message: str) -> None:
    async with ctx.pool.connection() as conn, conn.pipeline(), conn.transaction():
        if await items_repo.mark_finished(conn, item_id=item.id, status=ItemStatus.FAILED, error=message):
            await runs_repo.add_counters(conn, run_id=ctx.run_id, failed_items=1)
            kind = ItemKind.CATEGORY if isinstance(item.payload, CategoryPayload) else ItemKind.PRODUCT
            metrics.ITEMS_FAILED.labels(kind.value).inc()


async def _mark_processing(ctx: RunContext, item: WorkItem[Any], worker_id: int) -> None:
    """One round trip (pipeline mode), and no wait for the WAL flush: the mark is advisory.

    A mark lost to a crash leaves its item pending with one attempt fewer counted, which is what
    `release_in_flight` would make of it anyway; the item's outcome is committed durably, later.
    """
    async with ctx.pool.connection() as conn, conn.pipeline(), conn.transaction():
        await conn.execute("SET LOCAL synchronous_commit = off")
        await items_repo.mark_processing(conn, item_id=item.id, worker_id=worker_id)


@asynccontextmanager
async def _claimed(ctx: RunContext, item: WorkItem[Any], worker_id: int) -> AsyncIterator[None]:
    """Mark the item `processing` while its first upstream request is already on its way.

    The mark (attempt count, worker) is bookkeeping, so it need not delay the request; it is
    always settled before the item's outcome is stored, which would otherwise race with it.
    """
    marking = asyncio.create_task(ctx.outage.hold(partial(_mark_processing, ctx, item, worker_id)))
    ctx.marks.add(marking)
    marking.add_done_callback(ctx.marks.discard)
    try:
        yield
    finally:
        await asyncio.shield(marking)


async def process_category(ctx: RunContext, item: WorkItem[CategoryPayload], worker_id: int) -> int:
    """Fetch one category's best sellers; store those to search as work items, and remember the rest."""
    category = item.payload
    fields: dict[str, Any] = {"category": category.display_name, "api_params": {"node_id": category.node_id}}
    started = time.perf_counter()
    try:
        async with _claimed(ctx, item, worker_id):
            products = await call_upstream(
                ctx, lambda: ctx.marketplace.bestsellers(category.node_id), worker_id=worker_id, phase="amazon",
                fields=fields,
            )  # fmt: skip
    except Exception as exc:
        await _item_failed(ctx, item, exc)
        raise
    ctx.layout.read += 1
    rows = [
        ProductPayload(
            asin=p.asin,
            title=p.title,
            price=str(p.price) if p.price is not None else None,
            currency=p.currency,
            rating=p.rating,
            url=p.url,
            position=p.position,
            category_id=category.id,
            category=category.display_name,
        )
        for p in products
        if p.asin
    ]
    inserted, remembered = await _stored(ctx, _store_category, item, rows)
    await _flush_usage(ctx)
    await ctx.emit(
        create_activity_event(
            worker_id, "amazon", "found", items_count=len(rows), new_sellers_count=len(rows),
            duration_ms=ms_since(started), **fields,
        )
    )  # fmt: skip
    if remembered:
        # One summary per category, never one event per product.
        days = ctx.settings.refresh_after_days
        await ctx.emit(
            create_activity_event(
                0, "amazon", "remembered", items_count=remembered, category=category.display_name,
                source_worker_id=worker_id,
                message=f"{remembered} of {len(rows)} products searched within the last {_days(days)}: skipped",
            )
        )  # fmt: skip
    await ctx.emit(
        create_activity_event(
            0, "amazon", "uploading", items_count=inserted, operation_type="product_batch",
            source_worker_id=worker_id, category=category.display_name,
        )
    )  # fmt: skip
    return inserted


def _days(days: int) -> str:
    return "day" if days == 1 else f"{days} days"


def _listed(ctx: RunContext, row: ProductPayload) -> search_memory.ListedProduct:
    """A listed product with the price window a search would use now (none without a usable price)."""
    price = _usable_price(row.price)
    settings = ctx.settings
    window = PriceWindow.around(price, settings.price_min_multiplier, settings.price_max_multiplier) if price else None
    return search_memory.ListedProduct(
        asin=row.asin, title=row.title, price=price, currency=row.currency, category_id=row.category_id,
        rank=row.position, window_low=window.low if window else None, window_high=window.high if window else None,
    )  # fmt: skip


async def _store_category(
    ctx: RunContext, item: WorkItem[CategoryPayload], rows: list[ProductPayload]
) -> tuple[int, int]:
    """The category's products and the run's counters, committed together (so before any search).

    The search memory claims the products this run searches; the others go in as remembered.
    Returns the products new to the run: (to search, remembered).
    """
    async with ctx.pool.connection() as conn, conn.transaction():
        if not await items_repo.mark_finished(
            conn, item_id=item.id, status=ItemStatus.COMPLETED, result={"products": len(rows)}
        ):
            return 0, 0
        settings = ctx.settings
        searching = await search_memory.claim_listed(
            conn, org_id=ctx.org_id, run_id=ctx.run_id, products=[_listed(ctx, r) for r in rows],
            refresh_after_days=settings.refresh_after_days, everything=ctx.refresh == "all",
        )  # fmt: skip
        inserted = await items_repo.insert_product_items(
            conn, run_id=ctx.run_id, products=[r for r in rows if r.asin in searching]
        )
        remembered = await items_repo.insert_product_items(
            conn,
            run_id=ctx.run_id,
            products=[r for r in rows if r.asin not in searching],
            remembered=f"searched within the last {_days(settings.refresh_after_days)}",
        )
        await runs_repo.add_counters(
            conn, run_id=ctx.run_id, categories_completed=1, products_total=inserted, products_remembered=remembered
        )
    metrics.ITEMS_PROCESSED.labels(ItemKind.CATEGORY.value).inc()
    return inserted, remembered


async def _store_skipped(ctx: RunContext, item: WorkItem[ProductPayload], reason: str) -> None:
    async with ctx.pool.connection() as conn, conn.pipeline(), conn.transaction():
        if await items_repo.mark_finished(conn, item_id=item.id, status=ItemStatus.SKIPPED, result={"reason": reason}):
            await runs_repo.add_counters(conn, run_id=ctx.run_id, products_searched=1)
            metrics.ITEMS_PROCESSED.labels(ItemKind.PRODUCT.value).inc()


async def _store_sellers(
    ctx: RunContext,
    item: WorkItem[ProductPayload],
    upserts: list[sellers_repo.SellerUpsert],
    product: evidence_repo.ProductSearched,
    listings: list[evidence_repo.ListingEvidence],
) -> tuple[list[str], list[str]]:
    """The product's sellers (upserted), its evidence, its outcome and the run's counters, committed together."""
    async with ctx.pool.connection() as conn:
        return await evidence_repo.store_product_evidence(
            conn,
            item_id=item.id,
            org_id=ctx.org_id,
            run_id=ctx.run_id,
            result={"sellers": [u.display_name for u in upserts]},
            sellers=upserts,
            product=product,
            listings=listings,
        )


def _named(found: dict[str, EbaySeller], new: list[str], known: list[str]) -> list[FoundSeller]:
    """Up to three of the sellers a product brought, the new ones first, for its `found` event."""
    named = [FoundSeller(name=found[k].username.strip(), new=True) for k in new if k in found]
    named += [FoundSeller(name=found[k].username.strip(), new=False) for k in known if k in found]
    return named[:FOUND_SELLERS_NAMED]


def _short(title: str) -> str:
    """A product's title as its events show it."""
    title = title.strip()
    return title if len(title) <= 60 else title[:59] + "…"


async def process_product(ctx: RunContext, item: WorkItem[ProductPayload], worker_id: int) -> int | Deferred[int]:
    """Search eBay for one product (up to N pages); upserting the sellers found is left to the worker's writer."""
    product = item.payload
    title = (product.title or "").strip()
    price = _usable_price(product.price)
    if not title or price is None:
        await _stored(ctx, _store_skipped, item, "no title" if not title else "no usable price")
        return 0

    short_title = _short(title)
    category = product.category
    settings = ctx.settings
    window = PriceWindow.around(price, settings.price_min_multiplier, settings.price_max_multiplier)
    started = time.perf_counter()
    try:
        async with _claimed(ctx, item, worker_id):
            found, listings = await _search_pages(ctx, title, price, window, short_title, category, worker_id)
    except Exception as exc:
        await _item_failed(ctx, item, exc)
        raise

    upserts = [
        sellers_repo.SellerUpsert(
            display_name=s.username.strip(),
            normalized_name=key,
            platform_id=s.username.strip(),
            feedback_score=s.feedback_count,
            feedback_percent=s.feedback_percent,
        )
        for key, s in found.items()
    ]
    searched = evidence_repo.ProductSearched(
        asin=product.asin, title=title, price=price, currency=product.currency, category_id=product.category_id,
        rank=product.position, window_low=window.low, window_high=window.high,
    )  # fmt: skip
    # The commit and the events after it run as this worker's writer while it searches its next product.
    return Deferred(
        partial(_finish_product, ctx, item, worker_id, (upserts, searched, list(listings.values())), found, started)
    )


async def _finish_product(
    ctx: RunContext,
    item: WorkItem[ProductPayload],
    worker_id: int,
    results: tuple[list[sellers_repo.SellerUpsert], evidence_repo.ProductSearched, list[evidence_repo.ListingEvidence]],
    found: dict[str, EbaySeller],
    started: float,
) -> int:
    """A searched product's writer: commit its sellers and evidence, then publish its events.

    Until the commit lands (a database outage included) the results wait here, in memory.
    """
    upserts = results[0]
    new, known = await _stored(ctx, _store_sellers, item, *results)
    metrics.ITEMS_PROCESSED.labels(ItemKind.PRODUCT.value).inc()
    await _flush_usage(ctx)
    product = item.payload
    await ctx.emit(
        create_activity_event(
            worker_id, "ebay", "found", product_name=_short(product.title or ""), category=product.category,
            items_count=len(upserts), new_sellers_count=len(new), duration_ms=ms_since(started),
            sellers=_named(found, new, known) or None,
        )
    )  # fmt: skip
    await _announce_stored(ctx, new, known, worker_id)
    # Checked once the product's sellers are stored: what its pages yielded is kept, and a resume
    # does not search it again.
    if (pause := _coverage_pause(ctx)) is not None:
        raise pause
    return len(new)


async def _announce_stored(ctx: RunContext, new: list[str], known: list[str], worker_id: int) -> None:
    """The pipeline's events for a product's stored sellers: those already known, then the new ones."""
    stored: list[tuple[ActivityAction, list[str], str]] = [
        ("deduped", known, "seller_dedupe"),
        ("inserted", new, "seller_insert"),
    ]
    for action, names, operation in stored:
        if names:
            await ctx.emit(
                create_activity_event(
                    0, "ebay", action, items_count=len(names), operation_type=operation, source_worker_id=worker_id
                )
            )


async def _search_pages(
    ctx: RunContext,
    title: str,
    price: Decimal,
    window: PriceWindow,
    short_title: str,
    category: str | None,
    worker_id: int,
) -> tuple[dict[str, EbaySeller], dict[tuple[str, int], evidence_repo.ListingEvidence]]:
    """Up to N result pages for one product: the sellers found, by normalized name (first listing wins),
    and every listing read with a seller, as evidence."""
    settings = ctx.settings
    found: dict[str, EbaySeller] = {}
    listings: dict[tuple[str, int], evidence_repo.ListingEvidence] = {}
    for page in range(1, settings.ebay_pages_per_product + 1):
        fields: dict[str, Any] = {
            "product_name": short_title,
            "category": category,
            "api_params": {
                "query": title[:80],
                "page": page,
                "amazon_price": to_cents(price),
                "price_min": to_cents(window.low),
                "price_max": to_cents(window.high),
            },
        }
        search = partial(ctx.marketplace.search_sellers, title, window, page)
        try:
            result = await call_upstream(ctx, search, worker_id=worker_id, phase="ebay", fields=fields)
        except UpstreamError as exc:
            if exc.error_type != "layout":
                raise
            # Gallery view or an unknown layout: ask once more, as hard as the provider can, for list view.
            forced = partial(search, list_view_forced=True)
            result = await call_upstream(ctx, forced, worker_id=worker_id, phase="ebay", fields=fields, is_retry=True)
        ctx.layout.read += 1
        await _page_coverage(ctx, result, worker_id, fields)
        for seller in result.sellers:
            key = normalize_name(seller.username)
            if key:
                found.setdefault(key, seller)
        for at, row in page_evidence(result.listings, amazon_title=title, window=window).items():
            listings.setdefault(at, row)
        remaining = settings.ebay_pages_per_product - page
        if remaining and (result.exact_matches_ended or (result.has_more and result.listings_in_window == 0)):
            # The next page cannot hold an exact match inside the window: not worth a paid request.
            ctx.meter.skip_pages(remaining)
            break
        if not result.has_more:
            break
    return found, listings


async def run_amazon_phase(ctx: RunContext) -> None:
    async with ctx.pool.connection() as conn:
        pending = await items_repo.unfinished_categories(conn, run_id=ctx.run_id)
    if pending:
        try:
            await ctx.runner.run(pending, lambda item, wid: process_category(ctx, item, wid), phase="amazon")
        finally:
            await _flush_usage_at_phase_end(ctx)
    async with ctx.pool.connection() as conn:
        await runs_repo.set_phase(conn, run_id=ctx.run_id, phase=RunPhase.EBAY)
        run = await runs_repo.get_run_unscoped(conn, run_id=ctx.run_id)
    # The products to search (those the search memory left out have their own summary events).
    products = run.products_total if run is not None else 0
    await ctx.emit(create_activity_event(0, "amazon", "complete", items_count=products))


async def _product_step(
    ctx: RunContext, profiles: ProfileRefresher, item: WorkItem[ProductPayload], worker_id: int
) -> int | Deferred[int]:
    done = partial(_product_done, ctx, profiles)
    try:
        outcome = await process_product(ctx, item, worker_id)
    except BaseException:
        done()
        raise
    if not isinstance(outcome, Deferred):
        done()
        return outcome
    return Deferred(partial(_then, outcome.finish, done))


async def _then(finish: Callable[[], Awaitable[T]], done: Callable[[], None]) -> T:
    try:
        return await finish()
    finally:
        done()


def _product_done(ctx: RunContext, profiles: ProfileRefresher) -> None:
    """A product is stored, skipped or failed (or given up by a stop)."""
    ctx.products_left -= 1
    if ctx.products_left < ctx.settings.workers:
        # The phase's tail: workers fall idle, so profiles catch up now and little is left for the end.
        profiles.nudge()


async def run_ebay_phase(ctx: RunContext) -> None:
    ctx.start_phase("ebay")
    async with ctx.pool.connection() as conn:
        counts = await items_repo.count_by_status(conn, run_id=ctx.run_id)
        pending = await items_repo.unfinished_products(conn, run_id=ctx.run_id)
    if not any(kind is ItemKind.PRODUCT for kind, _ in counts):
        failed = counts.get((ItemKind.CATEGORY, ItemStatus.FAILED), 0)
        detail = f" ({failed} categories failed)" if failed else ""
        raise RunFailed(f"No products were found in the chosen categories{detail}; nothing to search on eBay")
    # Profiles follow the evidence as it arrives (stale ones left by an interrupted run first).
    async with refreshing_profiles(ctx.pool, ctx.org_id) as profiles:
        ctx.products_left = len(pending)
        if pending:
            try:
                await ctx.runner.run(pending, partial(_product_step, ctx, profiles), phase="ebay")
            finally:
                await _flush_usage_at_phase_end(ctx)
