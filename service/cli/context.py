"""What every CLI command shares: consoles (data on stdout, progress and status on stderr),
help pages that name each value (ADDRESS, URL, N) instead of a Python type, and settings
plus a database at head, with any MailerError, and a database that is locked or cannot be
reached, turned into a clean one-line error and exit status 1 (never a traceback, never
the database password)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker
from typer import _click
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandFunctionType

from mailer.config import Settings, load_settings
from mailer.db import describe_db_error, is_transient, make_engine, make_sessionmaker
from mailer.email.dkim import DkimSigner
from mailer.errors import MailerError
from mailer.migrate import current_revision, head_revision
from mailer.terminal import safe

# soft_wrap: a message is one line however narrow the terminal or pipe (the terminal
# wraps it for display); tables still fold their cells to the width.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


class _NamedArgument(TyperArgument):
    """An argument whose help row shows its metavar (ADDRESS) and no Python type."""

    def display_type_rich(self, ctx: _click.Context) -> str | None:
        return None


def _name_values(params: Iterable[_click.Parameter]) -> None:
    """Help shows a flag without a type, and an argument by its metavar alone. Typer
    otherwise prints ``<bool>`` beside every flag and ``<str>`` beside every argument;
    an option or argument left without a metavar keeps its ``<type>``, which
    tests/test_cli_output.py refuses."""
    for param in params:
        flag = isinstance(param, TyperOption) and (
            param.is_flag or param.type_descriptor.annotation is bool
        )
        if flag and param.metavar is None:
            param.metavar = ""
        elif isinstance(param, TyperArgument) and param.metavar is not None:
            # Typer has no hook for an argument's class, and its help always adds the
            # Python type beside an argument, metavar or not.
            param.__class__ = _NamedArgument


class _NamedValues(_click.Command):
    """Help that names values instead of showing Python types, for every parameter the
    help lists (--help and the completion options Typer adds after building a group too)."""

    def get_params(self, ctx: _click.Context) -> list[_click.Parameter]:
        params = super().get_params(ctx)
        _name_values(params)
        return params


class MailerCommand(_NamedValues, TyperCommand):
    """A command whose help names values instead of showing Python types."""


class MailerGroup(_NamedValues, TyperGroup):
    """A command group whose help names values instead of showing Python types."""


class MailerTyper(typer.Typer):
    """A Typer app whose groups and commands are MailerGroup and MailerCommand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("cls", MailerGroup)
        kwargs.setdefault("no_args_is_help", True)
        super().__init__(*args, **kwargs)

    def command(
        self, *args: Any, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", MailerCommand)
        parent = super().command

        def register(function: CommandFunctionType) -> CommandFunctionType:
            kwargs.setdefault("help", reflowed(function.__doc__))
            return parent(*args, **kwargs)(function)

        return register


def reflowed(doc: str | None) -> str | None:
    """A docstring's paragraphs each on one line, for the help to wrap to the terminal
    (Typer keeps the source's line breaks, which cut sentences in the middle)."""
    if not doc:
        return None
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error for the operator; ``raise fail(...)``."""
    errors.print(f"[bold red]error:[/] {safe(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def database_problem(exc: BaseException, url: str) -> str | None:
    """What to tell the operator when ``exc`` means the database at ``url`` is locked or
    cannot be reached, or None when it is some other error (a bug keeps its traceback)."""
    if not isinstance(exc, DBAPIError | PoolTimeoutError) or not (
        isinstance(exc, PoolTimeoutError) or is_transient(exc)
    ):
        return None
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "cannot reach the database (R2P_DATABASE_URL)"
    reason = describe_db_error(exc)
    if parsed.password:
        reason = reason.replace(str(parsed.password), "***")
    if parsed.get_backend_name() == "sqlite":
        if "locked" in reason or "busy" in reason:
            return (
                f"the database {parsed.database} is locked by another process and stayed "
                "locked beyond the busy timeout: try again shortly"
            )
        return f"cannot use the database {parsed.database}: {reason}"
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
    return f"cannot reach the database at {where}: {reason}"


@contextmanager
def cli_context() -> Iterator[tuple[Settings, Engine, sessionmaker[Session]]]:
    """Settings and a database ready at head; any MailerError, or a database locked or
    out of reach, becomes a clean exit 1."""
    url = ""
    try:
        settings = load_settings()
        DkimSigner.from_settings(settings)  # a bad key fails here, naming the setting
        url = settings.database
        engine = make_engine(url)
        try:
            if current_revision(engine) != head_revision():
                raise MailerError(
                    "the database schema is not up to date: run `r2p-mailer init` first"
                )
            yield settings, engine, make_sessionmaker(engine)
        finally:
            engine.dispose()
    except MailerError as exc:
        raise fail(str(exc)) from None
    except (DBAPIError, PoolTimeoutError) as exc:
        problem = database_problem(exc, url)
        if problem is None:
            raise
        raise fail(problem) from None
