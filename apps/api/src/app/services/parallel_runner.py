"""Parallel collection runner: a fixed pool of workers sharing one `asyncio.Queue` and one failure breaker.

Guarantees (each covered by tests):
- every task is handed to exactly one worker, and `task_done()` is called exactly once per `get()`;
- at most `max_workers` tasks are in flight; idle workers block on the queue, they never poll;
- an exception from `process_task` is a failure: it is recorded (task + exception) in `failures`
  and raises the shared consecutive-failure counter; any success resets it. A database fault
  (`app.db.outage`) is not: it stops the run (reason "database") and its task counts as unprocessed;
- at `MAX_CONSECUTIVE_FAILURES` in a row, or on `cancel()`, the run stops promptly: no new task
  starts and in-flight tasks are *cancelled* (their work is repeated on resume, which is safe
  because callers commit each item's results atomically). `run` then raises
  `CollectionPausedException` carrying the unprocessed tasks and the failures so far;
- activity events reach `on_activity` synchronously, in emission order; a failing callback is
  logged and never breaks a worker;
- `process_task` may return `Deferred(finish)`: the task's last step (its commit, then its events)
  runs as the worker's *writer* while the worker takes its next task. Each worker has at most one
  task waiting in its writer; a task's outcome (success, failure, stop) is its writer's. A run
  stops only once every writer has finished (or, past `WRITER_GRACE`, been cancelled and its task
  counted as unprocessed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, Literal, TypeVar

from app import metrics
from app.db.outage import is_database_fault
from app.models import ActivityAction, ActivityEntry

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 5
MAX_CONSECUTIVE_FAILURES = 5
# How long a stopping run waits for a writer still committing. A healthy commit takes milliseconds;
# one still going after this is waiting for an absent database, and a stop must not wait for that.
WRITER_GRACE = 2.0

StopReason = Literal["failures", "cancelled", "layout", "database"]


# The runner's name for the one event model (fields, wire form and the `gap` constructor live there).
ActivityEvent = ActivityEntry


def create_activity_event(worker_id: int, phase: str, action: ActivityAction, **fields: Any) -> ActivityEvent:
    """An `ActivityEvent` with a fresh id and the current UTC time."""
    return ActivityEvent.create(worker_id, phase, action, **fields)


@dataclass(frozen=True)
class TaskFailure(Generic[T]):
    task: T
    error: Exception
    worker_id: int


class CollectionPausedException(Exception):
    """The runner stopped before finishing: too many consecutive failures, or `cancel()`."""

    def __init__(
        self,
        message: str,
        *,
        reason: StopReason = "failures",
        unprocessed: Sequence[Any] = (),
        failures: Sequence[TaskFailure[Any]] = (),
    ) -> None:
        super().__init__(message)
        self.reason: StopReason = reason
        self.unprocessed: list[Any] = list(unprocessed)
        self.failures: list[TaskFailure[Any]] = list(failures)


@dataclass(frozen=True)
class Deferred(Generic[R]):
    """A task's last step, to run off its worker's path (see the module's docstring)."""

    finish: Callable[[], Awaitable[R]]


class _Stop:
    """Poison pill: one per worker, queued after the tasks."""


_STOP = _Stop()
# `_attempt`'s value for a task whose exception was counted.
_FAILED = object()


@dataclass
class _RunState:
    results: list[Any] = field(default_factory=list)
    unprocessed: list[Any] = field(default_factory=list)
    stop_reason: StopReason | None = None
    stop_message: str = ""
    workers: dict[int, asyncio.Task[list[Any]]] = field(default_factory=dict)
    # Writers not yet settled, with their task (a worker cancelled twice may leave one to `run`).
    writers: dict[asyncio.Task[Any], Any] = field(default_factory=dict)


async def _cancelled(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class ParallelCollectionRunner:
    """
    Runs `process_task(task, worker_id)` over tasks with `max_workers` workers.

    Usage:
        runner = ParallelCollectionRunner(on_activity=lambda event: stream.push(run_id, event))
        results = await runner.run(tasks, process_task, phase="ebay")
        runner.failures  # tasks whose process_task raised, with the exception
    """

    def __init__(
        self,
        max_workers: int = MAX_WORKERS,
        on_activity: Callable[[ActivityEvent], None] | None = None,
        *,
        max_consecutive_failures: int = MAX_CONSECUTIVE_FAILURES,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.on_activity = on_activity
        self.max_consecutive_failures = max_consecutive_failures
        self.work_queue: asyncio.Queue[Any] = asyncio.Queue()
        self.consecutive_failures = 0
        self.failure_lock = asyncio.Lock()
        self.failures: list[TaskFailure[Any]] = []
        self._cancelled = False
        self._state = _RunState()

    def cancel(self) -> None:
        """Stop every worker now: no new task starts, in-flight tasks are cancelled.

        Sticky for this runner: a `run` started after `cancel()` stops at once.
        """
        self._cancelled = True
        self._stop("cancelled", "Cancelled")

    async def emit_activity(self, event: ActivityEvent) -> None:
        """Hand `event` to the callback now (no task is spawned, so order is kept)."""
        if self.on_activity is None:
            return
        try:
            self.on_activity(event)
        except Exception:
            logger.exception("activity callback failed for %s/%s", event.phase, event.action)

    async def handle_failure(self, worker_id: int, error: str) -> bool:
        """Count a failure; True when the breaker trips (the run must stop)."""
        async with self.failure_lock:
            self.consecutive_failures += 1
            logger.warning("worker %d failure (%d in a row): %s", worker_id, self.consecutive_failures, error)
            return self.consecutive_failures >= self.max_consecutive_failures

    async def reset_failures(self) -> None:
        async with self.failure_lock:
            self.consecutive_failures = 0

    def _stop(self, reason: StopReason, message: str) -> None:
        state = self._state
        if state.stop_reason is None:
            state.stop_reason = reason
            state.stop_message = message
        for task in state.workers.values():
            # Not the caller's own worker (a writer stopping the run cancels its worker like any other).
            if task is not asyncio.current_task() and not task.done():
                task.cancel()

    async def worker(
        self,
        worker_id: int,
        process_task: Callable[[T, int], Awaitable[R | Deferred[R]]],
        phase: str,
    ) -> list[R]:
        """Take tasks until a poison pill arrives or the run stops; return this worker's results."""
        state = self._state
        results: list[R] = []
        writer: asyncio.Task[R] | None = None
        try:
            while state.stop_reason is None:
                # get() on a non-empty queue does not yield; without this, tasks that never wait would let
                # one worker run everything and starve the loop (SSE sends, lease heartbeats).
                await asyncio.sleep(0)
                task = await self.work_queue.get()
                try:
                    if isinstance(task, _Stop):
                        break
                    outcome = await self._attempt(task, worker_id, phase, partial(process_task, task, worker_id))
                    if isinstance(outcome, Deferred):
                        # At most one task waits per writer: the previous one settles before this one starts.
                        if writer is not None:
                            try:
                                await self._settle(writer, results)
                            except asyncio.CancelledError:
                                state.unprocessed.append(task)
                                raise
                            writer = None
                        if state.stop_reason is not None:
                            state.unprocessed.append(task)  # its results were never committed
                            break
                        writer = asyncio.create_task(self._attempt(task, worker_id, phase, outcome.finish))
                        state.writers[writer] = task
                    else:
                        await self._record(outcome, results)
                finally:
                    self.work_queue.task_done()
        finally:
            if writer is not None:
                # Stopping or done: the task in the writer is committed (or given up) before the worker ends.
                await self._settle(writer, results, stopping=True)
        return results

    async def _settle(self, writer: asyncio.Task[Any], results: list[Any], *, stopping: bool = False) -> None:
        """Wait for a writer and count its task's outcome (past `WRITER_GRACE` when `stopping`: give it up)."""
        state = self._state
        try:
            # asyncio.wait never cancels what it waits for: a worker being cancelled leaves its writer be.
            done, _ = await asyncio.wait({writer}, timeout=WRITER_GRACE if stopping else None)
        except asyncio.CancelledError:
            if not stopping:
                raise
            done = set()  # cancelled again while stopping (the caller of `run` is cancelled): give it up
        if not done:
            await _cancelled(writer)
        task = state.writers.pop(writer, None)
        if writer.cancelled():
            if task is not None:
                state.unprocessed.append(task)
            return
        await self._record(writer.result(), results)

    async def _record(self, outcome: Any, results: list[Any]) -> None:
        """Count a task's outcome: a success is a result, and ends a run of consecutive failures."""
        if outcome is not _FAILED:
            results.append(outcome)
            self._state.results.append(outcome)
            await self.reset_failures()

    async def _give_up_writers(self) -> None:
        """Writers a twice-cancelled worker left behind: cancelled, their tasks unprocessed (none run on)."""
        state = self._state
        for writer, task in list(state.writers.items()):
            await _cancelled(writer)
            del state.writers[writer]
            if writer.cancelled() or writer.exception() is not None:
                state.unprocessed.append(task)

    async def _attempt(self, task: Any, worker_id: int, phase: str, step: Callable[[], Awaitable[Any]]) -> Any:
        """`step()` for `task`: its value, or `_FAILED` once its exception is counted (a stop, a failure)."""
        state = self._state
        try:
            return await step()
        except asyncio.CancelledError:
            if state.stop_reason is not None and asyncio.current_task() in state.workers.values():
                state.unprocessed.append(task)
            raise
        except CollectionPausedException as exc:
            # process_task asked for the run to stop: a pause signal, or (reason "layout") the
            # pipeline saw that the upstream's pages are mostly unreadable.
            state.unprocessed.append(task)
            self._stop("layout" if exc.reason == "layout" else "cancelled", str(exc))
        except Exception as exc:
            if is_database_fault(exc):
                # The database stayed away longer than the run may wait: not the task's
                # failure and not the upstream's. The task is done again after the outage.
                state.unprocessed.append(task)
                self._stop("database", f"database unavailable: {exc}")
                return _FAILED
            self.failures.append(TaskFailure(task=task, error=exc, worker_id=worker_id))
            if state.stop_reason is not None:
                # Finished failing after the stop (its cancellation arrived too late): keep
                # the failure, but the breaker has already done its job.
                return _FAILED
            if await self.handle_failure(worker_id, f"{type(exc).__name__}: {exc}"):
                message = f"{self.max_consecutive_failures} consecutive failures; last: {exc}"
                logger.error("%s phase stopping: %s", phase, message)
                metrics.BREAKER_TRIPS.labels(phase).inc()
                self._stop("failures", message)
        return _FAILED

    async def run(
        self,
        tasks: Sequence[T],
        process_task: Callable[[T, int], Awaitable[R | Deferred[R]]],
        phase: str = "collection",
    ) -> list[R]:
        """Process every task; return the successful results (in completion order).

        Raises `CollectionPausedException` when stopped by the breaker or `cancel()`.
        """
        self.consecutive_failures = 0
        self.failures = []
        self._state = state = _RunState()
        if self._cancelled:
            raise CollectionPausedException("Cancelled", reason="cancelled", unprocessed=tasks)
        if not tasks:
            return []

        self.work_queue = asyncio.Queue()
        for task in tasks:
            self.work_queue.put_nowait(task)
        for _ in range(self.max_workers):
            self.work_queue.put_nowait(_STOP)

        for worker_id in range(1, self.max_workers + 1):
            state.workers[worker_id] = asyncio.create_task(
                self.worker(worker_id, process_task, phase), name=f"{phase}-worker-{worker_id}"
            )
        try:
            outcomes = await asyncio.gather(*state.workers.values(), return_exceptions=True)
        except asyncio.CancelledError:
            # Our caller was cancelled: gather has cancelled the workers; make sure none lingers.
            self._stop("cancelled", "Cancelled")
            await asyncio.gather(*state.workers.values(), return_exceptions=True)
            await self._give_up_writers()
            raise
        await self._give_up_writers()
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
                raise outcome

        if state.stop_reason is not None:
            while not self.work_queue.empty():
                leftover = self.work_queue.get_nowait()
                self.work_queue.task_done()
                if not isinstance(leftover, _Stop):
                    state.unprocessed.append(leftover)
            raise CollectionPausedException(
                state.stop_message,
                reason=state.stop_reason,
                unprocessed=state.unprocessed,
                failures=self.failures,
            )
        return list(state.results)
