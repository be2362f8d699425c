"""How a command fails: a `CommandError` (or any `AppError`) is printed in red, no traceback, as its exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

import typer
from rich.console import Console
from rich.text import Text

from app.errors import AppError

P = ParamSpec("P")

EXIT_COMPLETED = 0
EXIT_NOT_COMPLETED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C'd command


class CommandError(Exception):
    """A problem the user can fix; printed without a traceback, exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def reporting_errors(console: Console) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Wrap a command: its `CommandError` exits with the error's code, an `AppError` with 2 (bad input).

    The message goes to `console` as plain text (never read as Rich markup) on one line, however
    narrow the terminal, so it can be copied and grepped.
    """

    def wrap(command: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(command)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                command(*args, **kwargs)
            except CommandError as exc:
                console.print(Text(exc.message, style="red"), soft_wrap=True)
                raise typer.Exit(exc.exit_code) from exc
            except AppError as exc:
                console.print(Text(exc.detail, style="red"), soft_wrap=True)
                raise typer.Exit(EXIT_BAD_INPUT) from exc

        return run

    return wrap
