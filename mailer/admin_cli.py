"""`r2p-mailer admins ...` and `r2p-mailer alert ...`: staff accounts and urgent alerts
from the command line (the same actions as the admin console, audited the same way)."""

from __future__ import annotations

import asyncio
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from mailer.admins import AdminError, add_admin, audit, create_token, get_admin, revoke_tokens
from mailer.alerts import (
    AlertError,
    Draft,
    alert_status,
    approve,
    create_alert,
    draft_from_item,
    get_alert,
    test_message,
)
from mailer.cli_context import cli_context, console, fail
from mailer.db import session_scope
from mailer.durations import parse_duration
from mailer.errors import MailerError
from mailer.outbox import cancel
from mailer.sending import make_sender

admins_app = typer.Typer(help="Admin accounts and API tokens.", no_args_is_help=True)
alert_app = typer.Typer(
    help="Compose, test, approve and cancel urgent alerts.", no_args_is_help=True
)


def _cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


def _read_password(confirm: bool) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Again: ") != password:
        raise fail("the two passwords differ")
    return password


@admins_app.command("add")
def admins_add(email: Annotated[str, typer.Argument(help="The admin's email address.")]) -> None:
    """Create an admin; the password is read from a prompt (or one line of stdin)."""
    password = _read_password(confirm=True)
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            admin = add_admin(email, password, session=session)
        except AdminError as exc:
            raise fail(str(exc)) from None
        audit(_cli_actor(), "admin.add", target=admin.email, now=datetime.now(UTC), session=session)
    console.print(f"Admin {admin.email} added.")


@admins_app.command("token")
def admins_token(
    email: Annotated[str, typer.Argument(help="The admin the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "api",
) -> None:
    """Create an API token for the JSON admin API (shown once: keep it safe)."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            admin = get_admin(email, session=session)
        except AdminError as exc:
            raise fail(str(exc)) from None
        token = create_token(admin, name=name, session=session)
        audit(
            _cli_actor(),
            "token.create",
            target=admin.email,
            now=datetime.now(UTC),
            session=session,
            name=name,
        )
    console.print(token, markup=False, highlight=False)


@admins_app.command("revoke")
def admins_revoke(email: Annotated[str, typer.Argument(help="Whose tokens to revoke.")]) -> None:
    """Revoke every API token of an admin."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            admin = get_admin(email, session=session)
        except AdminError as exc:
            raise fail(str(exc)) from None
        count = revoke_tokens(admin, now=datetime.now(UTC), session=session)
        audit(
            _cli_actor(),
            "token.revoke",
            target=admin.email,
            now=datetime.now(UTC),
            session=session,
            count=count,
        )
    console.print(f"Revoked {count} token(s) of {admin.email}.")


@alert_app.command("create")
def alert_create(
    subject: Annotated[
        str | None, typer.Option(help="One line (default: the item's title).")
    ] = None,
    body_file: Annotated[
        Path | None, typer.Option(help="Plain-text body; blank lines separate paragraphs.")
    ] = None,
    item: Annotated[int | None, typer.Option(help="Start from this stored item.")] = None,
    link: Annotated[str, typer.Option(help="A 'Read more' link.")] = "",
    topics: Annotated[
        str, typer.Option(help="Only readers of these topics (comma-separated tags).")
    ] = "",
    expires: Annotated[
        str | None, typer.Option(help="e.g. 6h (default R2P_ALERT_EXPIRES).")
    ] = None,
) -> None:
    """Create a draft alert and print its id. Nothing is sent until it is approved."""
    if (body_file is None) == (item is None):
        raise fail("give exactly one of --body-file or --item", code=2)
    with cli_context() as (settings, _engine, factory), session_scope(factory) as session:
        try:
            base = draft_from_item(item, session=session) if item is not None else None
            body = body_file.read_text(encoding="utf-8") if body_file is not None else ""
            chosen = tuple(t.strip() for t in topics.split(",") if t.strip())
            draft = Draft(
                subject=subject if subject is not None else (base.subject if base else ""),
                body=body or (base.body if base else ""),
                link=link or (base.link if base else ""),
                audience="topics" if chosen else "all",
                topics=chosen,
                item_id=item,
            )
            lifetime = parse_duration(expires) if expires else settings.alert_expires
            now = datetime.now(UTC)
            campaign = create_alert(
                draft, by=_cli_actor(), expires_in=lifetime, now=now, session=session
            )
        except (MailerError, OSError, ValueError) as exc:
            raise fail(str(exc)) from None
        audit(_cli_actor(), "alert.create", target=campaign.key, now=now, session=session)
    console.print(campaign.id)


@alert_app.command("test")
def alert_test(
    alert_id: Annotated[int, typer.Argument(help="The alert's id.")],
    to: Annotated[str, typer.Option(help="Where to send the test.")],
) -> None:
    """Send the alert to yourself exactly as readers will see it (marked [TEST])."""
    with cli_context() as (settings, _engine, factory), session_scope(factory) as session:
        try:
            message = test_message(
                get_alert(alert_id, session=session), to, settings=settings, session=session
            )
        except MailerError as exc:
            raise fail(str(exc)) from None

    async def send() -> str:
        sender = make_sender(settings)
        try:
            envelope = settings.mail_from.rsplit("<", 1)[-1].rstrip(">").strip()
            result = await sender.send(envelope, to, message)
        finally:
            await sender.aclose()
        if result.verdict != "sent":
            raise fail(f"the test was not accepted: {result.code} {result.reply}")
        return result.reply

    console.print(f"Test sent to {to}: {asyncio.run(send())}")


@alert_app.command("approve")
def alert_approve(
    alert_id: Annotated[int, typer.Argument(help="The alert's id.")],
    by: Annotated[str | None, typer.Option(help="Approving admin (default: cli:USER).")] = None,
) -> None:
    """Approve an alert; with enough approvals (R2P_ALERT_APPROVERS) it is queued at once."""
    actor = by or _cli_actor()
    with cli_context() as (settings, _engine, factory), session_scope(factory) as session:
        now = datetime.now(UTC)
        try:
            campaign = get_alert(alert_id, session=session)
            result = approve(campaign, by=actor, settings=settings, now=now, session=session)
        except MailerError as exc:
            raise fail(str(exc)) from None
        audit(
            actor,
            "alert.approve",
            target=campaign.key,
            now=now,
            session=session,
            queued=result.queued,
        )
    if result.approved:
        console.print(f"Alert {alert_id} approved: {result.queued} delivery(ies) queued.")
    else:
        console.print(
            f"Approval {result.approvals} of {result.needed} recorded; another admin must approve."
        )


@alert_app.command("cancel")
def alert_cancel(alert_id: Annotated[int, typer.Argument(help="The alert's id.")]) -> None:
    """Cancel an alert, even mid-send: what is not sent yet is not sent."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        now = datetime.now(UTC)
        try:
            campaign = get_alert(alert_id, session=session)
            cancelled = cancel(campaign, now=now, session=session)
        except MailerError as exc:
            raise fail(str(exc)) from None
        audit(
            _cli_actor(),
            "alert.cancel",
            target=campaign.key,
            now=now,
            session=session,
            cancelled=cancelled,
        )
    console.print(f"Alert {alert_id} cancelled; {cancelled} unsent delivery(ies) dropped.")


@alert_app.command("status")
def alert_status_command(
    alert_id: Annotated[int, typer.Argument(help="The alert's id.")],
) -> None:
    """Where an alert stands: status, approvals, and queued/sent/failed/cancelled counts."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            status = alert_status(get_alert(alert_id, session=session), session=session)
        except AlertError as exc:
            raise fail(str(exc)) from None
    counts = status["counts"]
    approvers = ", ".join(status["approved_by"]) or "nobody"
    console.print(
        f"{status['key']}: {status['status']}; approved by {approvers}"
        f"\n{counts['queued']} queued, {counts['sending']} sending, {counts['sent']} sent, "
        f"{counts['failed']} failed, {counts['cancelled']} cancelled",
        markup=False,
        highlight=False,
    )
