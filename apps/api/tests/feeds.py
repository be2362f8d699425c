"""Reading a run's activity in tests, from inside the server process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from tests.conftest import LiveServer

Events = list[dict[str, Any]]


class Feed:
    """A run's activity, subscribed before the run starts so no event is missed."""

    def __init__(self, live: LiveServer, run_id: str | UUID) -> None:
        self.subscription = live.runtime.activity_stream.subscribe(UUID(str(run_id)))
        self.events: Events = []

    async def until(self, predicate: Callable[[Events], bool], timeout: float = 60) -> Events:
        async def read() -> None:
            if predicate(self.events):
                return
            async for item in self.subscription:
                self.events.append(json.loads(item.data))
                if predicate(self.events):
                    return
            raise AssertionError(f"feed ended before the condition held: {self.events[-3:]}")

        await asyncio.wait_for(read(), timeout)
        return self.events

    def close(self) -> None:
        self.subscription.close()


def run_event(*actions: str) -> Callable[[Events], bool]:
    """True once the run itself reports one of `actions` (complete, failed, cancelled, paused, ...)."""
    return lambda events: any(e["phase"] == "run" and e["action"] in actions for e in events)


terminal = run_event("complete", "failed", "cancelled")
