"""API models (request and response bodies), the activity feed's event shape, and the shared value types.

Response models are built from rows (`model_validate`, `from_attributes`): each declares a subset
of its row's fields (tests/unit/test_api_models.py checks names and types).
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    WithJsonSchema,
    computed_field,
    model_validator,
)

from app.scrapers.links import marketplace_url
from app.status import ItemKind, LiteralEnum, RunPhase, RunStatus


def reject_control_characters(value: str) -> str:
    """Names are typed by people: control characters (NUL above all, which PostgreSQL refuses) are errors.

    So are lone surrogates (JSON's "\\ud800"): they are not characters and cannot be stored as UTF-8.
    """
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cc":
            raise ValueError("must not contain control characters")
        if category == "Cs":
            raise ValueError("must not contain lone surrogates (invalid Unicode)")
    return value


def iso_datetime_only(value: object) -> object:
    """Pydantic also reads a bare number as a Unix time; the API documents ISO 8601 date-times only."""
    if isinstance(value, str) and value.strip().replace(".", "", 1).lstrip("+-").isdigit():
        raise ValueError("must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z")
    return value


IsoDatetime = Annotated[datetime, BeforeValidator(iso_datetime_only)]


# Request bodies take JSON scalars as they are: pydantic would turn "7" or true into 7 and 5 into "5", and a
# request that sends the wrong type is a mistake to report (422), not to guess at. Every int, float, bool and str
# field of a request model is one of pydantic's Strict types (StrictInt, StrictFloat, StrictBool, StrictStr) or
# CleanStr; a StrictFloat still takes a JSON integer. Only the scalars: a model-wide strict mode would refuse the
# JSON strings of UUIDs, date-times and enums (FastAPI validates the decoded JSON as Python objects).
# tests/integration/test_strict_bodies.py sends each request model's fields the wrong types.

# Text a person typed: no control characters, valid Unicode. Every string a request body carries is one.
CleanStr = Annotated[StrictStr, AfterValidator(reject_control_characters)]


# PostgreSQL numeric (money, percentages): exact in Python, a JSON number on the wire.
DecimalNumber = Annotated[Decimal, PlainSerializer(float, return_type=float), WithJsonSchema({"type": "number"})]


class Provider(LiteralEnum):
    """The upstream an org (or the server) collects from; `auto` is oxylabs when its credentials are set, else demo."""

    AUTO = "auto"
    DEMO = "demo"
    OXYLABS = "oxylabs"


# Value sets that rows and API models share.
RunTrigger = Literal["manual", "schedule"]
TimelineKind = Literal["run", "audit", "schedule"]
EntryKind = Literal["run", "audit"]  # a history entry with a seller list at its point
JournalOp = Literal["add", "remove", "rename"]
SkipReason = Literal["empty", "duplicate in request", "already in list"]
FireOutcome = Literal["started", "skipped", "missed", "failed"]
ScoreSignal = Literal["title_match", "products", "categories", "markup", "feedback", "recurrence"]


class HealthResponse(BaseModel):
    ok: bool
    database: Literal["ok", "unavailable"]
    version: str | None = Field(default=None, description="The server's version, for a signed-in caller only")


class MeResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: UUID
    email: str
    org_id: UUID
    org_name: str
    permission_keys: Annotated[list[str], AfterValidator(sorted)]


class SessionResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
    # the run waits for its database (duration_ms: how long so far), and it answers again
    "waiting_for_database", "database_back",
    # stream control
    "gap",
    # the search memory: a category's products left unsearched (one summary per category)
    "remembered",
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


# Run-level actions after which a run's stream has nothing more to say.
TERMINAL_RUN_ACTIONS: frozenset[str] = frozenset({"complete", "failed", "cancelled"})


class FoundSeller(BaseModel):
    """A seller a product's search brought, as its `found` event names it."""

    model_config = ConfigDict(frozen=True)

    name: str
    new: bool = Field(description="First found by this product's search (not in the list before)")


class ActivityEntry(BaseModel):
    """One step of a run, as published to its activity stream and sent as one SSE frame's data.

    The one event model: the runner's `ActivityEvent` is this class. `worker_id` 0 is the pipeline
    itself. Events are immutable once built; the stream numbers them with `model_copy`.
    """

    model_config = ConfigDict(frozen=True)

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
    concurrency_limit: int | None = Field(default=None, description="Requests the run allowed in flight then.")
    sellers: list[FoundSeller] | None = Field(
        default=None, description="On an eBay `found` event: up to three of the sellers found, the new ones first."
    )
    message: str | None = Field(
        default=None,
        description='On a `remembered` event, e.g. "9 of 12 products searched within the last 7 days: skipped"',
    )

    @classmethod
    def create(cls, worker_id: int, phase: str, action: ActivityAction, **fields: Any) -> ActivityEntry:
        """An event with a fresh id (unless given) and the current UTC time."""
        fields.setdefault("id", str(uuid4()))
        return cls(timestamp=datetime.now(UTC).isoformat(), worker_id=worker_id, phase=phase, action=action, **fields)

    @classmethod
    def gap(cls, missed: int | None) -> ActivityEntry:
        """The notice a reader gets instead of events it lost (`missed` None: how many is unknown)."""
        return cls.create(0, "run", "gap", id=f"gap-{uuid4()}", missed=missed)

    @property
    def is_terminal(self) -> bool:
        """The run is over (completed, failed or cancelled): its stream ends after this event."""
        return self.phase == "run" and self.action in TERMINAL_RUN_ACTIONS

    def to_json(self) -> str:
        """The wire form: compact JSON without unset fields."""
        return self.model_dump_json(exclude_none=True)


class StreamTokenResponse(BaseModel):
    token: str
    expires_at: datetime
    url: str = Field(description="Relative URL that opens the stream with this token.")


# --- Collection runs ---------------------------------------------------------------------------


# "new": search only the products the org's search memory says are due; "all": every product.
Refresh = Literal["new", "all"]
REFRESH_DESCRIPTION = (
    '"new": search only products new to the org, last searched more than refresh_after_days ago, or whose price '
    'moved the eBay price window off the last one; "all": search every product'
)


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CleanStr | None = Field(default=None, max_length=200)
    category_ids: list[Annotated[CleanStr, Field(max_length=100)]] | None = Field(
        default=None, min_length=1, max_length=200, description="Leaf ids from GET /amazon/categories"
    )
    preset_id: UUID | None = Field(default=None, description="A preset from GET /amazon/presets, instead of ids")
    refresh: Refresh | None = Field(
        default=None, description=REFRESH_DESCRIPTION + ' (default: the preset\'s choice, else "new")'
    )

    @model_validator(mode="after")
    def _one_target(self) -> RunCreate:
        if (self.category_ids is None) == (self.preset_id is None):
            raise ValueError("give exactly one of category_ids and preset_id")
        return self


class RunSettingsOut(BaseModel):
    """The settings a run was created with (and runs with)."""

    # Also the run row's `settings` (stored as JSON): `provider` is what the run records, e.g. "oxylabs+ebay_api".
    model_config = ConfigDict(from_attributes=True, frozen=True)

    provider: str
    ebay_pages_per_product: int
    price_min_multiplier: float
    price_max_multiplier: float
    workers: int
    # Runs recorded before the search memory ran with its default.
    refresh_after_days: int = 7


class RunResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    status: RunStatus
    phase: RunPhase
    status_reason: str | None
    category_ids: list[str]
    provider: str
    categories_total: int
    categories_completed: int
    products_total: int
    products_searched: int
    products_remembered: int = Field(
        default=0,
        description="Products of the lists left unsearched: searched within refresh_after_days (not in products_total)",
    )
    refresh: Refresh = Field(default="new", description=REFRESH_DESCRIPTION)
    sellers_found: int
    sellers_new: int
    failed_items: int
    upstream_requests: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="Upstream requests by provider and kind (best_sellers, ebay_page, retry, rate_limited).",
    )
    upstream_cost: DecimalNumber = Field(
        default=Decimal(0), description="USD, priced per provider when the requests were made."
    )
    ebay_pages_skipped: int = Field(
        default=0, description="Result pages not fetched: no listing inside the window, or the exact matches ended."
    )
    listings_read: int = Field(default=0, description="eBay listings on the result pages the run read.")
    listings_with_seller: int = Field(
        default=0, description="Of `listings_read`, those with a readable seller line (their sellers were stored)."
    )
    seller_count_snapshot: int | None
    trigger: RunTrigger = "manual"
    preset_id: UUID | None = None
    schedule_id: UUID | None = None
    settings: RunSettingsOut | None = Field(default=None, description="Null on runs made before per-run settings")
    created_by: UUID | None
    created_at: datetime
    started_at: datetime | None
    paused_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    active_seconds: float | None = Field(
        description="Time the run has been going since it started, pauses left out (null before it starts)."
    )
    paused_seconds: float = Field(description="Time the run has spent paused, the ongoing pause included.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def requests_total(self) -> int:
        return sum(sum(kinds.values()) for kinds in self.upstream_requests.values())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_per_new_seller(self) -> float | None:
        return round(float(self.upstream_cost) / self.sellers_new, 4) if self.sellers_new else None

    @computed_field(  # type: ignore[prop-decorator]
        description="Seller-line coverage: listings_with_seller / listings_read (null before a page was read)."
    )
    @property
    def seller_coverage(self) -> float | None:
        return round(self.listings_with_seller / self.listings_read, 4) if self.listings_read else None


class RunDetail(RunResponse):
    """A run as `GET /collection/runs/{id}` shows it: the row, and what only its executing process knows."""

    waiting_for_database_since: datetime | None = Field(
        default=None,
        description="Set while the run waits for its database to answer again (null otherwise, and null "
        "when asked of a process that does not execute the run).",
    )


class RequestRange(BaseModel):
    low: int = Field(description="Every product found on its first result page")
    high: int = Field(
        description="Every product searched to ebay_pages_per_product pages (products of fetched lists that a "
        '"new" run would skip included: any of them may have been replaced since)'
    )
    likely: int = Field(description="At the org's recent pages per product (else halfway)")


class CostRange(BaseModel):
    low: DecimalNumber
    high: DecimalNumber
    likely: DecimalNumber


class RunEstimate(BaseModel):
    """What a run with this body would search and cost, before it is created (nothing is stored)."""

    refresh: Refresh
    refresh_after_days: int
    categories: int
    categories_fetched: int = Field(
        description="Lists the org has fetched before (read from its search memory); the rest are estimated "
        "from the catalogue's typical list size"
    )
    products_expected: int = Field(description="Products in the lists")
    products_to_search: int = Field(description="Of those, the products the run would search (the rest remembered)")
    requests_expected: RequestRange = Field(description="Upstream requests: one per list, then eBay result pages")
    cost_expected: CostRange = Field(description="USD, priced per provider as runs are priced")


class RunList(BaseModel):
    runs: list[RunResponse]
    total: int
    limit: int
    offset: int


class WorkerProgress(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    worker_id: int
    phase: str
    state: str
    label: str | None
    since: str


class ItemCount(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: ItemKind
    status: str
    count: int


class SkippedProducts(BaseModel):
    """Products a run did not search, for one reason."""

    model_config = ConfigDict(from_attributes=True)

    reason: str = Field(description="Why they were not searched, e.g. `no usable price`.")
    count: int


class RunForecast(BaseModel):
    """What is left of a running run: time at the recent rate, and cost at the cost per product so far."""

    model_config = ConfigDict(from_attributes=True)

    eta_seconds: float | None = Field(
        description="Seconds left at the recent rate (null while paused, before the eBay phase, or without a rate)."
    )
    products_per_minute: float | None = Field(
        description="Products finished per minute over the last minute the run was running."
    )
    projected_cost: DecimalNumber | None = Field(
        description="USD the run will have cost when every product is searched (null before the eBay phase)."
    )


class RunProgress(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    run: RunResponse
    items: list[ItemCount]
    skipped_products: list[SkippedProducts] = Field(
        default_factory=list, description="Products counted as searched without a search, by reason."
    )
    forecast: RunForecast
    workers: list[WorkerProgress] = Field(description="Each worker's latest step (empty unless executing here).")
    executing_here: bool
    rate_limited_for_seconds: float | None = Field(description="Set while the run waits out an upstream 429.")
    concurrency_limit: int | None = Field(default=None, description="Requests allowed in flight now (executing here).")
    paced_rps: float | None = Field(
        default=None, description="Requests/s the run keeps to after a 429 (None: unpaced)."
    )
    max_rps: float | None = Field(default=None, description="The provider's fixed requests/s cap, if any.")
    waiting_for_database_since: datetime | None = Field(
        default=None, description="Set while the run waits for the database (executing here)."
    )


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


# --- Sellers and history -----------------------------------------------------------------------


class SellerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    display_name: str
    normalized_name: str
    platform: str
    platform_id: str | None
    feedback_score: int | None
    feedback_percent: DecimalNumber | None
    times_seen: int
    flagged: bool
    first_seen_run_id: UUID | None
    last_seen_run_id: UUID | None
    created_at: datetime
    updated_at: datetime
    score: int | None = Field(description="Dropshipper score 0-100 (null: no evidence); reasons on GET /sellers/{id}")
    products_matched: int | None = Field(description="Distinct Amazon products whose searches found its listings")
    median_markup: DecimalNumber | None = Field(description="Median of eBay price / Amazon price over its listings")


def _marketplace_link(value: str | None) -> str | None:
    return marketplace_url(value)


# A link built from upstream data: an https URL on eBay's or Amazon's own sites, or null (checked on the way out).
MarketplaceLink = Annotated[str | None, AfterValidator(_marketplace_link)]


class ScoreReasonOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    signal: ScoreSignal
    value: float | None = Field(description="What was measured (a match, a count, a spread); null if not measurable")
    points: int = Field(description="Points this signal gave; the reasons' points add up to the score")
    text: str = Field(description='The reason as a sentence, e.g. "Copies Amazon titles: median match 0.94 (+33)"')


class SellerDetail(SellerOut):
    """A seller with its profile and the reasons for its score (profile figures are null without evidence)."""

    score_reasons: list[ScoreReasonOut] = Field(description="Points per signal, adding up to `score`")
    profile_url: MarketplaceLink = Field(description="The seller's public eBay profile")
    listings_seen: int | None = Field(description="eBay listings kept as evidence")
    category_ids: list[str] | None = Field(description="Categories of the Amazon products matched")
    median_title_match: DecimalNumber | None = Field(description="Median title match, 0-1")
    markup_in_window: DecimalNumber | None = Field(description="Share of priced listings inside the price window")
    markup_spread: DecimalNumber | None = Field(description="Interquartile range of the markups over their median")
    runs_seen: int | None = Field(description="Runs that found it")
    evidence_first_seen_at: datetime | None = Field(description="When its oldest evidence was first seen")
    evidence_last_seen_at: datetime | None = Field(description="When a listing of it was last read")
    profile_computed_at: datetime | None
    profile_stale: bool = Field(description="New evidence arrived since; the profile follows within seconds")


class ListingOut(BaseModel):
    """One eBay listing that is evidence for a seller, and the Amazon product whose search found it."""

    model_config = ConfigDict(from_attributes=True)

    ebay_item_id: str = Field(description="eBay's (legacy) item id")
    ebay_title: str = Field(description="The listing's title as shown")
    ebay_price: DecimalNumber | None = Field(description="The listing's price when last read")
    currency: str | None = Field(description="ISO 4217 code of `ebay_price` where shown")
    location: str | None = Field(description="Item location (ISO country code) where the provider tells")
    ebay_url: MarketplaceLink = Field(description="The listing on eBay")
    amazon_asin: str
    amazon_title: str = Field(description="The Amazon product's title (as last fetched)")
    amazon_price: DecimalNumber | None = Field(description="The Amazon price the listing was compared with")
    amazon_url: MarketplaceLink = Field(description="The product on Amazon")
    markup: DecimalNumber | None = Field(description="ebay_price / amazon_price (dollar prices only)")
    title_match: DecimalNumber | None = Field(description="How closely the title copies Amazon's, 0-1")
    in_window: bool | None = Field(description="The price was inside the window searched")
    category_id: str | None = Field(description="Category of the Amazon product (GET /amazon/categories)")
    best_seller_rank: int | None = Field(description="The product's rank in that best-seller list")
    run_id: UUID = Field(description="The run that last read the listing")
    first_seen_at: datetime
    last_seen_at: datetime


class ListingList(BaseModel):
    listings: list[ListingOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class SellerList(BaseModel):
    sellers: list[SellerOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
    total_in_org: int
    total_matching: int = Field(description="Sellers matching `search` and `flagged` (all of them without filters).")


class SellerName(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CleanStr = Field(min_length=1, max_length=200)


class SellerNames(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: list[Annotated[CleanStr, Field(max_length=200)]] = Field(
        min_length=1, description="At most SELLERCOLLECTION_MAX_BULK_ITEMS names (422 above)."
    )


class SellerIds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[UUID] = Field(min_length=1, description="At most SELLERCOLLECTION_MAX_BULK_ITEMS ids (422 above).")


class SellerFlag(SellerIds):
    flagged: StrictBool = Field(description="true or false (not 0/1 or a string)")


class SkippedName(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    reason: SkipReason


class BulkAddResult(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    added: list[str]
    skipped: list[SkippedName]


class BulkDeleteResult(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    deleted: int
    not_found: list[UUID]


class FlagResult(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    updated: int
    not_found: list[UUID]


class AuditEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    action: str
    seller_id: UUID | None
    seller_name: str
    old_value: dict[str, Any] | None
    new_value: dict[str, Any] | None
    source: str
    source_run_id: UUID | None
    user_id: UUID | None
    affected_count: int
    seller_count_snapshot: int | None
    created_at: datetime


class AuditList(BaseModel):
    entries: list[AuditEntry]
    next_cursor: str | None


class RunHistoryEntry(RunResponse):
    duration_seconds: float | None
    categories_count: int


class RunHistoryList(BaseModel):
    runs: list[RunHistoryEntry]
    total: int


class TimelineEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    kind: TimelineKind
    at: datetime
    action: str = Field(
        description="Run status, the audit action, or a schedule fire's outcome (skipped, missed, failed)"
    )
    trigger: str | None = Field(default=None, description="For a run: manual or schedule")
    summary: str
    affected_count: int
    seller_count_snapshot: int | None
    user_id: UUID | None


class Timeline(BaseModel):
    entries: list[TimelineEntry]
    limit: int
    offset: int


class SellersAtPoint(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    entry_id: UUID
    kind: EntryKind
    seller_count_snapshot: int | None
    count: int = Field(description="Sellers in the list right after this entry.")
    sellers: list[str] = Field(description="One page of them, by name; follow `next_cursor` for the next.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
    added_count: int
    removed_count: int
    added: list[str] = Field(description="The first names this entry added (all of them: GET /history/{id}/changes).")
    removed: list[str] = Field(description="The first names this entry removed.")


class JournalChange(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    op: JournalOp
    display_name: str
    old_display_name: str | None


class ChangeList(BaseModel):
    entry_id: UUID
    changes: list[JournalChange]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


# --- Presets, schedules, per-org settings ---------------------------------------------------------

PresetName = Annotated[CleanStr, Field(min_length=1, max_length=100)]


class PresetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PresetName
    category_ids: list[StrictStr] = Field(
        min_length=1, max_length=200, description="Leaf ids from GET /amazon/categories"
    )
    refresh: Refresh = Field(default="new", description=REFRESH_DESCRIPTION + " (runs of the preset)")


class PresetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PresetName | None = None
    category_ids: list[StrictStr] | None = Field(default=None, min_length=1, max_length=200)
    refresh: Refresh | None = None


class PresetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    category_ids: list[str]
    refresh: Refresh
    is_builtin: bool
    builtin_key: str | None = Field(description="`all` or `department:<id>` for a built-in")
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime


class PresetList(BaseModel):
    presets: list[PresetOut]


class ScheduleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PresetName
    preset_id: UUID | None = None
    category_ids: list[StrictStr] | None = Field(default=None, min_length=1, max_length=200)
    cron_expression: CleanStr = Field(max_length=200, description="Five fields (minute hour day month weekday)")
    timezone: CleanStr = Field(default="UTC", max_length=100, description="IANA time zone, e.g. America/New_York")
    enabled: StrictBool = True
    refresh: Refresh | None = Field(
        default=None, description=REFRESH_DESCRIPTION + ' (null: the preset\'s choice, else "new")'
    )


class ScheduleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PresetName | None = None
    preset_id: UUID | None = None
    category_ids: list[StrictStr] | None = Field(default=None, min_length=1, max_length=200)
    cron_expression: CleanStr | None = Field(default=None, max_length=200)
    timezone: CleanStr | None = Field(default=None, max_length=100)
    enabled: StrictBool | None = None
    refresh: Refresh | None = None


class ScheduleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    preset_id: UUID | None
    preset_name: str | None
    category_ids: list[str] | None
    cron_expression: str
    description: str = Field(description="The cron expression in words")
    timezone: str
    enabled: bool
    refresh: Refresh | None = Field(description="The runs' refresh choice (null: the preset's, else \"new\")")
    next_run_at: datetime | None
    next_fire_times: list[datetime] = Field(description="The next five fire times (empty while disabled)")
    last_run_at: datetime | None
    last_run_id: UUID | None = Field(description="The run the last fire started")
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


class ScheduleFireOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    fire_time: datetime
    fire_count: int = Field(description="Fire times this entry stands for (several for a `missed` entry)")
    recorded_at: datetime
    outcome: FireOutcome
    reason: str | None
    run_id: UUID | None
    claimed_by: str = Field(description="Opaque id of the server process that recorded this fire")


class ScheduleFireList(BaseModel):
    fires: list[ScheduleFireOut]


class CollectionSettingsOut(BaseModel):
    # The org's effective settings: its own choices over the server's defaults; new runs record them.
    model_config = ConfigDict(frozen=True)

    max_open_runs: int
    provider: Provider
    ebay_pages_per_product: int
    price_min_multiplier: float
    price_max_multiplier: float
    workers: int
    refresh_after_days: int


class CollectionSettingsUpdate(BaseModel):
    """Fields left out keep their value; a field set to null goes back to the server's default."""

    # Also the org's stored choices (`collection_settings`), where null is the server's default too.
    model_config = ConfigDict(extra="forbid")

    max_open_runs: StrictInt | None = Field(default=None, ge=1, le=50, description="Open runs the org may have")
    provider: Provider | None = None
    ebay_pages_per_product: StrictInt | None = Field(default=None, ge=1, le=10)
    price_min_multiplier: StrictFloat | None = Field(
        default=None, ge=0.1, le=100, description="Low end of the eBay price window, x the Amazon price (3 decimals)"
    )
    price_max_multiplier: StrictFloat | None = Field(
        default=None, ge=0.1, le=100, description="High end of the eBay price window, x the Amazon price (3 decimals)"
    )
    workers: StrictInt | None = Field(default=None, ge=1, le=5)
    refresh_after_days: StrictInt | None = Field(
        default=None,
        ge=1,
        le=365,
        description='A run with refresh "new" searches a product again once its last search is this many days old',
    )


# --- Notifications ------------------------------------------------------------------------------

# What a subscription may ask to hear about; `ping` is sent only by a test and to that subscription.
NotificationEvent = Literal[
    "run.completed", "run.paused", "run.failed", "run.cancelled", "schedule.skipped", "schedule.missed"
]  # fmt: skip
NotificationEventType = NotificationEvent | Literal["ping"]
SubscriptionKind = Literal["webhook", "email"]
AttemptOutcome = Literal["delivered", "retrying", "failed"]


def _distinct(events: list[str]) -> list[str]:
    return sorted(set(events))


EventList = Annotated[
    list[NotificationEvent],
    Field(min_length=1, max_length=20, description="Events to send (`ping` is always sent by a test)"),
    AfterValidator(_distinct),
]
# Length limits on the string itself (checked before the characters), so the error speaks of characters.
WebhookUrl = Annotated[
    StrictStr,
    StringConstraints(min_length=1, max_length=2048),
    AfterValidator(reject_control_characters),
    Field(description="https, or http to a public address; loopback, private and link-local addresses are refused"),
]
SubscriptionDescription = Annotated[
    StrictStr, StringConstraints(max_length=200), AfterValidator(reject_control_characters)
]
# A plain address (no display name, no spaces): it goes into a mail header as it is.
EmailAddress = Annotated[
    StrictStr,
    StringConstraints(max_length=254, pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$"),
    AfterValidator(reject_control_characters),
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    events: EventList
    description: SubscriptionDescription | None = None


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl | None = None
    events: EventList | None = None
    enabled: StrictBool | None = Field(default=None, description="true also clears an automatic disable")
    description: SubscriptionDescription | None = None


class EmailCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: EmailAddress
    events: EventList


class EmailUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: EventList | None = None
    enabled: StrictBool | None = Field(default=None, description="true also clears an automatic disable")


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    kind: SubscriptionKind
    disabled_reason: str | None = Field(description="Why it was disabled (e.g. after 3 days of failures)")
    failing_since: datetime | None = Field(description="Every try since this time failed (null after a success)")
    enabled: bool
    events: list[NotificationEvent]
    last_success_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookOut(SubscriptionOut):
    url: str | None
    description: str | None


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signs every delivery (HMAC-SHA256). Shown only in this answer: keep it safely.")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class EmailOut(SubscriptionOut):
    address: str | None


class EmailList(BaseModel):
    email_enabled: bool = Field(description="false while SELLERCOLLECTION_SMTP_URL is unset: nothing is sent")
    detail: str
    recipients: list[EmailOut]


class PingSent(BaseModel):
    event_id: UUID = Field(description="The ping's event id; its delivery appears in GET /notifications/deliveries")
    type: Literal["ping"] = "ping"


class DeliveryOut(BaseModel):
    """One try of one delivery."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    delivery_id: UUID | None
    subscription_id: UUID | None
    event_id: UUID
    event_type: NotificationEventType
    kind: SubscriptionKind
    target: str = Field(description="The URL or address tried")
    attempt: int
    outcome: AttemptOutcome
    status_code: int | None = Field(description="The HTTP status (webhooks) or SMTP reply code (e-mail)")
    duration_ms: int
    error: str | None
    response_body: str | None = Field(description="The first 1 KB of the answer")
    next_attempt_at: datetime | None = Field(description="When it is tried again (outcome `retrying`)")
    attempted_at: datetime


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
