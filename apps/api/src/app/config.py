"""The one settings object. Built once (by the CLI or the tests) and injected, never imported as a global."""

from __future__ import annotations

import ipaddress
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.errors import quote
from app.models import Provider

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

# Root's default: as root, the embedded PostgreSQL runs as an OS user of its own, which must reach the
# data; every folder above this one already lets it (root's home does not, and the wheel would open it).
ROOT_DATA_DIR = Path("/var/lib/sellercollection")


def _default_data_dir() -> Path:
    user_dir = Path(platformdirs.user_data_dir("sellercollection", appauthor=False))
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    # Data an earlier version kept in root's own data folder stays where it is.
    return ROOT_DATA_DIR if as_root and not (user_dir / "pgdata").exists() else user_dir


class Settings(BaseSettings):
    """Every option can be set by an environment variable named in its alias or `SELLERCOLLECTION_<NAME>`."""

    # A `.env` file in the working directory is read too (environment variables win), so settings made
    # once are seen by every command run from that folder, in any terminal.
    model_config = SettingsConfigDict(
        env_prefix="SELLERCOLLECTION_",
        extra="ignore",
        populate_by_name=True,
        env_file=".env",
        env_file_encoding="utf-8",
    )

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "SELLERCOLLECTION_DATABASE_URL"),
        description="PostgreSQL URL. Unset: an embedded PostgreSQL is started in `data_dir`.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the embedded PostgreSQL keeps its data (kept across restarts).",
    )
    db_pool_min_size: int = Field(default=2, ge=1)
    db_pool_max_size: int = Field(default=20, ge=1)
    migrate_on_start: bool = Field(default=True, description="Apply pending migrations when the app starts.")
    log_level: LogLevel = Field(default="INFO", description="How much the service logs.")

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    # Auth
    session_ttl_hours: int = Field(default=12, ge=1, description="Lifetime of a browser session cookie.")
    cookie_secure: bool = Field(default=False, description="Mark the session cookie Secure (set behind HTTPS).")

    # Activity stream (SSE)
    activity_keepalive_seconds: float = Field(default=15.0, gt=0, description="Seconds between SSE keepalive comments.")
    activity_retry_ms: int = Field(default=3000, ge=0, description="Reconnect delay the SSE stream asks browsers for.")
    activity_send_timeout_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Disconnect a client that takes no event for this long (0: off; costs a timer per send).",
    )
    activity_write_delay_ms: int = Field(
        default=20,
        ge=0,
        le=1000,
        description="Events for one reader are gathered this long into one write (0: write each at once).",
    )
    activity_subscriber_queue_size: int = Field(
        default=1000, ge=1, description="Events held for one slow subscriber before its oldest are dropped."
    )
    activity_finished_grace_seconds: float = Field(
        default=120.0, ge=0, description="How long a finished run's events stay available for late reconnects."
    )
    activity_idle_ttl_seconds: float = Field(
        default=3600.0, gt=0, description="A stream nobody reads or writes is dropped after this long."
    )
    max_streams_per_token: int = Field(
        default=10, ge=1, description="Activity streams one API token may hold open at once (429 above it)."
    )
    stream_cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to open the activity stream cross-origin (JSON list)."
    )
    signin_failures_per_minute: int = Field(
        default=30, ge=1, description="Failed sign-ins one client address may make per minute before 429."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks of the reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are "
        "believed (comma-separated, e.g. `10.0.0.5,10.1.0.0/16`); none by default. `serve` passes them to uvicorn.",
    )
    stream_token_ttl_seconds: int = Field(default=60, ge=5, description="Validity of a one-run SSE stream token.")
    activity_history: int = Field(
        default=100,
        ge=1,
        description="Events kept per run for replay: the live stream's cap, and what a finished run keeps.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "SELLERCOLLECTION_REDIS_URL"),
        description="Redis for the activity feed across processes (Redis Streams). Unset: in-memory, one process.",
    )
    redis_key_prefix: str = Field(default="sellercollection", description="Prefix of every Redis key the app uses.")

    # Several processes
    run_control_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often the executing process checks its runs' rows (pause/cancel from elsewhere, lanes).",
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token for `GET /metrics` (Prometheus). Unset: the endpoint is off (404)."
    )

    # Limits on what one request, caller or address may ask of the service
    max_request_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above it)."
    )
    max_bulk_items: int = Field(
        default=100_000, ge=1, description="Most names or ids one bulk request may carry (422 above it)."
    )
    export_spool_memory_bytes: int = Field(
        default=8 * 1024 * 1024, ge=0, description="An export's snapshot is kept in memory up to this, then on disk."
    )
    export_send_timeout_seconds: float = Field(
        default=30.0, gt=0, description="An export download whose client takes no data for this long is ended."
    )
    max_concurrent_exports_per_org: int = Field(
        default=4, ge=1, description="Exports one org may have in flight at once (429 above it)."
    )

    # Collection runs
    max_open_runs_per_org: int = Field(default=3, ge=1, description="Open (pending, running, paused) runs per org.")
    provider: Provider = Field(
        default=Provider.AUTO, description="Upstream provider; `auto` is oxylabs when credentials are set, else demo."
    )
    oxylabs_username: str | None = Field(default=None, validation_alias=AliasChoices("OXYLABS_USERNAME"))
    oxylabs_password: SecretStr | None = Field(default=None, validation_alias=AliasChoices("OXYLABS_PASSWORD"))
    oxylabs_base_url: str = Field(
        default="https://realtime.oxylabs.io/v1/queries", validation_alias=AliasChoices("OXYLABS_BASE_URL")
    )
    ebay_provider: Literal["oxylabs", "ebay_api", "demo"] | None = Field(
        default=None, description="Provider of the eBay phase; unset: the same as `provider`."
    )
    ebay_client_id: str | None = Field(default=None, validation_alias=AliasChoices("EBAY_CLIENT_ID"))
    ebay_client_secret: SecretStr | None = Field(default=None, validation_alias=AliasChoices("EBAY_CLIENT_SECRET"))
    ebay_base_url: str = Field(default="https://api.ebay.com", validation_alias=AliasChoices("EBAY_BASE_URL"))
    ebay_api_page_size: int = Field(default=200, ge=1, le=200, description="Listings per Browse API request.")
    oxylabs_max_rps: float = Field(default=0.0, ge=0, description="Fixed cap on Oxylabs requests per second (0: none).")
    ebay_api_max_rps: float = Field(default=0.0, ge=0, description="Fixed cap on Browse API requests/s (0: none).")
    demo_max_rps: float = Field(default=0.0, ge=0, description="Fixed cap on demo requests per second (0: none).")
    oxylabs_price_per_1000: float = Field(default=1.5, ge=0, description="USD per 1,000 billed Oxylabs requests.")
    ebay_api_price_per_1000: float = Field(default=0.0, ge=0, description="USD per 1,000 Browse API requests.")
    demo_price_per_1000: float = Field(default=0.0, ge=0, description="USD per 1,000 demo requests.")
    adaptive_concurrency: bool = Field(
        default=True, description="Find the concurrency and pace the upstream allows (off: always `workers`)."
    )
    price_min_multiplier: float = Field(default=1.8, gt=0, description="eBay price window low end, x Amazon price.")
    price_max_multiplier: float = Field(default=2.2, gt=0, description="eBay price window high end, x Amazon price.")
    ebay_pages_per_product: int = Field(default=3, ge=1, le=10)
    refresh_after_days: int = Field(
        default=7, ge=1, le=365, description='A run with refresh "new" searches a product again after this many days.'
    )
    run_lease_seconds: float = Field(default=30.0, gt=1, description="A run whose executor misses this is taken over.")
    db_outage_pause_seconds: float = Field(
        default=600.0,
        gt=0,
        description="A run waiting this long for the database pauses (it resumes by itself once the database is back).",
    )
    workers: int = Field(default=5, ge=1, le=20, description="Most upstream requests in flight per run phase.")
    upstream_attempts: int = Field(default=3, ge=1, description="Tries per upstream request on transient errors.")
    rate_limit_retries: int = Field(default=8, ge=0, description="429 answers tolerated per upstream request.")
    rate_limit_backoff_seconds: float = Field(default=5.0, ge=0, description="Wait after a 429 without Retry-After.")
    retry_wait_initial_seconds: float = Field(default=0.5, ge=0, description="First backoff of a transient retry.")
    retry_wait_max_seconds: float = Field(default=10.0, ge=0, description="Longest backoff of a transient retry.")

    # Evidence (the eBay listings behind each seller)
    evidence_retention_days: int = Field(
        default=180, ge=1, le=36_500, description="Evidence not seen again for this many days is deleted."
    )
    evidence_sweep_seconds: float = Field(
        default=3600.0, gt=0, description="How often a server deletes expired evidence and refreshes stale profiles."
    )

    # Schedules
    scheduler_enabled: bool = Field(default=True, description="Run the schedule loop in this server process.")
    scheduler_tick_seconds: float = Field(
        default=5.0, gt=0, le=60, description="How often a server looks for due schedules."
    )
    schedule_grace_seconds: float = Field(
        default=3600.0, ge=0, description="A fire time missed while no server ran is still fired if this recent."
    )
    scheduler_clock_speed: float = Field(
        default=1.0, gt=0, description="For tests only: the schedule clock runs this many times faster than real time."
    )
    scheduler_clock_anchor: datetime | None = Field(
        default=None, description="For tests only: the instant from which a sped-up schedule clock runs fast."
    )

    # Notifications (webhooks and e-mail)
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="Where people open the page; links in notifications start here."
    )
    webhook_allow_private: bool = Field(
        default=False, description="Allow webhooks to loopback, private and link-local addresses (self-hosting, tests)."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Encrypts webhook secrets at rest (32+ characters). Unset: a key kept in the database.",
    )
    smtp_url: SecretStr | None = Field(
        default=None, description="smtp://user:password@host:port or smtps://...; unset: e-mail is off."
    )
    smtp_from: str = Field(
        default="SellerCollection <sellercollection@localhost>", description="Sender of notification e-mails."
    )
    notification_concurrency: int = Field(
        default=4, ge=1, le=32, description="Deliveries one server process sends at once (each holds a connection)."
    )

    # Demo marketplace
    demo_latency_ms: float = Field(default=150.0, ge=0, description="Simulated upstream latency of the demo provider.")
    demo_error_rate: float = Field(default=0.0, ge=0, le=1)
    demo_rate_limit_rate: float = Field(default=0.0, ge=0, le=1)
    demo_retry_after_seconds: float = Field(default=1.0, ge=0)
    demo_seed: int = Field(default=7)
    demo_churn: float = Field(
        default=0.0, ge=0, le=1, description="Share of each demo best-seller list replaced per simulated day."
    )
    demo_day: int | None = Field(
        default=None,
        ge=0,
        description="The demo's simulated day (unset: days since 2026-01-01 UTC, so lists churn daily).",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_addresses(cls, value: object) -> object:
        """A comma-separated list (as uvicorn's --forwarded-allow-ips) of IP addresses or networks, checked here."""
        entries = [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        if isinstance(entries, list):
            for entry in entries:
                ipaddress.ip_network(str(entry), strict=False)  # a ValueError names the entry
        return entries

    @field_validator("database_url", "redis_url")
    @classmethod
    def _blank_url_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("smtp_url", "secret_key", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        return value or None

    @field_validator("secret_key")
    @classmethod
    def _long_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in ("smtp", "smtps"):
            raise ValueError("must start with smtp:// or smtps://")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _http_base(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
            raise ValueError("must be an http:// or https:// address")
        return value.rstrip("/")

    def database_description(self) -> str:
        """Which database commands use, for people: the URL without its password, or the embedded one's folder."""
        if self.database_url is None:
            return f"embedded PostgreSQL in {self.data_dir / 'pgdata'}"
        parts = urlsplit(self.database_url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            return urlunsplit(parts._replace(netloc=netloc))
        return self.database_url

    @property
    def oxylabs_configured(self) -> bool:
        return bool(self.oxylabs_username and self.oxylabs_password)

    @property
    def resolved_provider(self) -> Literal["demo", "oxylabs"]:
        """The provider of the Amazon phase (and of the eBay phase unless `ebay_provider` says otherwise)."""
        if self.provider == Provider.AUTO:
            return "oxylabs" if self.oxylabs_configured else "demo"
        # Also a run's stored "amazon+ebay" provider, copied in unvalidated by `model_copy`.
        amazon = str(self.provider).partition("+")[0]
        return "oxylabs" if amazon == Provider.OXYLABS else "demo"

    @property
    def resolved_ebay_provider(self) -> Literal["demo", "oxylabs", "ebay_api"]:
        _, plus, ebay = str(self.provider).partition("+")
        if plus and ebay in ("demo", "oxylabs", "ebay_api"):
            return ebay  # type: ignore[return-value]
        return self.ebay_provider or self.resolved_provider

    def max_rps(self, provider: str) -> float | None:
        """The fixed request-rate cap of `provider`, None when uncapped."""
        cap = {"oxylabs": self.oxylabs_max_rps, "ebay_api": self.ebay_api_max_rps, "demo": self.demo_max_rps}
        return cap.get(provider) or None

    @property
    def run_provider(self) -> str:
        """What a run records as its provider: "oxylabs", or "oxylabs+ebay_api" when the phases differ."""
        amazon, ebay = self.resolved_provider, self.resolved_ebay_provider
        return amazon if amazon == ebay else f"{amazon}+{ebay}"


def setting_name(field: str) -> str:
    """The environment variable a `Settings` field is read from (its first alias, or the prefixed name)."""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"SELLERCOLLECTION_{field.upper()}"


def describe_invalid_settings(exc: ValidationError) -> str:
    """One line per bad setting, named as the user set it; secret values are never shown."""
    lines = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        name = field if field.isupper() else setting_name(field)
        secret = any(word in name for word in ("PASSWORD", "SECRET", "TOKEN", "SMTP_URL", "DATABASE_URL", "REDIS_URL"))
        shown = "" if secret or "input" not in error else f"={quote(error['input'])}"
        lines.append(f"{name}{shown}: {error['msg']}")
    return "Invalid settings (environment or .env): " + "; ".join(lines)
