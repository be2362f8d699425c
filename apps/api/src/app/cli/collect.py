"""`sellercollection collect`: one collection run in the terminal, with a live view and a summary.

The run executes in this process, through the same services the API uses (`services.runs.lifecycle`
for the lifecycle, `RunExecutor` for the work, `ActivityStreamManager` for the events), so a run
started here is an ordinary run: the API lists it, and either side may resume it later.

The live view draws three things: one lane per worker with its latest step, the run's counters
(read from its row, so they are the committed truth), and the last events. Ctrl-C pauses the run
through `services.lifecycle.pause_run`; finished items stay finished, and the command prints how
to resume. Exit codes: 0 completed, 1 failed / cancelled / paused by the failure breaker / run held
elsewhere, 2 bad input (unknown category, unknown run, wrong state, ...), 130 paused by Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from app.config import Settings
from app.db.embedded import database_url
from app.db.migrations import apply_migrations
from app.db.pool import Pool
from app.errors import AppError, Conflict
from app.models import ActivityEntry
from app.repositories import runs as runs_repo
from app.repositories.runs import RunRow
from app.runtime import Runtime, open_runtime
from app.scrapers.factory import marketplace_factory
from app.security import AUTOMATION, Caller, caller_for_member
from app.services import accounts
from app.services.activity_stream import ActivitySubscription, StreamEvent
from app.services.runs import lifecycle
from app.services.runs.lifecycle import Progress, RunLifecycle
from app.services.scheduling import presets
from app.status import TERMINAL_STATUSES, RunStatus
from app.text import plural

logger = logging.getLogger(__name__)

EXIT_COMPLETED = 0
EXIT_NOT_COMPLETED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C'd command

DEFAULT_ORG = "local"
DEFAULT_EMAIL = "cli@localhost"
RECENT_EVENTS = 10
# How often the counters are re-read from the run row and the view redrawn. Events update lanes
# as they arrive; redrawing on every event would cost more than the run itself at low latency.
REFRESH_SECONDS = 0.25


class CollectError(Exception):
    """A problem the user can fix; printed without a traceback, exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class CollectOptions:
    category_ids: list[str]
    resume: UUID | None
    provider: str | None
    name: str | None
    org: str | None  # None: the default org for a new run, the run's own org for --resume
    email: str
    preset: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        categories: list[str] | None,
        resume: str | None,
        provider: str | None,
        name: str | None,
        org: str | None,
        email: str,
        preset: str | None = None,
    ) -> CollectOptions:
        # `--categories a,b --categories c` and `--categories "a, b"` all mean [a, b, c].
        ids = [part.strip() for value in categories or [] for part in value.split(",") if part.strip()]
        run_id: UUID | None = None
        if resume is not None:
            try:
                run_id = UUID(resume.strip())
            except ValueError:
                raise CollectError(f"--resume expects a run id (a UUID), got {resume!r}") from None
            if ids or preset:
                raise CollectError("Use either --categories/--preset (a new run) or --resume (an existing run)")
            if name:
                raise CollectError("--name only applies to a new run; a resumed run keeps its name")
        elif ids and preset:
            raise CollectError("Use either --categories or --preset, not both")
        elif not ids and not preset:
            raise CollectError(
                "Name the categories to collect with --categories ID[,ID...] or --preset NAME (or --resume RUN_ID)"
            )
        return cls(category_ids=ids, resume=run_id, provider=provider, name=name, org=org, email=email, preset=preset)

    def resume_command(self, run_id: UUID) -> str:
        """The command that resumes `run_id` (it finds the run's org by itself)."""
        return shlex.join(["sellercollection", "collect", "--resume", str(run_id)])


def run_collect(settings: Settings, options: CollectOptions, *, console: Console, err_console: Console) -> int:
    """Resolve the database (embedded unless DATABASE_URL), migrate, run the collection; returns the exit code."""
    if options.provider is not None:
        settings = settings.model_copy(update={"provider": options.provider})
    with database_url(settings.database_url, settings.data_dir) as url:
        apply_migrations(url)
        try:
            return asyncio.run(_collect(settings, url, options, console))
        except CollectError as exc:
            err_console.print(f"[red]{exc.message}[/red]", highlight=False, soft_wrap=True)
            return exc.exit_code


async def _collect(settings: Settings, url: str, options: CollectOptions, console: Console) -> int:
    settings = settings.model_copy(update={"database_url": url, "migrate_on_start": False})
    # A CLI executes the one run it was asked for; adopting other orphans is the server's job.
    async with open_runtime(settings, adopt_orphans=False) as runtime:
        options = replace(options, org=await _org_for(runtime.pool, options))
        caller = await _local_caller(runtime.pool, options)
        return await _Session(runtime, caller, options, console).run()


async def _org_for(pool: Pool, options: CollectOptions) -> str:
    """The org to act in: the one named, else the resumed run's own org, else the default local org."""
    if options.org is not None:
        return options.org
    if options.resume is not None:
        async with pool.connection() as conn:
            org_name = await runs_repo.org_name_of_run(conn, run_id=options.resume)
        if org_name is None:
            raise CollectError(f"Run {options.resume} not found")
        return org_name
    return DEFAULT_ORG


async def _local_caller(pool: Pool, options: CollectOptions) -> Caller:
    """The local org/user's caller (created when missing): the operator acts as them, without a token."""
    assert options.org is not None
    async with pool.connection() as conn:
        try:
            member = await accounts.ensure_member(
                conn, org_name=options.org, email=options.email, permissions=[AUTOMATION]
            )
        except AppError as exc:
            raise CollectError(exc.detail) from exc
    return await caller_for_member(pool, member.membership_id)


async def _check_provider(settings: Settings, provider: str) -> None:
    """Fail before touching the run when the provider cannot be built (e.g. oxylabs without credentials).

    The executor would otherwise mark the run failed; building the provider once here runs exactly the
    checks the executor's factory runs.
    """
    try:
        marketplace = marketplace_factory(settings)(provider)
    except AppError as exc:
        raise CollectError(exc.detail) from exc
    await marketplace.aclose()


class _Session:
    """One invocation: create or resume the run, show it live until it ends or Ctrl-C, then sum up."""

    def __init__(self, runtime: Runtime, caller: Caller, options: CollectOptions, console: Console) -> None:
        self.settings = runtime.settings
        self.pool = runtime.pool
        self.stream = runtime.activity_stream
        self.executor = runtime.executor
        self.lifecycle = RunLifecycle(pool=runtime.pool, executor=runtime.executor, stream=runtime.activity_stream)
        self.caller = caller
        self.options = options
        self.console = console
        self.interrupted = asyncio.Event()
        self._signal_installed = False
        # Without loop signal handlers (Windows) asyncio.run answers Ctrl-C by cancelling the main task.
        self._runner_handles_sigint = False

    async def run(self) -> int:
        self._install_sigint()
        try:
            run = await self._prepare()
            run_id: UUID = run.id
            view = LiveView(run, workers=self.settings.workers)
            # Subscribed before the run starts, so the view sees every event from "started" on.
            subscription = self.stream.subscribe(run_id)
            reader = asyncio.create_task(view.consume(subscription), name=f"collect-view-{run_id}")
            started = time.monotonic()
            paused_by_user = False
            try:
                live = Live(view.render(), console=self.console, auto_refresh=False, transient=False)
                with live, _logs_above(live):
                    executing = await self._start(run)
                    if executing and await self._watch(run_id, view, live):
                        paused_by_user = await self._pause(run_id, view, live)
                    # Every event of the execution has been pushed by now (emit is synchronous);
                    # let the view take them in before the final frame.
                    await view.caught_up(await self.stream.last_seq(run_id) or 0)
                    await self._refresh(run_id, view, live)
                if not self.console.is_terminal:
                    # Off a terminal Live prints only its final frame, without a line break after it.
                    self.console.line()
            finally:
                subscription.close()
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            final = await lifecycle.get_run(self.pool, caller=self.caller, run_id=run_id)
            if not executing and final.status is RunStatus.RUNNING:
                expires = final.lease_expires_at
                until = f" until {expires.astimezone():%H:%M:%S}" if expires is not None else ""
                raise CollectError(
                    f"Run {run_id} is being executed by another process ({final.lease_owner}, lease{until}); "
                    "pause it there, or, if that process is gone, resume again once its lease has expired",
                    exit_code=EXIT_NOT_COMPLETED,
                )
            return self._summarize(final, time.monotonic() - started, paused_by_user)
        finally:
            self._remove_sigint()

    # --- Ctrl-C ----------------------------------------------------------------------------------

    def _install_sigint(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        except (NotImplementedError, RuntimeError):
            # `_watch` turns asyncio.run's cancellation into the same pause.
            self._runner_handles_sigint = True
            return
        self._signal_installed = True

    def _on_sigint(self) -> None:
        self.interrupted.set()
        # A second Ctrl-C should not be swallowed while we pause: hand SIGINT back to Python's
        # default handler, so it raises KeyboardInterrupt (the run then stays resumable: paused or
        # running without a lease).
        self._remove_sigint()
        self.console.print("[yellow]Pausing the run… (Ctrl-C again to quit without waiting)[/yellow]")

    def _remove_sigint(self) -> None:
        if self._signal_installed:
            self._signal_installed = False
            asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)

    # --- the run ---------------------------------------------------------------------------------

    async def _prepare(self) -> RunRow:
        """The run to execute: a new one, or the one to resume (checked before anything changes)."""
        try:
            if self.options.resume is None:
                await _check_provider(self.settings, self.settings.run_provider)
                return await lifecycle.create_run(
                    self.pool,
                    self.settings,
                    caller=self.caller,
                    name=self.options.name,
                    category_ids=self.options.category_ids,
                    preset_id=await self._preset_id(),
                    provider=self.options.provider,
                )
            run = await lifecycle.get_run(self.pool, caller=self.caller, run_id=self.options.resume)
        except CollectError:
            raise
        except AppError as exc:
            raise CollectError(_with_org(exc.detail, self.options)) from exc
        if run.status in TERMINAL_STATUSES:
            raise CollectError(f"Run {run.id} is {run.status}; only a pending, paused or running run resumes")
        if self.options.provider is not None and self.settings.run_provider != run.provider:
            raise CollectError(
                f"Run {run.id} uses the {run.provider} provider and keeps it; drop --provider to resume it"
            )
        await _check_provider(self.settings, run.provider)
        return run

    async def _preset_id(self) -> UUID | None:
        if self.options.preset is None:
            return None
        preset = await presets.find_preset(self.pool, org_id=self.caller.org_id, name=self.options.preset)
        return preset.id

    async def _start(self, run: RunRow) -> bool:
        """Start (pending) or resume (paused, or running with nobody executing it); True if it executes here."""
        start = self.lifecycle.start if run.status is RunStatus.PENDING else self.lifecycle.resume
        try:
            await start(caller=self.caller, run_id=run.id)
        except AppError as exc:  # e.g. it finished or was cancelled since `_prepare` looked
            raise CollectError(exc.detail) from exc
        return self.executor.is_executing(run.id)

    async def _watch(self, run_id: UUID, view: LiveView, live: Live) -> bool:
        """Redraw until the execution ends (False) or Ctrl-C (True)."""
        done = asyncio.create_task(self.executor.wait(run_id))  # shielded inside: cancelling it spares the run
        stop = asyncio.create_task(self.interrupted.wait())
        try:
            while True:
                await asyncio.wait({done, stop}, timeout=REFRESH_SECONDS, return_when=asyncio.FIRST_COMPLETED)
                await self._refresh(run_id, view, live)
                if done.done():
                    return False
                if stop.done():
                    return True
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self._runner_handles_sigint or task is None:
                raise
            # This cancellation is asyncio.run's answer to Ctrl-C: take it back and pause instead.
            task.uncancel()
            return True
        finally:
            done.cancel()
            stop.cancel()

    async def _pause(self, run_id: UUID, view: LiveView, live: Live) -> bool:
        """Pause on Ctrl-C; False when the run had already finished (nothing to pause)."""
        try:
            await self.lifecycle.pause(caller=self.caller, run_id=run_id)
        except Conflict:
            return False
        await self._refresh(run_id, view, live)
        return True

    async def _refresh(self, run_id: UUID, view: LiveView, live: Live) -> None:
        try:
            progress = await lifecycle.progress(self.pool, self.executor, caller=self.caller, run_id=run_id)
        except Exception:
            # A missed redraw is harmless; the run itself reports real database trouble.
            logger.debug("progress refresh failed", exc_info=True)
        else:
            view.update_progress(progress)
        live.update(view.render(), refresh=True)

    # --- the end ---------------------------------------------------------------------------------

    def _summarize(self, run: RunRow, elapsed: float, paused_by_user: bool) -> int:
        status = run.status
        style = {"completed": "green", "paused": "yellow"}.get(status, "red")
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_row("Status", Text(status, style=style))
        if run.status_reason:
            table.add_row("Reason", str(run.status_reason))
        table.add_row("Duration", f"{elapsed:.1f} s (this session)")
        table.add_row("Categories", f"{run.categories_completed} / {run.categories_total}")
        table.add_row("Products", f"{run.products_searched} searched / {run.products_total} found")
        table.add_row("Sellers", f"{run.sellers_found} found, {run.sellers_new} new")
        table.add_row("Failed items", str(run.failed_items))
        table.add_row("Requests", _requests_line(run))
        table.add_row("Cost", _cost_line(run))
        if run.seller_count_snapshot is not None:
            table.add_row("Sellers in org", f"{run.seller_count_snapshot} (when the run stopped)")
        table.add_row("Run id", str(run.id))
        self.console.print(Panel(table, title=str(run.name), expand=False))
        if status == "paused":
            prefix = "Paused" if paused_by_user else "Paused by the pipeline"
            # soft_wrap: the command must stay on one line to be copied (and grepped), however narrow the terminal.
            self.console.print(
                f"{prefix}. Resume with: {self.options.resume_command(run.id)}", highlight=False, soft_wrap=True
            )
            return EXIT_INTERRUPTED if paused_by_user else EXIT_NOT_COMPLETED
        return EXIT_COMPLETED if status == "completed" else EXIT_NOT_COMPLETED


def _with_org(detail: str, options: CollectOptions) -> str:
    # Runs are scoped to an org: a run of another org is "not found", which says little without the org.
    if detail == "Run not found":
        return f"Run {options.resume} not found in org {options.org!r} (use --org to name its org)"
    return detail


@contextlib.contextmanager
def _logs_above(live: Live) -> Iterator[None]:
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


# --- the live view ---------------------------------------------------------------------------------


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
        counters = Table.grid(padding=(0, 3))
        for _ in range(5):
            counters.add_column(justify="left")
        counters.add_row(
            f"Categories [bold]{run.categories_completed}/{run.categories_total}[/bold]",
            f"Products [bold]{run.products_searched}/{run.products_total}[/bold]",
            f"Sellers found [bold]{run.sellers_found}[/bold]",
            f"new [bold green]{run.sellers_new}[/bold green]",
            Text.assemble("Failed ", (str(run.failed_items), "bold red" if run.failed_items else "bold")),
        )
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
            elif run.status != "running":
                # Nothing runs any more: keep each worker's last step, greyed out.
                lanes.add_row(str(worker), lane.phase, lane.action, lane.label, lane.at, style="dim")
            else:
                lanes.add_row(str(worker), lane.phase, _styled(lane.action), lane.label, lane.at)
        upstream = [f"Requests [bold]{_requests_line(run)}[/bold]", f"Cost [bold]{_cost_line(run)}[/bold]"]
        if self.concurrency_limit is not None:
            pace = f", paced {self.paced_rps:g} req/s" if self.paced_rps else ""
            upstream.append(f"In flight ≤ [bold]{self.concurrency_limit}[/bold]/{self.workers}{pace}")
        parts: list[RenderableType] = [header, counters, Text.from_markup("   ".join(upstream)), lanes]
        if self.rate_limited_for:
            parts.append(Text(f"Waiting for rate limit {self.rate_limited_for:.1f}s", style="bold yellow"))
        events = Table(box=None, expand=True, show_header=False, pad_edge=False)
        events.add_column(width=8, no_wrap=True)
        events.add_column(width=4, no_wrap=True)
        events.add_column(width=6, no_wrap=True)
        events.add_column(width=12, no_wrap=True)
        events.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        for at, who, phase, action, detail in self.recent:
            events.add_row(at, who, phase, _styled(action), detail)
        parts.append(Panel(events, title="Recent events", title_align="left", box=box.ROUNDED))
        return Panel(Group(*parts), title=f"SellerCollection · run {run.id}", title_align="left")


def _requests_line(run: RunRow) -> str:
    """'412 (best sellers 12, eBay pages 380, retries 15, 429s 5)'."""
    kinds = {"best_sellers": "best sellers", "ebay_page": "eBay pages", "retry": "retries", "rate_limited": "429s"}
    totals = {kind: sum(k.get(kind, 0) for k in run.upstream_requests.values()) for kind in kinds}
    detail = ", ".join(f"{label} {totals[kind]}" for kind, label in kinds.items() if totals[kind])
    total = sum(totals.values())
    skipped = f"; {run.ebay_pages_skipped} pages skipped" if run.ebay_pages_skipped else ""
    return f"{total} ({detail}){skipped}" if detail else f"{total}{skipped}"


def _cost_line(run: RunRow) -> str:
    cost = run.upstream_cost
    per_seller = f", ${cost / run.sellers_new:.4f} per new seller" if run.sellers_new else ""
    return f"${cost:.4f}{per_seller}"


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
        return f"{subject}: {plural(count, 'product')}{took}"
    if action == "found":
        return f"{subject}: {plural(count, 'seller')}, {new} new{took}"
    if action == "uploading":
        return f"{plural(count, 'product')} stored"
    if action == "deduped":
        return f"{plural(count, 'seller')} already known"
    if action == "inserted":
        return f"{plural(count, 'new seller')} added"
    if action in {"error", "rate_limited", "paused", "failed"}:
        reason = entry.error_message or entry.error_type or ""
        return f"{subject}: {reason}" if subject else reason
    if action == "gap":
        missed = entry.missed
        return f"{plural(missed, 'event')} not shown" if missed is not None else "some events not shown"
    if action == "complete" and entry.phase == "run":
        return plural(new, "new seller")
    if action == "complete":
        return f"{plural(count, 'product')} to search"
    return subject
