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
from sqlalchemy.orm import Session

from mailer.admins import (
    AdminError,
    add_admin,
    admin_for_token,
    audit_cli,
    cli_actor,
    create_token,
    get_admin,
    revoke_tokens,
    verify_password,
)
from mailer.alerts import (
    AlertError,
    Draft,
    alert_status,
    approve,
    approver,
    create_alert,
    draft_from_item,
    get_alert,
    test_message,
)
from mailer.cli_context import MailerTyper, cli_context, console, fail
from mailer.db import session_scope
from mailer.durations import FORMS, parse_duration
from mailer.errors import MailerError
from mailer.models import Admin
from mailer.outbox.campaigns import cancel
from mailer.sending import SendResult, make_sender
from mailer.terminal import safe

admins_app = MailerTyper(help="Admin accounts and API tokens.")
alert_app = MailerTyper(help="Compose, test, approve and cancel urgent alerts.")


def _read_password(confirm: bool) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Again: ") != password:
        raise fail("the two passwords differ")
    return password


@admins_app.command("add")
def admins_add(
    email: Annotated[str, typer.Argument(metavar="ADDRESS", help="The admin's email address.")],
) -> None:
    """Create an admin; the password is read from a prompt (or one line of stdin)."""
    password = _read_password(confirm=True)
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            admin = add_admin(email, password, session=session)
        except AdminError as exc:
            raise fail(str(exc)) from None
        audit_cli("admin.add", target=admin.email, now=datetime.now(UTC), session=session)
    console.print(f"Admin {safe(admin.email)} added.")


@admins_app.command("token")
def admins_token(
    email: Annotated[str, typer.Argument(metavar="ADDRESS", help="The admin the token acts as.")],
    name: Annotated[str, typer.Option(metavar="NAME", help="What the token is for.")] = "api",
) -> None:
    """Create an API token for the JSON admin API (shown once: keep it safe)."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            admin = get_admin(email, session=session)
        except AdminError as exc:
            raise fail(str(exc)) from None
        token = create_token(admin, name=name, session=session)
        audit_cli(
            "token.create",
            target=admin.email,
            now=datetime.now(UTC),
            session=session,
            name=name,
        )
    console.print(token, markup=False, highlight=False)


@admins_app.command("revoke")
def admins_revoke(
    email: Annotated[str, typer.Argument(metavar="ADDRESS", help="Whose tokens to revoke.")],
) -> None:
    """Revoke every API token of an admin."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            admin = get_admin(email, session=session)
        except AdminError as exc:
            raise fail(str(exc)) from None
        count = revoke_tokens(admin, now=datetime.now(UTC), session=session)
        audit_cli(
            "token.revoke",
            target=admin.email,
            now=datetime.now(UTC),
            session=session,
            count=count,
        )
    console.print(f"Revoked {count} token(s) of {safe(admin.email)}.")


@alert_app.command("create")
def alert_create(
    subject: Annotated[
        str | None, typer.Option(metavar="TEXT", help="One line (default: the item's title).")
    ] = None,
    body_file: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Plain-text body; blank lines separate paragraphs."),
    ] = None,
    item: Annotated[
        int | None, typer.Option(metavar="ID", help="Start from this stored item.")
    ] = None,
    link: Annotated[str, typer.Option(metavar="URL", help="A 'Read more' link.")] = "",
    topics: Annotated[
        str,
        typer.Option(metavar="TOPICS", help="Only readers of these topics (comma-separated tags)."),
    ] = "",
    expires: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help=f"How long it may be sent, with a unit: {FORMS} (default R2P_ALERT_EXPIRES).",
        ),
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
            try:
                lifetime = parse_duration(expires) if expires else settings.alert_expires
            except ValueError as exc:
                raise fail(f"--expires: {exc}", code=2) from None
            now = datetime.now(UTC)
            campaign = create_alert(
                draft, by=cli_actor(), expires_in=lifetime, now=now, session=session
            )
        except (MailerError, OSError, ValueError) as exc:
            raise fail(str(exc)) from None
        audit_cli(
            "alert.create",
            target=campaign.key,
            now=now,
            session=session,
            expires_at=str(campaign.expires_at),
        )
    console.print(campaign.id)


@alert_app.command("test")
def alert_test(
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's id.")],
    to: Annotated[str, typer.Option(metavar="ADDRESS", help="Where to send the test.")],
) -> None:
    """Send the alert to yourself exactly as readers will see it (marked [TEST])."""
    with cli_context() as (settings, _engine, factory):
        with session_scope(factory) as session:
            try:
                campaign = get_alert(alert_id, session=session)
                message = test_message(campaign, to, settings=settings, session=session)
            except MailerError as exc:
                raise fail(str(exc)) from None
            key = campaign.key

        async def send() -> SendResult:
            sender = make_sender(settings)
            try:
                envelope = settings.mail_from.rsplit("<", 1)[-1].rstrip(">").strip()
                return await sender.send(envelope, to, message)
            finally:
                await sender.aclose()

        result = asyncio.run(send())
        with session_scope(factory) as session:
            audit_cli(
                "alert.test",
                target=key,
                now=datetime.now(UTC),
                session=session,
                to=to,
                verdict=result.verdict,
            )
    if result.verdict != "sent":
        raise fail(f"the test was not accepted: {result.code} {result.reply}")
    console.print(f"Test sent to {safe(to)}: {safe(result.reply)}")


def _read_secret(what: str, *, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise fail(
            "stdin is not a terminal: give the approving admin's password with "
            "--password-stdin, or one of their API tokens with --token-stdin",
            code=2,
        )
    return getpass.getpass(f"{what}: ")


def _proven_admin(
    email: str, *, token: str | None, password: str | None, session: Session
) -> Admin:
    """The admin ``email`` names, if the password or API token proves it is them."""
    admin = approver(email, session=session)
    if token is not None:
        owner = admin_for_token(token, now=datetime.now(UTC), session=session)
        if owner is None or owner.id != admin.id:
            raise AlertError(f"not a valid API token of {admin.email}")
    elif password is None or not verify_password(password, admin.password_hash):
        raise AlertError(f"wrong password for {admin.email}")
    return admin


@alert_app.command("approve")
def alert_approve(
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's id.")],
    by: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="The approving admin's email: an existing, active admin (required).",
        ),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read that admin's password from the first line of stdin (for scripts).",
        ),
    ] = False,
    token_stdin: Annotated[
        bool,
        typer.Option(
            "--token-stdin",
            help="Prove who you are with one of that admin's API tokens, read from stdin.",
        ),
    ] = False,
) -> None:
    """Approve an alert as an admin, who proves who they are: their password (asked for
    with hidden input, or --password-stdin) or one of their API tokens (--token-stdin).
    With enough approvals from different admins (R2P_ALERT_APPROVERS) it is queued at once.
    The operating-system user is recorded in the audit log too."""
    if not by:
        raise fail("--by: name the approving admin (an existing, active admin)", code=2)
    if password_stdin and token_stdin:
        raise fail("give --password-stdin or --token-stdin, not both", code=2)
    proof = "token" if token_stdin else "password"
    secret = _read_secret(
        "API token" if token_stdin else f"Password for {by}",
        from_stdin=password_stdin or token_stdin,
    )
    with cli_context() as (settings, _engine, factory):
        now = datetime.now(UTC)
        try:
            with session_scope(factory) as session:
                admin = _proven_admin(
                    by,
                    token=secret if token_stdin else None,
                    password=None if token_stdin else secret,
                    session=session,
                )
                campaign = get_alert(alert_id, session=session)
                result = approve(
                    campaign, by=admin.email, settings=settings, now=now, session=session
                )
                audit_cli(
                    "alert.approve",
                    admin=admin.email,
                    target=campaign.key,
                    now=now,
                    session=session,
                    queued=result.queued,
                    proof=proof,
                )
        except MailerError as exc:
            with session_scope(factory) as session:
                audit_cli(
                    "alert.approve.refused",
                    target=f"alert:{alert_id}",
                    now=now,
                    session=session,
                    named=by[:320],
                    proof=proof,
                    reason=str(exc),
                )
            raise fail(str(exc)) from None
    if result.approved:
        console.print(f"Alert {alert_id} approved: {result.queued} delivery(ies) queued.")
    else:
        console.print(
            f"Approval {result.approvals} of {result.needed} recorded; another admin must approve."
        )


@alert_app.command("cancel")
def alert_cancel(
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's id.")],
) -> None:
    """Cancel an alert, even mid-send: what is not sent yet is not sent."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        now = datetime.now(UTC)
        try:
            campaign = get_alert(alert_id, session=session)
            cancelled = cancel(campaign, now=now, session=session)
        except MailerError as exc:
            raise fail(str(exc)) from None
        audit_cli(
            "alert.cancel",
            target=campaign.key,
            now=now,
            session=session,
            cancelled=cancelled,
        )
    console.print(f"Alert {alert_id} cancelled; {cancelled} unsent delivery(ies) dropped.")


@alert_app.command("status")
def alert_status_command(
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's id.")],
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
        f"{safe(status['key'])}: {safe(status['status'])}; approved by {safe(approvers)}"
        f"\n{counts['queued']} queued, {counts['sending']} sending, {counts['sent']} sent, "
        f"{counts['failed']} failed, {counts['cancelled']} cancelled",
        highlight=False,
    )
