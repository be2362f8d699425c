"""`sellercollection collect`: one collection run in the terminal, with a live view and a summary.

The run executes in this process, through the same services the API uses (`services.runs.lifecycle`
for the lifecycle, `RunExecutor` for the work, the runtime's activity stream for the events), so a
run started here is an ordinary run: the API lists it, and either side may resume it later.

Here: the options, and the session that creates or resumes the run, shows it and sums it up. The
view itself (worker lanes, the run's counters read from its row, the last events) is `live_view`.
Before a new run is created the command prints its estimate (`services.runs.estimate`) and, when
both stdin and stdout are a terminal, asks whether to start it; `--yes` skips the question. Off a
terminal (a script, cron) nobody could answer, so it prints the estimate and goes on.
Ctrl-C pauses the run through `RunLifecycle.pause`; finished items stay finished, and the command
prints how to resume. Exit codes: 0 completed, 1 failed / cancelled / paused by the failure breaker
/ run held elsewhere, 2 bad input (unknown category, unknown run, wrong state, ...), 130 paused by
Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import shutil
import signal
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from uuid import UUID

from rich.console import Console
from rich.live import Live
from rich.prompt import Confirm

from app.cli.errors import EXIT_COMPLETED, EXIT_INTERRUPTED, EXIT_NOT_COMPLETED, CommandError
from app.cli.live_view import LiveView, best_new_sellers, estimate_line, logs_above, summary
from app.cli.orgs import chosen_org
from app.config import Settings
from app.db.pool import Pool
from app.errors import AppError, Conflict
from app.models import Refresh
from app.repositories import org_settings as org_repo
from app.repositories import runs as runs_repo
from app.repositories import sellers as sellers_repo
from app.repositories.runs import RunRow
from app.repositories.sellers import SellerRow
from app.runtime import Runtime
from app.scrapers.factory import marketplace_factory
from app.security import AUTOMATION, Caller, caller_for_member
from app.services import accounts
from app.services.runs import estimate, lifecycle
from app.services.runs.lifecycle import RunLifecycle
from app.services.scheduling import presets
from app.status import TERMINAL_STATUSES, RunStatus

logger = logging.getLogger(__name__)

DEFAULT_EMAIL = "cli@localhost"
# How often the counters are re-read from the run row and the view redrawn. Events update lanes
# as they arrive; redrawing on every event would cost more than the run itself at low latency.
REFRESH_SECONDS = 0.25
# The summary ends with this many of the run's new sellers, best dropshipper score first.
BEST_NEW_SELLERS = 5


@dataclass(frozen=True)
class CollectOptions:
    category_ids: list[str]
    resume: UUID | None
    provider: str | None
    name: str | None
    org: str | None  # None: the only org there is for a new run, the run's own org for --resume
    email: str
    preset: str | None = None
    refresh: Refresh | None = None
    yes: bool = False  # start without asking (the estimate is still shown)

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
        refresh: Refresh | None = None,
        yes: bool = False,
    ) -> CollectOptions:
        # `--categories a,b --categories c` and `--categories "a, b"` all mean [a, b, c].
        ids = [part.strip() for value in categories or [] for part in value.split(",") if part.strip()]
        run_id: UUID | None = None
        if resume is not None:
            try:
                run_id = UUID(resume.strip())
            except ValueError:
                raise CommandError(f"--resume expects a run id (a UUID), got {resume!r}") from None
            if ids or preset:
                raise CommandError("Use either --categories/--preset (a new run) or --resume (an existing run)")
            if name:
                raise CommandError("--name only applies to a new run; a resumed run keeps its name")
            if refresh:
                raise CommandError("--refresh only applies to a new run; a resumed run keeps its choice")
        elif ids and preset:
            raise CommandError("Use either --categories or --preset, not both")
        elif not ids and not preset:
            raise CommandError(
                "Name the categories to collect with --categories ID[,ID...] or --preset NAME (or --resume RUN_ID)"
            )
        return cls(
            category_ids=ids, resume=run_id, provider=provider, name=name, org=org, email=email, preset=preset,
            refresh=refresh, yes=yes,
        )  # fmt: skip

    def resume_command(self, run_id: UUID) -> str:
        """The command that resumes `run_id`, as the user invoked this one (it finds the run's org by itself)."""
        return shlex.join([invoked_as(), "collect", "--resume", str(run_id)])


def invoked_as(argv0: str | None = None) -> str:
    """The program as the user typed it: its name when that is what the shell finds, else the path given.

    A shell passes the resolved path, so `sellercollection` typed on the PATH arrives as
    `/…/bin/sellercollection`: the name is shown when it leads to the same file, and a path like
    `.venv/bin/sellercollection` (not on the PATH) is shown as given, which works from where it was typed.
    """
    path = sys.argv[0] if argv0 is None else argv0
    name = Path(path).name
    if not path or path.startswith("-") or name.endswith(".py") or name == "__main__":
        return "sellercollection"  # run through Python (`python -c`, a module): the console script's name
    on_path = shutil.which(name)
    if on_path is not None and Path(on_path).resolve() == Path(path).resolve():
        return name
    return path


async def collect(runtime: Runtime, options: CollectOptions, console: Console) -> int:
    """Create or resume the run, execute it here with the live view on `console`; returns the exit code."""
    options = replace(options, org=await _org_for(runtime.pool, options))
    caller = await _local_caller(runtime.pool, options, console)
    return await _Session(runtime, caller, options, console).run()


async def _org_for(pool: Pool, options: CollectOptions) -> str:
    """The org to act in: the one named, else the resumed run's own org, else the only org there is."""
    if options.org is None and options.resume is not None:
        async with pool.connection() as conn:
            org_name = await runs_repo.org_name_of_run(conn, run_id=options.resume)
        if org_name is None:
            raise CommandError(f"Run {options.resume} not found")
        return org_name
    return await chosen_org(pool, options.org)


async def _local_caller(pool: Pool, options: CollectOptions, console: Console) -> Caller:
    """The local user's caller in the org (a named org is created when missing): it acts without a token."""
    assert options.org is not None
    async with pool.connection() as conn:
        existed = await org_repo.find_org_id(conn, name=options.org) is not None
        member = await accounts.ensure_member(conn, org_name=options.org, email=options.email, permissions=[AUTOMATION])
    if not existed:
        console.print(f"Created the org {options.org!r}, as --org named it.", highlight=False, soft_wrap=True)
    return await caller_for_member(pool, member.membership_id)


async def _check_provider(settings: Settings, provider: str) -> None:
    """Fail before touching the run when the provider cannot be built (e.g. oxylabs without credentials).

    The executor would otherwise mark the run failed; building the provider once here runs exactly the
    checks the executor's factory runs.
    """
    marketplace = marketplace_factory(settings)(provider)
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
                with live, logs_above(live):
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
                raise CommandError(
                    f"Run {run_id} is being executed by another process ({final.lease_owner}, lease{until}); "
                    "pause it there, or, if that process is gone, resume again once its lease has expired",
                    exit_code=EXIT_NOT_COMPLETED,
                )
            best = await self._best_new_sellers(run_id)
            return self._summarize(final, best, time.monotonic() - started, paused_by_user)
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
                preset_id = await self._preset_id()
                await self._confirm(preset_id)
                return await lifecycle.create_run(
                    self.pool,
                    self.settings,
                    caller=self.caller,
                    name=self.options.name,
                    category_ids=self.options.category_ids,
                    preset_id=preset_id,
                    provider=self.options.provider,
                    refresh=self.options.refresh,
                )
            run = await lifecycle.get_run(self.pool, caller=self.caller, run_id=self.options.resume)
        except CommandError:
            raise
        except AppError as exc:
            raise CommandError(_with_org(exc.detail, self.options)) from exc
        if run.status in TERMINAL_STATUSES:
            raise CommandError(f"Run {run.id} is {run.status}; only a pending, paused or running run resumes")
        if self.options.provider is not None and self.settings.run_provider != run.provider:
            raise CommandError(
                f"Run {run.id} uses the {run.provider} provider and keeps it; drop --provider to resume it"
            )
        await _check_provider(self.settings, run.provider)
        return run

    async def _confirm(self, preset_id: UUID | None) -> None:
        """Show what the run would cost; on a terminal, ask before starting it (unless --yes)."""
        guess = await estimate.estimate(
            self.pool, self.settings, caller=self.caller, category_ids=self.options.category_ids or None,
            preset_id=preset_id, refresh=self.options.refresh, provider=self.options.provider,
        )  # fmt: skip
        self.console.print(estimate_line(guess), highlight=False, soft_wrap=True)
        if self.options.yes or not (sys.stdin.isatty() and self.console.is_terminal):
            return
        if not await asyncio.to_thread(Confirm.ask, "Start this run?", console=self.console, default=True):
            raise CommandError("Not started: nothing was created", exit_code=EXIT_NOT_COMPLETED)

    async def _preset_id(self) -> UUID | None:
        if self.options.preset is None:
            return None
        preset = await presets.find_preset(self.pool, org_id=self.caller.org_id, name=self.options.preset)
        return preset.id

    async def _start(self, run: RunRow) -> bool:
        """Start (pending) or resume (paused, or running with nobody executing it); True if it executes here."""
        start = self.lifecycle.start if run.status is RunStatus.PENDING else self.lifecycle.resume
        # An AppError here (it finished or was cancelled since `_prepare` looked) is the command's error.
        await start(caller=self.caller, run_id=run.id)
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

    async def _best_new_sellers(self, run_id: UUID) -> list[SellerRow]:
        # The run's end refreshed the profiles of what it stored, so its new sellers' scores are current.
        async with self.pool.connection() as conn:
            return await sellers_repo.best_new_of_run(
                conn, org_id=self.caller.org_id, run_id=run_id, limit=BEST_NEW_SELLERS
            )

    def _summarize(self, run: RunRow, best: list[SellerRow], elapsed: float, paused_by_user: bool) -> int:
        assert self.options.org is not None
        self.console.print(summary(run, elapsed, org=self.options.org))
        if run.sellers_new:
            self.console.print(best_new_sellers(best, new=run.sellers_new))
        if run.status == "paused":
            prefix = "Paused" if paused_by_user else "Paused by the pipeline"
            # soft_wrap: the command must stay on one line to be copied (and grepped), however narrow the terminal.
            self.console.print(
                f"{prefix}. Resume with: {self.options.resume_command(run.id)}", highlight=False, soft_wrap=True
            )
            return EXIT_INTERRUPTED if paused_by_user else EXIT_NOT_COMPLETED
        return EXIT_COMPLETED if run.status == "completed" else EXIT_NOT_COMPLETED


def _with_org(detail: str, options: CollectOptions) -> str:
    # Runs are scoped to an org: a run of another org is "not found", which says little without the org.
    if detail == "Run not found":
        return f"Run {options.resume} not found in org {options.org!r} (use --org to name its org)"
    return detail
