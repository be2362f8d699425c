"""API response models are views of rows: each declares a subset of its row's fields, with compatible types.

Routers build responses with `Model.model_validate(row)` (`from_attributes`), so a field the row
lacks, or a type that drifted (a Decimal the model calls a float, a str the model calls a
Literal), would fail or lie at run time. This test finds it first.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, Union
from uuid import UUID

import pytest
from pydantic import BaseModel, Field

from app import models
from app.repositories.audit import AuditRow, JournalRow, TimelineRow
from app.repositories.evidence import ListingRow
from app.repositories.items import SkipCount
from app.repositories.notifications import AttemptRow, SubscriptionRow
from app.repositories.presets import PresetRow
from app.repositories.runs import FinishedRunRow, RunRow
from app.repositories.schedules import FireRow
from app.repositories.seller_profiles import ScoreReason, SellerDetailRow
from app.repositories.sellers import SellerRow
from app.security import Caller
from app.services.accounts import OpenedSession
from app.services.notifications.subscriptions import CreatedWebhook
from app.services.runs.forecast import Forecast
from app.services.runs.lifecycle import ItemTally, Progress, RunView
from app.services.runs.pipeline import WorkerState
from app.services.scheduling.schedules import ScheduleView
from app.services.sellers.seller_list import BulkAdded, Deleted, Flagged, SellersAtEntry, Skipped
from app.status import ItemKind, RunStatus

# Each response model, and the row (or service result) a router validates it from.
BUILT_FROM: dict[type[BaseModel], type] = {
    models.MeResponse: Caller,
    models.SessionResponse: OpenedSession,
    models.RunResponse: RunRow,
    models.RunDetail: RunView,
    models.RunHistoryEntry: FinishedRunRow,
    models.RunProgress: Progress,
    models.WorkerProgress: WorkerState,
    models.ItemCount: ItemTally,
    models.SkippedProducts: SkipCount,
    models.RunForecast: Forecast,
    models.SellerOut: SellerRow,
    models.SellerDetail: SellerDetailRow,
    models.ScoreReasonOut: ScoreReason,
    models.ListingOut: ListingRow,
    models.BulkAddResult: BulkAdded,
    models.SkippedName: Skipped,
    models.BulkDeleteResult: Deleted,
    models.FlagResult: Flagged,
    models.AuditEntry: AuditRow,
    models.TimelineEntry: TimelineRow,
    models.SellersAtPoint: SellersAtEntry,
    models.JournalChange: JournalRow,
    models.PresetOut: PresetRow,
    models.ScheduleOut: ScheduleView,
    models.ScheduleFireOut: FireRow,
    models.SubscriptionOut: SubscriptionRow,
    models.WebhookOut: SubscriptionRow,
    models.WebhookCreated: CreatedWebhook,
    models.EmailOut: SubscriptionRow,
    models.DeliveryOut: AttemptRow,
}
# Models read from attributes that are their own stored form (the run row keeps RunSettingsOut as is).
STORED_AS_IS = {models.RunSettingsOut}

_NONE = type(None)
_SEQUENCES = (list, tuple, set, frozenset)


def _strip(tp: Any) -> Any:
    """The type without Annotated metadata (validators, schema overrides)."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return None


def _literal_values(tp: Any) -> set[Any] | None:
    tp = _strip(tp)
    if typing.get_origin(tp) is Literal:
        return set(typing.get_args(tp))
    if isinstance(tp, type) and issubclass(tp, Enum):
        return {member.value for member in tp}
    return None


def row_fields(row: type) -> dict[str, Any]:
    """A row's fields and typed properties (a property is read like a field), with resolved annotations."""
    hints = typing.get_type_hints(row, include_extras=True)
    found = {f.name: hints[f.name] for f in dataclasses.fields(row)}
    for name in dir(row):
        attr = getattr(row, name, None)
        if isinstance(attr, property) and attr.fget is not None:
            found[name] = typing.get_type_hints(attr.fget, include_extras=True)["return"]
    return found


def type_problem(model_tp: Any, row_tp: Any) -> str | None:
    """Why a row value of `row_tp` does not fit a model field of `model_tp` (None: it fits)."""
    model_tp, row_tp = _strip(model_tp), _strip(row_tp)
    if model_tp == row_tp or model_tp is Any:
        return None
    model_union, row_union = _union_members(model_tp), _union_members(row_tp)
    if model_union is not None or row_union is not None:
        model_members = [m for m in (model_union or (model_tp,)) if m is not _NONE]
        row_members = [r for r in (row_union or (row_tp,)) if r is not _NONE]
        if _NONE in (row_union or ()) and _NONE not in (model_union or ()):
            return f"the row may be None, the model {model_tp} may not"
        for row_member in row_members:
            if all(type_problem(m, row_member) for m in model_members):
                return f"{row_member} fits none of {model_members}"
        return None
    model_values, row_values = _literal_values(model_tp), _literal_values(row_tp)
    if model_values is not None:
        if row_values is None:
            return f"the model allows only {sorted(model_values)}, the row is any {row_tp}"
        if not row_values <= model_values:
            return f"the row's {sorted(row_values - model_values)} are not among the model's values"
        return None
    if model_tp is str and row_values is not None:
        return None  # a string field takes any of the row's fixed strings
    if model_tp is float and row_tp is int:
        return None  # an int where the model documents a number
    if isinstance(model_tp, type) and issubclass(model_tp, BaseModel):
        problems = field_problems(model_tp, row_tp) if dataclasses.is_dataclass(row_tp) else ["not a row"]
        return f"{row_tp} is no {model_tp.__name__}: {problems}" if problems else None
    model_origin, row_origin = typing.get_origin(model_tp), typing.get_origin(row_tp)
    if model_origin is list and row_origin in _SEQUENCES:
        return type_problem(typing.get_args(model_tp)[0], typing.get_args(row_tp)[0])
    if model_origin is dict and row_origin is dict:
        pairs = zip(typing.get_args(model_tp), typing.get_args(row_tp), strict=True)
        return next((p for m, r in pairs if (p := type_problem(m, r))), None)
    return f"the model has {model_tp}, the row {row_tp}"


def field_problems(model: type[BaseModel], row: type) -> list[str]:
    """Every model field the row lacks or types incompatibly."""
    fields = row_fields(row)
    problems = []
    for name, info in model.model_fields.items():
        if name not in fields:
            problems.append(f"{model.__name__}.{name}: not a field of {row.__name__}")
        elif problem := type_problem(info.annotation, fields[name]):
            problems.append(f"{model.__name__}.{name}: {problem}")
    return problems


@pytest.mark.parametrize(("model", "row"), BUILT_FROM.items(), ids=lambda x: x.__name__)
def test_each_response_model_is_a_subset_of_its_row(model: type[BaseModel], row: type) -> None:
    assert field_problems(model, row) == []


def test_every_model_read_from_attributes_is_checked() -> None:
    read_from_attributes = {
        cls
        for cls in vars(models).values()
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls.model_config.get("from_attributes")
    }
    assert read_from_attributes - STORED_AS_IS == set(BUILT_FROM)


# A model and a row that drifted the ways the issue found, and more.
@dataclass(frozen=True)
class DriftedRow:
    upstream_cost: Decimal
    trigger: str
    status: Literal["pending", "lost"]
    created_by: UUID | None
    names: list[int]
    settings: FireRow


class DriftedModel(BaseModel):
    upstream_cost: float
    trigger: Literal["manual", "schedule"]
    status: RunStatus
    created_by: UUID
    names: list[str]
    settings: models.RunSettingsOut
    at: datetime = Field(description="not in the row")


def test_the_check_notices_drift() -> None:
    problems = field_problems(DriftedModel, DriftedRow)
    assert [p.split(":")[0] for p in problems] == [f"DriftedModel.{name}" for name in DriftedModel.model_fields]
    assert "the model has <class 'float'>, the row <class 'decimal.Decimal'>" in problems[0]
    assert "the model allows only ['manual', 'schedule'], the row is any <class 'str'>" in problems[1]
    assert "['lost'] are not among the model's values" in problems[2]
    assert "the row may be None" in problems[3]


def test_the_check_accepts_what_validation_accepts() -> None:
    assert type_problem(float, int) is None
    assert type_problem(RunStatus, Literal["pending", "running"]) is None
    assert type_problem(Literal["category", "product"], ItemKind) is None
    assert type_problem(str | None, models.RunTrigger) is None
    assert type_problem(list[str], frozenset[str]) is None
    assert type_problem(models.DecimalNumber, Decimal) is None


class _WithStatus(BaseModel):
    status: RunStatus
    provider: models.Provider | None = None


def test_a_literal_enum_field_holds_the_member_and_is_documented_inline() -> None:
    parsed = _WithStatus.model_validate({"status": "paused", "provider": "demo"})
    assert parsed.status is RunStatus.PAUSED and parsed.provider is models.Provider.DEMO
    assert parsed.model_dump_json() == '{"status":"paused","provider":"demo"}'
    schema = _WithStatus.model_json_schema()
    assert "$defs" not in schema  # no schema of its own, as a Literal
    assert schema["properties"]["status"] == {
        "type": "string",
        "enum": [s.value for s in RunStatus],
        "title": "Status",
    }
    with pytest.raises(ValueError, match="Input should be 'auto', 'demo' or 'oxylabs'"):
        _WithStatus.model_validate({"status": "paused", "provider": "ebay"})
