"""The live view of `sellercollection collect`: worker lanes, the run's counters and its latest events.

It is fed by the run's events (`consume`) and by its row (`update_progress`); rendering never
touches the database. `summary` is the panel printed when the command ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from app.models import ActivityEntry, RunEstimate
from app.repositories.runs import RunRow
from app.repositories.sellers import SellerRow
from app.services.activity_stream import ActivitySubscription, StreamEvent
from app.services.runs.lifecycle import Progress
from app.text import plural as _plural

RECENT_EVENTS = 10


def _counted(count: int | None, noun: str, nouns: str | None = None) -> str:
    """`plural`, with thousands separators: "1,234 sellers"."""
    return _plural(count, noun, nouns) if count is None or count < 1000 else f"{count:,} {nouns or noun + 's'}"


@dataclass
class _Lane:
    phase: str
    action: str
    label: str
    at: str


@dataclass
class LiveView:
    """What the terminal shows; fed by the run's events and by its row. Rendering never touches the database."""

    run: RunRow
    workers: int
    lanes: dict[int, _Lane] = field(default_factory=dict)
    recent: deque[tuple[str, str, str, str, str]] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))
    rate_limited_for: float | None = None
    concurrency_limit: int | None = None
    paced_rps: float | None = None
    last_seq: int = 0
    started: float = field(default_factory=time.monotonic)
    _reader_done: bool = field(default=False, init=False)
    _progress: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    async def consume(self, subscription: ActivitySubscription) -> None:
        try:
            async for event in subscription:
                self.add(event)
        finally:
            self._reader_done = True
            self._progress.set()

    async def caught_up(self, seq: int) -> None:
        """Until the view has taken in event `seq` (or its subscription ended)."""
        while self.last_seq < seq and not self._reader_done:
            self._progress.clear()
            await self._progress.wait()

    def add(self, event: StreamEvent) -> None:
        entry = event.entry
        if entry.seq is not None:
            self.last_seq = entry.seq
        self._progress.set()
        worker = entry.worker_id
        if worker > 0:
            self.lanes[worker] = _Lane(phase=entry.phase, action=entry.action, label=_label(entry), at=_clock(entry))
        if entry.concurrency_limit is not None:
            self.concurrency_limit = entry.concurrency_limit
        # Worker 0 is the pipeline: storage steps carry an operation type, the rest are run milestones.
        who = f"W{worker}" if worker else ("db" if entry.operation_type else "run")
        self.recent.append((_clock(entry), who, entry.phase, entry.action, _detail(entry)))

    def update_progress(self, progress: Progress) -> None:
        self.run = progress.run
        self.rate_limited_for = progress.rate_limited_for_seconds
        self.concurrency_limit = progress.concurrency_limit
        self.paced_rps = progress.paced_rps

    def render(self) -> RenderableType:
        run = self.run
        elapsed = int(time.monotonic() - self.started)
        header = Text.assemble(
            (str(run.name), "bold"),
            f"  ·  {run.status}  ·  {run.phase} phase  ·  {run.provider}  ·  ",
            f"{elapsed // 60:02d}:{elapsed % 60:02d}",
        )
        upstream = [f"Requests [bold]{_requests_line(run)}[/bold]", f"Cost [bold]{_cost_line(run)}[/bold]"]
        if self.concurrency_limit is not None:
            pace = f", paced {self.paced_rps:g} req/s" if self.paced_rps else ""
            upstream.append(f"In flight ≤ [bold]{self.concurrency_limit}[/bold]/{self.workers}{pace}")
        parts: list[RenderableType] = [header, _counters(run), Text.from_markup("   ".join(upstream)), self._lanes()]
        if self.rate_limited_for:
            parts.append(Text(f"Waiting for rate limit {self.rate_limited_for:.1f}s", style="bold yellow"))
        parts.append(self._recent_events())
        return Panel(Group(*parts), title=f"SellerCollection · run {run.id}", title_align="left")

    def _lanes(self) -> Table:
        lanes = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
        lanes.add_column("Worker", width=6, no_wrap=True)
        lanes.add_column("Phase", width=6, no_wrap=True)
        lanes.add_column("Action", width=12, no_wrap=True)
        lanes.add_column("Item", ratio=1, no_wrap=True, overflow="ellipsis")
        lanes.add_column("At", width=8, no_wrap=True)
        for worker in range(1, self.workers + 1):
            lane = self.lanes.get(worker)
            if lane is None:
                lanes.add_row(str(worker), "", Text("idle", style="dim"), "", "")
            elif self.run.status != "running":
                # Nothing runs any more: keep each worker's last step, greyed out.
                lanes.add_row(str(worker), lane.phase, lane.action, lane.label, lane.at, style="dim")
            else:
                lanes.add_row(str(worker), lane.phase, _styled(lane.action), lane.label, lane.at)
        return lanes

    def _recent_events(self) -> Panel:
        events = Table(box=None, expand=True, show_header=False, pad_edge=False)
        events.add_column(width=8, no_wrap=True)
        events.add_column(width=4, no_wrap=True)
        events.add_column(width=6, no_wrap=True)
        events.add_column(width=12, no_wrap=True)
        events.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        for at, who, phase, action, detail in self.recent:
            events.add_row(at, who, phase, _styled(action), detail)
        return Panel(events, title="Recent events", title_align="left", box=box.ROUNDED)


def _counters(run: RunRow) -> Table:
    counters = Table.grid(padding=(0, 3))
    for _ in range(5):
        counters.add_column(justify="left")
    counters.add_row(
        f"Categories [bold]{run.categories_completed:,}/{run.categories_total:,}[/bold]",
        f"Products [bold]{run.products_searched:,}/{run.products_total:,}[/bold]",
        f"Sellers found [bold]{run.sellers_found:,}[/bold]",
        f"new [bold green]{run.sellers_new:,}[/bold green]",
        Text.assemble("Failed ", (f"{run.failed_items:,}", "bold red" if run.failed_items else "bold")),
    )
    return counters


def summary(run: RunRow, elapsed: float, *, org: str) -> Panel:
    """The run as it stands when the command ends: its org, status, counts, time, requests and cost."""
    style = {"completed": "green", "paused": "yellow"}.get(run.status, "red")
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Org", org)
    table.add_row("Status", Text(run.status, style=style))
    if run.status_reason:
        table.add_row("Reason", str(run.status_reason))
    table.add_row("Duration", f"{elapsed:,.1f} s (this session)")
    if run.active_seconds is not None:
        paused = f" (and {_duration(run.paused_seconds)} paused)" if run.paused_seconds >= 1 else ""
        table.add_row("Active time", f"{_duration(run.active_seconds)}{paused}")
    table.add_row("Categories", f"{run.categories_completed:,} / {run.categories_total:,}")
    table.add_row("Products", f"{run.products_searched:,} searched / {run.products_total:,} to search")
    if run.products_remembered or run.refresh == "all":
        days = run.settings.refresh_after_days if run.settings else 7
        remembered = f"{run.products_remembered:,} searched within the last {days} days: skipped"
        table.add_row("Remembered", remembered if run.refresh == "new" else "none (refresh all)")
    table.add_row("Sellers", f"{run.sellers_found:,} found, {run.sellers_new:,} new")
    table.add_row("Failed items", f"{run.failed_items:,}")
    table.add_row("Requests", _requests_line(run))
    table.add_row("Cost", _cost_line(run))
    table.add_row("Seller lines", _coverage_line(run))
    if run.seller_count_snapshot is not None:
        table.add_row("Sellers in org", f"{run.seller_count_snapshot:,} (when the run stopped)")
    table.add_row("Run id", str(run.id))
    return Panel(table, title=str(run.name), expand=False)


def best_new_sellers(sellers: list[SellerRow], *, new: int) -> RenderableType:
    """The run's best new sellers by dropshipper score (a likelihood with its evidence, not a verdict)."""
    if not sellers:
        return Text(f"None of the run's {_counted(new, 'new seller')} has a score yet (no evidence stored).")
    table = Table(title=f"Best new sellers by score (of {_counted(new, 'new seller')})", title_justify="left")
    table.add_column("Seller")
    table.add_column("Score", justify="right")
    table.add_column("Products matched", justify="right")
    for seller in sellers:
        # Text, not a markup string: a seller's name comes from eBay and may hold "[...]".
        table.add_row(Text(seller.display_name), f"{seller.score}", f"{seller.products_matched or 0:,}")
    return table


def estimate_line(guess: RunEstimate) -> str:
    """'Estimate: 3 lists (2 fetched before), about 120 products, 31 to search; about 70 requests (34-96), ...'."""
    requests, cost = guess.requests_expected, guess.cost_expected
    remembered = guess.products_expected - guess.products_to_search
    left = f" ({remembered:,} searched within the last {guess.refresh_after_days} days)" if remembered > 0 else ""
    return (
        f"Estimate: {guess.categories:,} lists ({guess.categories_fetched:,} fetched before), "
        f"about {guess.products_expected:,} products, {guess.products_to_search:,} to search{left}; "
        f"about {requests.likely:,} requests ({requests.low:,}-{requests.high:,}), "
        f"about ${cost.likely:,.4f} (${cost.low:,.4f}-${cost.high:,.4f}); refresh {guess.refresh}"
    )


def _duration(seconds: float) -> str:
    """'42 s', '3 min 20 s', '1 h 5 min'."""
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.1f} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _requests_line(run: RunRow) -> str:
    """'1,412 (best sellers 12, eBay pages 1,380, retries 15, 429s 5)'."""
    kinds = {"best_sellers": "best sellers", "ebay_page": "eBay pages", "retry": "retries", "rate_limited": "429s"}
    totals = {kind: sum(k.get(kind, 0) for k in run.upstream_requests.values()) for kind in kinds}
    detail = ", ".join(f"{label} {totals[kind]:,}" for kind, label in kinds.items() if totals[kind])
    total = sum(totals.values())
    skipped = f"; {run.ebay_pages_skipped:,} pages skipped" if run.ebay_pages_skipped else ""
    return f"{total:,} ({detail}){skipped}" if detail else f"{total:,}{skipped}"


def _coverage_line(run: RunRow) -> str:
    """'1,180 of 1,200 listings (98.3 %)', or 'no result page read'."""
    if not run.listings_read:
        return "no result page read"
    share = 100 * run.listings_with_seller / run.listings_read
    return f"{run.listings_with_seller:,} of {run.listings_read:,} listings ({share:.1f} %)"


def _cost_line(run: RunRow) -> str:
    cost = run.upstream_cost
    per_seller = f", ${cost / run.sellers_new:,.4f} per new seller" if run.sellers_new else ""
    return f"${cost:,.4f}{per_seller}"


_ACTION_STYLES = {
    "found": "green",
    "inserted": "green",
    "complete": "bold green",
    "error": "red",
    "failed": "bold red",
    "rate_limited": "yellow",
    "paused": "yellow",
    "cancelled": "red",
    "gap": "dim",
}


def _styled(action: str) -> Text:
    return Text(action, style=_ACTION_STYLES.get(action, ""))


def _clock(entry: ActivityEntry) -> str:
    # Events carry UTC ISO timestamps; show local wall-clock time like the log lines, without the date.
    try:
        return datetime.fromisoformat(entry.timestamp).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return ""


def _label(entry: ActivityEntry) -> str:
    label = entry.product_name or entry.category or ""
    page = entry.api_params.page if entry.api_params else None
    if entry.action == "fetching" and page:
        label += f"  (page {page})"
    return label


def _detail(entry: ActivityEntry) -> str:
    action = entry.action
    count = entry.items_count
    new = entry.new_sellers_count
    took = f" in {entry.duration_ms} ms" if entry.duration_ms is not None else ""
    subject = _label(entry)
    if action == "found" and entry.phase == "amazon":
        return f"{subject}: {_counted(count, 'product')}{took}"
    if action == "found":
        return f"{subject}: {_counted(count, 'seller')}, {new or 0:,} new{took}"
    if action == "uploading":
        return f"{_counted(count, 'product')} stored"
    if action == "remembered":
        return f"{subject}: {entry.message}" if subject else entry.message or ""
    if action == "deduped":
        return f"{_counted(count, 'seller')} already known"
    if action == "inserted":
        return f"{_counted(count, 'new seller')} added"
    if action in {"error", "rate_limited", "paused", "failed"}:
        reason = entry.error_message or entry.error_type or ""
        return f"{subject}: {reason}" if subject else reason
    if action == "gap":
        missed = entry.missed
        return f"{_counted(missed, 'event')} not shown" if missed is not None else "some events not shown"
    if action == "complete" and entry.phase == "run":
        return _counted(new, "new seller")
    if action == "complete":
        return f"{_counted(count, 'product')} to search"
    return subject


@contextlib.contextmanager
def logs_above(live: Live) -> Iterator[None]:
    """While the view is live on a terminal, log lines go through it (printed above), not across it.

    Live swaps sys.stderr for a proxy that prints through its console, but logging handlers kept the
    original stream; point terminal-bound handlers at the proxy and back.
    """
    if not live.console.is_terminal:
        yield
        return
    swapped: list[tuple[logging.StreamHandler[Any], Any]] = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.__stderr__ and sys.__stderr__.isatty():
            swapped.append((handler, handler.setStream(sys.stderr)))
    try:
        yield
    finally:
        for handler, original in swapped:
            handler.setStream(original)
