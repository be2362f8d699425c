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
  logged and never breaks a worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from app import metrics
from app.db.outage import is_database_fault
from app.models import ActivityAction, ActivityEntry

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 5
MAX_CONSECUTIVE_FAILURES = 5

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


class _Stop:
    """Poison pill: one per worker, queued after the tasks."""


_STOP = _Stop()


@dataclass
class _RunState:
    results: list[Any] = field(default_factory=list)
    unprocessed: list[Any] = field(default_factory=list)
    stop_reason: StopReason | None = None
    stop_message: str = ""
    workers: dict[int, asyncio.Task[list[Any]]] = field(default_factory=dict)


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

    def _stop(self, reason: StopReason, message: str, *, current_worker: int | None = None) -> None:
        state = self._state
        if state.stop_reason is None:
            state.stop_reason = reason
            state.stop_message = message
        for worker_id, task in state.workers.items():
            if worker_id != current_worker and not task.done():
                task.cancel()

    async def worker(
        self,
        worker_id: int,
        process_task: Callable[[T, int], Awaitable[R]],
        phase: str,
    ) -> list[R]:
        """Take tasks until a poison pill arrives or the run stops; return this worker's results."""
        state = self._state
        results: list[R] = []
        while state.stop_reason is None:
            # get() on a non-empty queue does not yield; without this, tasks that never wait would let
            # one worker run everything and starve the loop (SSE sends, lease heartbeats).
            await asyncio.sleep(0)
            task = await self.work_queue.get()
            try:
                if isinstance(task, _Stop):
                    break
                try:
                    result = await process_task(task, worker_id)
                except asyncio.CancelledError:
                    if state.stop_reason is not None:
                        state.unprocessed.append(task)
                    raise
                except CollectionPausedException as exc:
                    # process_task asked for the run to stop: a pause signal, or (reason "layout") the
                    # pipeline saw that the upstream's pages are mostly unreadable.
                    state.unprocessed.append(task)
                    self._stop("layout" if exc.reason == "layout" else "cancelled", str(exc), current_worker=worker_id)
                except Exception as exc:
                    if is_database_fault(exc):
                        # The database stayed away longer than the run may wait: not the task's
                        # failure and not the upstream's. The task is done again after the outage.
                        state.unprocessed.append(task)
                        self._stop("database", f"database unavailable: {exc}", current_worker=worker_id)
                        continue
                    self.failures.append(TaskFailure(task=task, error=exc, worker_id=worker_id))
                    if state.stop_reason is not None:
                        # Finished failing after the stop (its cancellation arrived too late): keep
                        # the failure, but the breaker has already done its job.
                        continue
                    if await self.handle_failure(worker_id, f"{type(exc).__name__}: {exc}"):
                        message = f"{self.max_consecutive_failures} consecutive failures; last: {exc}"
                        logger.error("%s phase stopping: %s", phase, message)
                        metrics.BREAKER_TRIPS.labels(phase).inc()
                        self._stop("failures", message, current_worker=worker_id)
                else:
                    results.append(result)
                    state.results.append(result)
                    await self.reset_failures()
            finally:
                self.work_queue.task_done()
        return results

    async def run(
        self,
        tasks: Sequence[T],
        process_task: Callable[[T, int], Awaitable[R]],
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
            raise
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
