"""Cron expressions in an IANA time zone: validation, and fire times as UTC instants.

Parsing and wall-clock arithmetic are cronsim's (Debian cron semantics across daylight-saving
changes): a fixed time that does not exist on a spring-forward day fires once, at the first valid
instant after the gap; a fixed time inside the repeated hour of a fall-back day fires once.
cronsim walks wall-clock time, so started inside a repeated hour it can answer an instant that is
already past; `fire_times_after` drops those, so fire times always strictly increase.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from app.errors import InvalidInput

# Common shorthands, written out: cronsim itself takes only five fields.
_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def normalize_cron(expression: str) -> str:
    """The expression as stored: five space-separated fields (aliases expanded); 422 with the reason."""
    text = " ".join(expression.split())
    text = _ALIASES.get(text.lower(), text)
    fields = text.split(" ")
    if len(fields) != 5:
        # cronsim also accepts a sixth (seconds) field; schedules fire at most once a minute.
        raise InvalidInput(
            f"Invalid cron expression {expression!r}: expected 5 fields (minute hour day month weekday), "
            f"got {len(fields) if text else 0}"
        )
    try:
        first = next(iter(CronSim(text, datetime(2000, 1, 1, tzinfo=UTC))), None)
    except CronSimError as exc:
        raise InvalidInput(f"Invalid cron expression {expression!r}: {exc}") from exc
    except (ValueError, LookupError, OverflowError) as exc:  # the parser's own surprises are still bad input
        raise InvalidInput(f"Invalid cron expression {expression!r}") from exc
    if first is None:
        raise InvalidInput(f"Invalid cron expression {expression!r}: it never fires")
    return text


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; 422 when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"Unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'") from exc


def describe(expression: str) -> str:
    """Plain English, e.g. "At 02:30 every day"."""
    try:
        return CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC)).explain()
    except Exception:  # a description is a nicety; never fail an answer for it
        return expression


def fire_times_after(expression: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Fire times strictly after `after`, in order, as UTC datetimes (endless for a valid schedule)."""
    tz = zone(timezone)
    last = after.astimezone(UTC)
    for local in CronSim(expression, last.astimezone(tz)):
        instant = local.astimezone(UTC)
        if instant > last:
            last = instant
            yield instant


def next_fire_time(expression: str, timezone: str, after: datetime) -> datetime:
    return next(fire_times_after(expression, timezone, after))


def next_fire_times(expression: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    times = fire_times_after(expression, timezone, after)
    return [next(times) for _ in range(count)]


def fire_times_until(expression: str, timezone: str, first: datetime, until: datetime, *, limit: int) -> list[datetime]:
    """`first` (itself a fire time) and every later fire time up to and including `until`, at most `limit`."""
    if first > until:
        return []
    found = [first]
    for instant in fire_times_after(expression, timezone, first):
        if instant > until or len(found) >= limit:
            break
        found.append(instant)
    return found


def latest_fire_time(expression: str, timezone: str, first: datetime, until: datetime) -> datetime:
    """The last fire time in [first, until] (`first` itself a fire time and not after `until`)."""
    tz = zone(timezone)
    # One second past `until`, because cronsim's reverse walk starts strictly before its origin.
    for local in CronSim(expression, (until + timedelta(seconds=1)).astimezone(tz), reverse=True):
        instant = local.astimezone(UTC)
        if instant <= until:
            return max(instant, first)
    return first
