"""What the fake upstreams share: scripted faults, the request log, HTTP Basic auth, serving on loopback.

    fake.fail(Fault.rate_limited(retry_after="2", times=1))         # every request, once
    fake.fail(Fault.server_error(503), key=some_key)                # only requests for that key
    stall = fake.fail(Fault.slow(release=asyncio.Event()))          # held until released
    async with serve_fake(fake) as base_url:
        ...
        await stall.arrived.wait()                                  # a request met the fault

A fault scripted for a key wins over one for every request; each fault answers `times` requests
(None: all of them) in the order they were scripted. A subclass says how its upstream words a 429
and a 5xx (`_rate_limited`, `_server_error`), answers its own fault kinds in `_special`, and names
the app settings that reach it (`settings`).
`requests` counts the authorised, well-formed requests per key (faulted ones included), `received`
keeps what they carried in arrival order, and `unauthorized` counts the refusals.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections import Counter
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from tests.support import serve_on_loopback

KeyT = TypeVar("KeyT", bound=Hashable)
FaultT = TypeVar("FaultT", bound="Fault")


@dataclass
class Fault:
    """A scripted misbehaviour: what replaces the normal answer, for how many requests."""

    kind: str
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0
    release: asyncio.Event | None = None
    times: int | None = None  # None: every matching request
    hits: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set when a request meets this fault

    @classmethod
    def rate_limited(cls: type[FaultT], retry_after: str | None = "1", *, times: int | None = None) -> FaultT:
        """429, with `Retry-After: retry_after` unless it is None."""
        return cls("rate_limited", status=429, retry_after=retry_after, times=times)

    @classmethod
    def server_error(cls: type[FaultT], status: int = 500, *, times: int | None = None) -> FaultT:
        return cls("server_error", status=status, times=times)

    @classmethod
    def slow(
        cls: type[FaultT], *, release: asyncio.Event | None = None, seconds: float = 0.0, times: int | None = None
    ) -> FaultT:
        """Answer normally, but only once `release` is set (or after `seconds`)."""
        return cls("slow", release=release, seconds=seconds, times=times)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class FaultyUpstream(Generic[KeyT]):
    """The base of a fake upstream; a subclass builds `app` and calls `_record` and `_misbehave`."""

    app: Starlette

    def __init__(self) -> None:
        self.requests: Counter[KeyT] = Counter()
        self.received: list[dict[str, Any]] = []
        self.unauthorized = 0
        self._faults: dict[KeyT | None, list[Fault]] = {}

    def fail(self, fault: FaultT, *, key: KeyT | None = None) -> FaultT:
        """Script `fault` for requests about `key`, or without a key for every request."""
        self._faults.setdefault(key, []).append(fault)
        return fault

    def release_all(self) -> None:
        """Let every stalled request go on (a server stopping must not wait for them)."""
        for faults in self._faults.values():
            for fault in faults:
                if fault.release is not None:
                    fault.release.set()

    def clear_faults(self) -> None:
        self.release_all()
        self._faults.clear()

    def reset(self) -> None:
        """No faults, and an empty request log: a fake shared by several tests starts each afresh."""
        self.clear_faults()
        self.requests.clear()
        self.received.clear()
        self.unauthorized = 0

    def _record(self, key: KeyT, carried: dict[str, Any]) -> None:
        self.requests[key] += 1
        self.received.append(carried)

    async def _misbehave(self, key: KeyT, request: Request) -> tuple[Fault | None, Response | None]:
        """The fault this request meets (if any), and the answer that replaces the normal one (if any)."""
        fault = self._fault_for(key)
        if fault is None:
            return None, None
        fault.arrived.set()
        if fault.kind == "rate_limited":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
            return fault, self._rate_limited(headers)
        if fault.kind == "server_error":
            return fault, self._server_error(fault.status)
        if fault.kind == "slow":
            if fault.release is not None:
                await fault.release.wait()
            else:
                await asyncio.sleep(fault.seconds)
            return fault, None
        return fault, self._special(fault, request)

    def _fault_for(self, key: KeyT) -> Fault | None:
        for scope in (key, None):
            for fault in self._faults.get(scope, []):
                if not fault.exhausted:
                    fault.hits += 1
                    return fault
        return None

    def settings(self, base_url: str) -> dict[str, Any]:
        """App settings that send the app to this fake, served at `base_url`."""
        raise NotImplementedError

    def _rate_limited(self, headers: dict[str, str] | None) -> Response:
        raise NotImplementedError

    def _server_error(self, status: int) -> Response:
        raise NotImplementedError

    def _special(self, fault: Fault, request: Request) -> Response | None:
        """The answer to a fault kind only this upstream has; None carries on normally."""
        return None


def basic_auth_matches(header: str, username: str, password: str) -> bool:
    """Whether an `Authorization` header is HTTP Basic with exactly these credentials."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return decoded == f"{username}:{password}"


@asynccontextmanager
async def serve_fake(fake: FaultyUpstream[Any]) -> AsyncIterator[str]:
    """Serve `fake` over real HTTP on a loopback port in this event loop; yields the base URL."""
    # Stalled handlers would otherwise hold the graceful shutdown until its timeout.
    async with serve_on_loopback(fake.app, before_exit=fake.release_all) as base_url:
        yield base_url
