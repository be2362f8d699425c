"""The `sellercollection` command: serve, migrate, tokens, collect, and the categories / presets / schedules lists."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
import uvicorn
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from rich.console import Console

from app.cli import collect, lists
from app.config import Settings
from app.db.embedded import database_url
from app.db.migrations import apply_migrations
from app.logging_config import configure_logging, logging_config
from app.main import create_app
from app.models import Provider
from app.services import accounts
from app.text import plural

cli = typer.Typer(
    help="SellerCollection: find eBay sellers who resell Amazon best sellers.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console(stderr=True)


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level)
    # Said every time: two terminals with different settings would otherwise quietly use two databases.
    console.print(f"Database: {settings.database_description()}", highlight=False, soft_wrap=True)
    return settings


@cli.command()
def serve(
    *,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Apply migrations, then serve the API (embedded PostgreSQL unless DATABASE_URL is set)."""
    settings = _settings()
    with database_url(settings.database_url, settings.data_dir) as url:
        applied = apply_migrations(url)
        if applied:
            console.print(f"Applied migrations: {', '.join(applied)}")
        app = create_app(settings.model_copy(update={"database_url": url, "migrate_on_start": False}))
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        console.print(
            f"Open http://{shown}:{port}/ in a browser (API docs: /docs). Press Ctrl-C to stop.", soft_wrap=True
        )
        uvicorn.run(app, host=host, port=port, log_config=logging_config(settings.log_level))


@cli.command()
def migrate() -> None:
    """Apply pending migrations and exit."""
    settings = _settings()
    with database_url(settings.database_url, settings.data_dir) as url:
        applied = apply_migrations(url)
    console.print(f"Applied: {', '.join(applied)}" if applied else "Database is up to date.")


async def _issue(url: str, org: str, email: str, permissions: list[str]) -> accounts.IssuedToken:
    async with await AsyncConnection.connect(url, row_factory=dict_row) as conn:
        return await accounts.issue_token(conn, org_name=org, email=email, permissions=permissions)


@cli.command("create-token")
def create_token(
    *,
    org: Annotated[str, typer.Option(help="Org name; created when missing.")],
    email: Annotated[str, typer.Option(help="User email; created when missing.")],
    permission: Annotated[
        list[str] | None, typer.Option("--permission", "-p", help="Permission key to grant (repeatable).")
    ] = None,
) -> None:
    """Create the org, user and membership when missing and print a new API token (last line)."""
    settings = _settings()
    with database_url(settings.database_url, settings.data_dir) as url:
        apply_migrations(url)
        try:
            issued = asyncio.run(_issue(url, org, email, permission or []))
        except accounts.InvalidInput as exc:
            console.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(2) from exc
    console.print(f"Token for {email} in org {org!r} (shown once; store it safely):")
    sys.stderr.flush()
    print(issued.token, flush=True)


async def _revoke(url: str, token_or_prefix: str) -> int:
    async with await AsyncConnection.connect(url, row_factory=dict_row) as conn:
        return await accounts.revoke_token(conn, token_or_prefix=token_or_prefix)


@cli.command("revoke-token")
def revoke_token(
    token: Annotated[str, typer.Argument(help="The token, or its first 11 characters as shown when issued.")],
) -> None:
    """Revoke an API token (and every session opened with it)."""
    settings = _settings()
    with database_url(settings.database_url, settings.data_dir) as url:
        count = asyncio.run(_revoke(url, token))
    if count == 0:
        console.print("No active token matches.")
        raise typer.Exit(1)
    console.print(f"Revoked {plural(count, 'token')}.")


@cli.command("collect")
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
            help=f"Org to collect for; created when missing (default: {collect.DEFAULT_ORG!r}, or the "
            "resumed run's org)."
        ),
    ] = None,
    email: Annotated[str, typer.Option(help="User the run is created by.")] = collect.DEFAULT_EMAIL,
) -> None:
    """Run one collection here with a live view; Ctrl-C pauses it (exit 130) and prints how to resume."""
    settings = _settings()
    try:
        options = collect.CollectOptions.parse(
            categories=categories,
            resume=resume,
            provider=provider.value if provider is not None else None,
            name=name,
            org=org,
            email=email,
            preset=preset,
        )
    except collect.CollectError as exc:
        console.print(f"[red]{exc.message}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from exc
    code = collect.run_collect(settings, options, console=Console(), err_console=console)
    raise typer.Exit(code)


@cli.command()
def categories(
    department: Annotated[str | None, typer.Argument(help="A department id or name; all when left out.")] = None,
) -> None:
    """The Amazon category tree (leaf ids are what runs, presets and schedules take)."""
    try:
        lists.print_categories(Console(), department)
    except lists.ListError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from exc


def _listing(kind: str, org: str) -> None:
    settings = _settings()
    show = lists.print_presets if kind == "presets" else lists.print_schedules
    with database_url(settings.database_url, settings.data_dir) as url:
        apply_migrations(url)
        try:
            asyncio.run(show(settings, url, org, Console()))
        except lists.ListError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(2) from exc


@cli.command()
def presets(org: Annotated[str, typer.Option(help="Org whose presets to list.")] = collect.DEFAULT_ORG) -> None:
    """Category presets: the built-ins every org has, then the org's own."""
    _listing("presets", org)


@cli.command()
def schedules(org: Annotated[str, typer.Option(help="Org whose schedules to list.")] = collect.DEFAULT_ORG) -> None:
    """The org's collection schedules with their next and last runs."""
    _listing("schedules", org)


def main() -> None:
    cli()
