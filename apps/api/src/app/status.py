"""The states a run and its work items go through, as stored in PostgreSQL (see migration 002)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema


class LiteralEnum(StrEnum):
    """A StrEnum that pydantic validates and documents as a Literal of its values, and holds as a member.

    A plain enum would become a schema of its own in the OpenAPI document, which has always shown
    these fields as inline string enums (and must not change).
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(cls, core_schema.literal_schema([m.value for m in cls]))


class RunStatus(LiteralEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunPhase(LiteralEnum):
    AMAZON = "amazon"
    EBAY = "ebay"
    DONE = "done"


class ItemKind(LiteralEnum):
    CATEGORY = "category"
    PRODUCT = "product"


class ItemStatus(LiteralEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


OPEN_STATUSES = frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED})
TERMINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
