"""`--verbose` on every command: without it a command prints its own output, not the service's log lines.

The embedded PostgreSQL starting and stopping, the migrations applied, a token issued: INFO lines
that a person at a terminal does not need every time. Without `--verbose` (and unless
SELLERCOLLECTION_LOG_LEVEL is set), a command logs warnings and errors only, and `serve`, whose
log is its output, keeps its INFO lines but the database's.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec

import typer

from app.config import Settings

P = ParamSpec("P")

VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", help="Also print the service's INFO log lines (the embedded PostgreSQL, migrations, ...)."
    ),
]

# One command runs per process: what its --verbose said, for `quiet_logs` to read.
_chosen = {"verbose": False}


def with_verbose_option(command: Callable[P, None]) -> Callable[..., None]:
    """`command` with a `--verbose` option appended to its signature (Typer builds options from signatures)."""

    @functools.wraps(command)
    def run(*args: Any, verbose: bool = False, **kwargs: Any) -> None:
        _chosen["verbose"] = verbose
        command(*args, **kwargs)

    signature = inspect.signature(command, eval_str=True)
    verbose = inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=VerboseOption)
    run.__signature__ = signature.replace(parameters=[*signature.parameters.values(), verbose])  # type: ignore[attr-defined]
    return run


def quiet_loggers(settings: Settings, *, serving: bool) -> list[str]:
    """The loggers to keep at WARNING, as described above (none with --verbose or SELLERCOLLECTION_LOG_LEVEL)."""
    if _chosen["verbose"] or "log_level" in settings.model_fields_set:
        return []
    return ["app.db"] if serving else ["app"]


def quiet_logs(settings: Settings, *, serving: bool) -> None:
    for name in quiet_loggers(settings, serving=serving):
        logging.getLogger(name).setLevel(logging.WARNING)
