"""The `sellercollection` command: serve, migrate, tokens, collect, and the categories / presets / schedules /
notifications lists.

Each command is thin: it reads the settings (and says which database they name), opens the one
database context (`database.local_database`), calls a service or a module of this package, and
prints. A `CommandError` or `AppError` it raises is printed in red and becomes its exit code
(`errors.reporting_errors`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from functools import partial
from typing import Annotated, ParamSpec

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console

from app.cli import collect, lists, notifications
from app.cli.database import local_database
from app.cli.errors import EXIT_NOT_COMPLETED, CommandError, reporting_errors
from app.cli.verbosity import quiet_loggers, quiet_logs, with_verbose_option
from app.config import Settings, describe_invalid_settings
from app.db.pool import Pool
from app.logging_config import configure_logging, logging_config
from app.main import create_app
from app.models import Provider
from app.services import accounts
from app.text import plural


class RefreshChoice(StrEnum):
    """`--refresh`: typer offers the choices of an enum."""

    NEW = "new"
    ALL = "all"


P = ParamSpec("P")

cli = typer.Typer(
    help="SellerCollection: find eBay sellers who resell Amazon best sellers.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console(stderr=True)


def command(name: str | None = None) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Register a command, with its `--verbose` option (see `verbosity`), its errors reported the one way."""

    def register(function: Callable[P, None]) -> Callable[P, None]:
        cli.command(name)(with_verbose_option(reporting_errors(console)(function)))
        return function

    return register


def _settings(*, serving: bool = False) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        raise CommandError(describe_invalid_settings(exc)) from exc
    configure_logging(settings.log_level)
    quiet_logs(settings, serving=serving)
    # Said every time: two terminals with different settings would otherwise quietly use two databases.
    console.print(f"Database: {settings.database_description()}", highlight=False, soft_wrap=True)
    return settings


@command()
def serve(
    *,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Apply migrations, then serve the API (embedded PostgreSQL unless DATABASE_URL is set)."""
    settings = _settings(serving=True)
    with local_database(settings) as db:
        if db.applied:
            console.print(f"Applied migrations: {', '.join(db.applied)}")
        app = create_app(db.settings)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        console.print(
            f"Open http://{shown}:{port}/ in a browser (API docs: /docs). Press Ctrl-C to stop.", soft_wrap=True
        )
        # uvicorn configures logging afresh (resetting app.db's level), so the quiet loggers go in its config.
        log_config = logging_config(settings.log_level)
        log_config["loggers"].update({name: {"level": "WARNING"} for name in quiet_loggers(settings, serving=True)})
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=log_config,
            # Forwarded headers only from the proxies named; uvicorn's default believes them from 127.0.0.1.
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=settings.trusted_proxies,
        )


@command()
def migrate() -> None:
    """Apply pending migrations and exit."""
    with local_database(_settings()) as db:
        applied = db.applied
    console.print(f"Applied: {', '.join(applied)}" if applied else "Database is up to date.")


async def _issue(pool: Pool, *, org: str, email: str, permissions: list[str]) -> accounts.IssuedToken:
    async with pool.connection() as conn:
        return await accounts.issue_token(conn, org_name=org, email=email, permissions=permissions)


async def _revoke(pool: Pool, *, token_or_prefix: str) -> int:
    async with pool.connection() as conn:
        return await accounts.revoke_token(conn, token_or_prefix=token_or_prefix)


@command("create-token")
def create_token(
    *,
    org: Annotated[str, typer.Option(help="Org name; created when missing.")],
    email: Annotated[str, typer.Option(help="User email; created when missing.")],
    permission: Annotated[
        list[str] | None, typer.Option("--permission", "-p", help="Permission key to grant (repeatable).")
    ] = None,
) -> None:
    """Create the org, user and membership when missing and print a new API token (last line)."""
    with local_database(_settings()) as db:
        issued = db.run(partial(_issue, org=org, email=email, permissions=permission or []))
    console.print(f"Token for {email} in org {org!r} (shown once; store it safely):")
    sys.stderr.flush()
    print(issued.token, flush=True)


@command("revoke-token")
def revoke_token(
    token: Annotated[str, typer.Argument(help="The token, or its first 11 characters as shown when issued.")],
) -> None:
    """Revoke an API token (and every session opened with it)."""
    with local_database(_settings()) as db:
        count = db.run(partial(_revoke, token_or_prefix=token))
    if count == 0:
        console.print("No active token matches.")
        raise typer.Exit(EXIT_NOT_COMPLETED)
    console.print(f"Revoked {plural(count, 'token')}.")


@command("collect")
def collect_command(
    *,
    categories: Annotated[
        list[str] | None,
        typer.Option("--categories", "-c", metavar="ID[,ID...]", help="Category ids to collect (comma-separated)."),
    ] = None,
    preset: Annotated[
        str | None, typer.Option(metavar="NAME", help="Collect a preset's categories (see `sellercollection presets`).")
    ] = None,
    provider: Annotated[
        Provider | None, typer.Option(help="Upstream provider for this run (default: settings).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Run name (default: date and time).")] = None,
    resume: Annotated[
        str | None, typer.Option("--resume", metavar="RUN_ID", help="Resume this paused run instead of a new one.")
    ] = None,
    org: Annotated[
        str | None,
        typer.Option(
            help="Org to collect for; created when missing (default: the only org there is, or the resumed "
            "run's org; with several, name one)."
        ),
    ] = None,
    email: Annotated[str, typer.Option(help="User the run is created by.")] = collect.DEFAULT_EMAIL,
    refresh: Annotated[
        RefreshChoice | None,
        typer.Option(
            help="\"new\" (default: the preset's choice, else new): only products not searched within the org's "
            'refresh_after_days; "all": every product.'
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Start without asking (the estimate is printed first either way).")
    ] = False,
) -> None:
    """Run one collection here with a live view; Ctrl-C pauses it (exit 130) and prints how to resume.

    A new run's estimate (lists, products to search, requests, cost) is printed first; on a terminal
    the command asks before starting it (--yes skips that). Off a terminal it goes on without asking.
    """
    settings = _settings()
    options = collect.CollectOptions.parse(
        categories=categories,
        resume=resume,
        provider=provider.value if provider is not None else None,
        name=name,
        org=org,
        email=email,
        preset=preset,
        refresh=refresh.value if refresh is not None else None,
        yes=yes,
    )
    if options.provider is not None:
        settings = settings.model_copy(update={"provider": options.provider})
    with local_database(settings) as db:
        code = db.run_in_runtime(partial(collect.collect, options=options, console=Console()))
    raise typer.Exit(code)


@command()
def categories(
    department: Annotated[str | None, typer.Argument(help="A department id or name; all when left out.")] = None,
) -> None:
    """The Amazon category tree (leaf ids are what runs, presets and schedules take)."""
    lists.print_categories(Console(), department)


OrgOption = Annotated[
    str | None, typer.Option(help="The org (default: the only org there is; with several, name one).")
]


@command()
def presets(org: OrgOption = None) -> None:
    """Category presets: the built-ins every org has, then the org's own."""
    with local_database(_settings()) as db:
        name, found = db.run(partial(lists.org_presets, org=org))
    lists.print_presets(Console(), name, found)


@command()
def schedules(org: OrgOption = None) -> None:
    """The org's collection schedules with their next and last runs."""
    with local_database(_settings()) as db:
        name, found = db.run(partial(lists.org_schedules, org=org))
    lists.print_schedules(Console(), name, found)


@command("notifications")
def notifications_command(
    org: OrgOption = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many of the latest tries to show.")] = 20,
) -> None:
    """The org's webhooks and e-mail recipients with their state, then its latest delivery tries."""
    settings = _settings()
    with local_database(settings) as db:
        name, found = db.run(partial(notifications.org_notifications, org=org, limit=limit))
    notifications.print_notifications(Console(), name, found, settings)


def main() -> None:
    cli()
