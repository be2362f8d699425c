"""API models (request and response bodies) and the activity feed's event shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class HealthResponse(BaseModel):
    ok: bool
    database: Literal["ok", "unavailable"]
    version: str


class MeResponse(BaseModel):
    user_id: UUID
    email: str
    org_id: UUID
    org_name: str
    permission_keys: list[str]


class SessionResponse(BaseModel):
    csrf_token: str = Field(description="Echo this in X-CSRF-Token on state-changing cookie requests.")
    expires_at: datetime


# --- Activity feed -----------------------------------------------------------------------------

ActivityAction = Literal[
    # worker steps
    "fetching", "found", "error", "rate_limited", "complete",
    # pipeline (worker_id 0) steps
    "uploading", "deduped", "inserted", "updated",
    # run lifecycle
    "started", "paused", "resumed", "cancelled", "failed",
    # stream control
    "gap",
]  # fmt: skip


class ApiParams(BaseModel):
    """What a worker asked the upstream for; prices are in cents."""

    model_config = ConfigDict(extra="allow")

    query: str | None = None
    page: int | None = None
    amazon_price: int | None = None
    price_min: int | None = None
    price_max: int | None = None
    node_id: str | None = None


class ActivityEntry(BaseModel):
    """One step of a run, as streamed to the activity feed. `worker_id` 0 is the pipeline itself."""

    id: str
    seq: int | None = Field(default=None, description="Per-run sequence number; also the SSE event id.")
    timestamp: str
    worker_id: int
    phase: str = Field(description="amazon, ebay or run")
    action: ActivityAction
    category: str | None = None
    product_name: str | None = None
    seller_found: str | None = None
    new_sellers_count: int | None = None
    error_message: str | None = None
    url: str | None = None
    api_params: ApiParams | None = None
    duration_ms: int | None = None
    attempt: int | None = None
    error_type: str | None = None
    items_count: int | None = None
    source_worker_id: int | None = None
    operation_type: str | None = None
    missed: int | None = Field(default=None, description="On a gap event: how many events were lost, if known.")
    retry_after_seconds: float | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class StreamTokenResponse(BaseModel):
    token: str
    expires_at: datetime
    url: str = Field(description="Relative URL that opens the stream with this token.")


# --- Collection runs ---------------------------------------------------------------------------

RunStatus = Literal["pending", "running", "paused", "completed", "failed", "cancelled"]


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    category_ids: list[str] = Field(min_length=1, max_length=200, description="Leaf ids from GET /amazon/categories")


class RunResponse(BaseModel):
    id: UUID
    name: str
    status: RunStatus
    phase: Literal["amazon", "ebay", "done"]
    status_reason: str | None
    category_ids: list[str]
    provider: str
    categories_total: int
    categories_completed: int
    products_total: int
    products_searched: int
    sellers_found: int
    sellers_new: int
    failed_items: int
    seller_count_snapshot: int | None
    created_by: UUID | None
    created_at: datetime
    started_at: datetime | None
    paused_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime


class RunList(BaseModel):
    runs: list[RunResponse]
    total: int
    limit: int
    offset: int


class WorkerProgress(BaseModel):
    worker_id: int
    phase: str
    state: str
    label: str | None
    since: str


class ItemCount(BaseModel):
    kind: Literal["category", "product"]
    status: str
    count: int


class RunProgress(BaseModel):
    run: RunResponse
    items: list[ItemCount]
    workers: list[WorkerProgress] = Field(description="Each worker's latest step (empty unless executing here).")
    executing_here: bool
    rate_limited_for_seconds: float | None = Field(description="Set while the run waits out an upstream 429.")


class CategoryOut(BaseModel):
    id: str
    name: str
    node_id: str


class DepartmentOut(BaseModel):
    id: str
    name: str
    node_id: str
    categories: list[CategoryOut]


class CatalogueResponse(BaseModel):
    version: str
    marketplace: str
    departments: list[DepartmentOut]
