"""``r2p-mailer subscribers ...``: list, add, import, export, suppress, allow, remove and
purge readers.

Confirmation emails queued here go out when a delivery worker runs (``r2p-mailer run``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.progress import Progress
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mailer.db import session_scope, write_session
from mailer.durations import FORMS, parse_duration
from mailer.errors import MailerError
from mailer.models import Subscriber
from mailer.outbox.status import REPORTED_SUBSCRIBER
from mailer.terminal import safe
from service.cli.context import MailerTyper, cli_context, console, errors, fail
from service.cli.output import Column, FormatOption, print_records
from staff.actions import readers
from staff.actions.actor import Actor
from subscribers.addresses import normalise_address
from subscribers.importer import Row
from subscribers.lookup import find_by_email

STATUSES = REPORTED_SUBSCRIBER

subscribers_app = MailerTyper(
    help="List, add, import, export, suppress, allow again and remove subscribers."
)


def _check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise fail(f"--status must be one of {', '.join(STATUSES)}")


SUBSCRIBER_COLUMNS = (
    Column("email", "email"),
    Column("status", "status"),
    Column("language", "lang"),
    Column("wants_digest", "digest"),
    Column("wants_alerts", "alerts"),
    Column("topics", "topics"),
    Column("created_at", "created"),
    Column("confirmed_at", "confirmed"),
)

REJECTED_COLUMNS = (Column("line", "line"), Column("email", "email"), Column("reason", "reason"))


@subscribers_app.command("list")
def list_subscribers(
    status: Annotated[
        str | None, typer.Option(metavar="STATUS", help=f"Only this status: {', '.join(STATUSES)}.")
    ] = None,
    format: FormatOption = None,
) -> None:
    """Show subscribers with what they receive (an empty topics field: every topic)."""
    _check_status(status)
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        query = select(Subscriber).order_by(Subscriber.email)
        if status is not None:
            query = query.where(Subscriber.status == status)
        records = (
            {
                "email": sub.email,
                "status": sub.status,
                "language": sub.language,
                "wants_digest": sub.wants_digest,
                "wants_alerts": sub.wants_alerts,
                "topics": list(sub.topics),
                "created_at": sub.created_at,
                "confirmed_at": sub.confirmed_at,
            }
            for sub in session.scalars(query.execution_options(yield_per=500))
        )
        count = print_records(records, SUBSCRIBER_COLUMNS, format=format, title="Subscribers")
    errors.print(f"{count} subscriber(s).", highlight=False)


@subscribers_app.command("add")
def add(
    email: Annotated[str, typer.Argument(metavar="ADDRESS", help="The reader's address.")],
    confirmed: Annotated[
        bool,
        typer.Option(
            "--confirmed",
            help="The reader already consented elsewhere: active at once, no confirmation email.",
        ),
    ] = False,
    language: Annotated[
        str, typer.Option(metavar="LANG", help="Language code (en, fr, es, ar, ru, zh).")
    ] = "en",
    topic: Annotated[
        list[str] | None,
        typer.Option(metavar="TOPIC", help="A topic tag; repeat for more. None: everything."),
    ] = None,
    digest: Annotated[bool, typer.Option(help="Send the weekly digest.")] = True,
    alerts: Annotated[bool, typer.Option(help="Send urgent alerts.")] = True,
) -> None:
    """Add one reader. Without --confirmed they get a confirmation email first."""
    with cli_context() as (settings, _engine, factory):
        try:
            with session_scope(factory) as session:
                added = readers.add(
                    email,
                    language=language,
                    topics=topic or [],
                    wants_digest=digest,
                    wants_alerts=alerts,
                    confirmed=confirmed,
                    actor=Actor.cli(),
                    settings=settings,
                    now=datetime.now(UTC),
                    session=session,
                )
                address = added.email
        except MailerError as exc:
            raise fail(f"{email}: {exc}") from None
    if confirmed:
        console.print(f"Added {safe(address)} (active).")
    else:
        console.print(
            f"Added {safe(address)} (pending): a confirmation email is queued and goes out "
            "when the worker runs."
        )


@subscribers_app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="CSV with columns email, language, topics.")
    ],
    confirmed: Annotated[
        bool,
        typer.Option(
            "--confirmed", help="The readers already consented elsewhere: active at once."
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row, import nothing.")
    ] = False,
    format: FormatOption = None,
) -> None:
    """Import readers from a UTF-8 CSV file, all rows or none. Rejected rows are printed
    as records (line, email, reason); the summary goes to stderr."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    with cli_context() as (settings, _engine, factory):
        # A write session: on SQLite it holds the write lock from the start, so the check
        # against the list and the inserts see the same list.
        try:
            with (
                write_session(factory) as session,
                Progress(console=errors, transient=True) as progress,
            ):
                checking = progress.add_task("checking rows", total=None)
                storing = progress.add_task("importing", total=None, visible=False)

                def checked(_row: Row) -> None:
                    progress.advance(checking)

                def stored(done: int, total: int) -> None:
                    progress.update(checking, visible=False)
                    progress.update(storing, completed=done, total=total, visible=True)

                report = readers.import_file(
                    data,
                    source=file.name,
                    confirmed=confirmed,
                    dry_run=dry_run,
                    on_row=checked,
                    on_stored=stored,
                    actor=Actor.cli(),
                    settings=settings,
                    now=datetime.now(UTC),
                    session=session,
                )
        except MailerError as exc:
            raise fail(f"{file}: {exc}; nothing was imported") from None
        except IntegrityError:
            raise fail(
                f"{file}: an address was added by someone else during the import; nothing "
                "was imported: run it again"
            ) from None
    if report.rejected:
        print_records(
            (
                {"line": rejected.line, "email": rejected.email, "reason": rejected.reason}
                for rejected in report.rejected
            ),
            REJECTED_COLUMNS,
            format=format,
            title=f"Rejected rows ({len(report.rejected)})",
        )
    verb = "would be imported" if dry_run else "imported"
    pending = report.accepted - report.confirmed
    errors.print(
        f"{report.accepted} row(s) {verb} ({report.confirmed} active, {pending} asked to "
        f"confirm by email); {len(report.rejected)} rejected."
    )


@subscribers_app.command("export")
def export(
    out: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Write to this file (mode 600) instead of stdout."),
    ] = None,
    status: Annotated[
        str | None, typer.Option(metavar="STATUS", help=f"Only this status: {', '.join(STATUSES)}.")
    ] = None,
) -> None:
    """Export subscribers with their consent records as CSV (readable by `import`).
    Cells a spreadsheet would run as formulas (starting with = + - @, tab or CR) get a
    leading ' (which `import` removes again). Every export is recorded in the audit log."""
    _check_status(status)
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:

        def export_to(handle: TextIO) -> int:
            return readers.export(
                handle,
                status=status,
                target=str(out) if out is not None else "stdout",
                actor=Actor.cli(),
                now=datetime.now(UTC),
                session=session,
            )

        if out is None:
            count = export_to(sys.stdout)
        else:
            try:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            except OSError as exc:
                raise fail(f"cannot write {out}: {exc.strerror}") from None
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                count = export_to(handle)
    if out is not None:
        errors.print(f"Exported {count} subscriber(s) to {safe(out)}.", highlight=False)


Address = Annotated[str, typer.Argument(metavar="ADDRESS", help="The reader's address.")]


def _act_on(email: str, action: Callable[..., object]) -> str:
    """Run a staff action on the reader with this address, audited as the CLI user;
    returns the normalised address."""
    with cli_context() as (_settings, _engine, factory):
        try:
            address = normalise_address(email)
        except MailerError as exc:
            raise fail(f"{email}: {exc}") from None
        with session_scope(factory) as session:
            subscriber = find_by_email(address, session=session)
            if subscriber is None:
                raise fail(f"no subscriber with the address {address}")
            try:
                action(subscriber, actor=Actor.cli(), now=datetime.now(UTC), session=session)
            except MailerError as exc:
                raise fail(f"{address}: {exc}") from None
    return address


@subscribers_app.command("suppress")
def suppress(email: Address) -> None:
    """Stop all mail to a reader now (as an unsubscribe made by staff); `allow` undoes it."""
    address = _act_on(email, readers.suppress)
    console.print(f"Suppressed {safe(address)}: no more mail; anything queued is cancelled.")


@subscribers_app.command("allow")
def allow(email: Address) -> None:
    """Make a bounced or staff-suppressed reader active again. A reader who unsubscribed
    themself comes back only by signing up and confirming again."""
    address = _act_on(email, readers.allow_again)
    console.print(f"Allowed {safe(address)} again (active).")


@subscribers_app.command("remove")
def remove(email: Address) -> None:
    """Erase a reader's personal data for good (an anonymous count is kept)."""
    address = _act_on(email, readers.remove)
    console.print(f"Removed {safe(address)} and erased their data.")


@subscribers_app.command("purge")
def purge(
    older_than: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help=f"Age of unconfirmed signups to delete, with a unit: {FORMS} "
            "(default R2P_PENDING_PURGE_AFTER).",
        ),
    ] = None,
) -> None:
    """Delete signups that were never confirmed."""
    with cli_context() as (settings, _engine, factory):
        try:
            age: timedelta = (
                parse_duration(older_than) if older_than else settings.pending_purge_after
            )
        except ValueError as exc:
            raise fail(f"--older-than: {exc}", code=2) from None
        with session_scope(factory) as session:
            count = readers.purge(age, actor=Actor.cli(), now=datetime.now(UTC), session=session)
    console.print(f"Deleted {count} unconfirmed signup(s) older than {age}.")
