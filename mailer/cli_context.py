"""What every CLI command shares: consoles, and settings plus a database at head, with any
MailerError turned into a clean one-line error and exit status 1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings, load_settings
from mailer.db import make_engine, make_sessionmaker
from mailer.errors import MailerError
from mailer.migrate import current_revision, head_revision
from mailer.terminal import safe

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error for the operator; ``raise fail(...)``."""
    errors.print(f"[bold red]error:[/] {safe(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def cli_context() -> Iterator[tuple[Settings, Engine, sessionmaker[Session]]]:
    """Settings and a database ready at head; any MailerError becomes a clean exit 1."""
    try:
        settings = load_settings()
        engine = make_engine(settings.database)
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
