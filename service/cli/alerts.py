"""``r2p-mailer alert ...``: compose, edit, translate, schedule, test, approve and cancel
urgent alerts, and show every version, from the command line (the same actions as the
staff console, audited the same way)."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from mailer.alert_versions import TRANSLATABLE, Translation, translations_of
from mailer.alerts import (
    AlertError,
    Draft,
    EditResult,
    Schedule,
    alert_status,
    content_of,
    get_alert,
    parse_send_time,
)
from mailer.config import Settings
from mailer.db import session_scope
from mailer.durations import FORMS, parse_duration
from mailer.errors import MailerError
from mailer.terminal import safe
from service.cli.context import MailerTyper, cli_context, console, fail
from staff.actions import accounts, alerts
from staff.actions.actor import Actor

alert_app = MailerTyper(
    help="Compose, edit, translate, schedule, test, approve and cancel urgent alerts."
)
SEND_AT_HELP = (
    "Send at this time, e.g. 2026-12-08T18:00 (in R2P_CONSOLE_TIMEZONE unless it has an "
    "offset such as +01:00 or Z); approved earlier, it waits until then."
)


def _send_time(text: str, settings: Settings) -> datetime:
    try:
        return parse_send_time(text, settings.console_timezone)
    except AlertError as exc:
        raise fail(f"--send-at: {exc}", code=2) from None


def _read_body(body_file: Path) -> str:
    try:
        return body_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot read {body_file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise fail(f"{body_file} is not UTF-8 text") from None


def _said(result: EditResult, alert_id: int) -> str:
    if not result.changed:
        return f"Alert {alert_id}: nothing changed."
    said = f"Alert {alert_id}: {', '.join(result.after)} changed."
    if result.approvals_cleared:
        said += f" Approvals cleared: {', '.join(result.approvals_cleared)}; approve it again."
    return said


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
    send_at: Annotated[str | None, typer.Option(metavar="TIME", help=SEND_AT_HELP)] = None,
) -> None:
    """Create a draft alert and print its id. Nothing is sent until it is approved."""
    if (body_file is None) == (item is None):
        raise fail("give exactly one of --body-file or --item", code=2)
    try:
        lifetime = parse_duration(expires) if expires else None
    except ValueError as exc:
        raise fail(f"--expires: {exc}", code=2) from None
    body = _read_body(body_file) if body_file is not None else ""
    chosen = tuple(t.strip() for t in topics.split(",") if t.strip())
    with cli_context() as (settings, _engine, factory), session_scope(factory) as session:
        when = _send_time(send_at, settings) if send_at else None
        draft = Draft(
            subject=subject or "",
            body=body,
            link=link,
            audience="topics" if chosen else "all",
            topics=chosen,
            item_id=item,
        )
        try:
            campaign = alerts.create(
                alerts.from_item(draft, session=session),
                expires_in=lifetime,
                actor=Actor.cli(),
                settings=settings,
                now=datetime.now(UTC),
                session=session,
                send_at=when,
            )
        except MailerError as exc:
            raise fail(str(exc)) from None
    console.print(campaign.id)


@alert_app.command("edit")
def alert_edit(
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's id.")],
    subject: Annotated[str | None, typer.Option(metavar="TEXT", help="A new subject.")] = None,
    body_file: Annotated[
        Path | None, typer.Option(metavar="FILE", help="A new plain-text body.")
    ] = None,
    link: Annotated[
        str | None, typer.Option(metavar="URL", help="A new 'Read more' link ('' for none).")
    ] = None,
    topics: Annotated[
        str | None,
        typer.Option(metavar="TOPICS", help="Only readers of these topics (comma-separated)."),
    ] = None,
    all_readers: Annotated[
        bool, typer.Option("--all-readers", help="Every alert subscriber, whatever the topics.")
    ] = False,
) -> None:
    """Change a draft alert until it is approved; what is not given stays. A change of
    the words, link or audience clears the approvals given so far (audited as
    alert.edit, with what changed before and after)."""
    if topics is not None and all_readers:
        raise fail("give --topics or --all-readers, not both", code=2)
    body = _read_body(body_file) if body_file is not None else None
    with cli_context() as (settings, _engine, factory), session_scope(factory) as session:
        try:
            campaign = get_alert(alert_id, session=session)
            current = content_of(campaign)
            chosen = tuple(t.strip() for t in (topics or "").split(",") if t.strip())
            if topics is not None and not chosen:
                raise fail("--topics: name at least one topic, or use --all-readers", code=2)
            audience = "topics" if chosen else "all" if all_readers else current["audience"]
            draft = Draft(
                subject=current["subject"] if subject is None else subject,
                body=current["body"] if body is None else body,
                link=current["link"] if link is None else link,
                audience=audience,
                topics=chosen or (tuple(current["topics"]) if audience == "topics" else ()),
                item_id=campaign.context.get("item_id"),
            )
            result = alerts.edit(
                campaign,
                draft,
                actor=Actor.cli(),
                settings=settings,
                now=datetime.now(UTC),
                session=session,
            )
        except MailerError as exc:
            raise fail(str(exc)) from None
    console.print(safe(_said(result, alert_id)), highlight=False)


@alert_app.command("translate")
def alert_translate(
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's id.")],
    language: Annotated[
        str, typer.Option(metavar="LANG", help=f"One of {', '.join(TRANSLATABLE)}.")
    ],
    subject: Annotated[
        str | None, typer.Option(metavar="TEXT", help="The subject in that language.")
    ] = None,
    body_file: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="The body in that language (UTF-8 plain text)."),
    ] = None,
    link_text: Annotated[
        str,
        typer.Option(metavar="TEXT", help="The button's label (default: 'Read more' translated)."),
    ] = "",
    remove: Annotated[
        bool, typer.Option("--remove", help="Remove the translation: they get the original.")
    ] = False,
) -> None:
    """Add, replace (--subject and --body-file) or remove (--remove) a draft alert's
    translation: readers in that language get it instead of the original. Clears the
    approvals given so far (audited as alert.translate or alert.translation.remove)."""
    if remove == (subject is not None or body_file is not None):
        raise fail("give --subject and --body-file, or --remove", code=2)
    if not remove and (subject is None or body_file is None):
        raise fail("a translation needs both --subject and --body-file", code=2)
    body = _read_body(body_file) if body_file is not None else ""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            campaign = get_alert(alert_id, session=session)
            now, actor = datetime.now(UTC), Actor.cli()
            if remove:
                change = alerts.untranslate(
                    campaign, language, actor=actor, now=now, session=session
                )
            else:
                draft = Translation(language, subject or "", body, link_text)
                change = alerts.translate(campaign, draft, actor=actor, now=now, session=session)
        except MailerError as exc:
            raise fail(str(exc)) from None
    if not change.changed:
        said = f"Alert {alert_id}: nothing changed."
    elif change.after is None:
        said = f"Alert {alert_id}: the {change.language} translation removed."
    else:
        said = f"Alert {alert_id}: the {change.language} translation saved."
    if change.approvals_cleared:
        said += f" Approvals cleared: {', '.join(change.approvals_cleared)}; approve it again."
    console.print(safe(said), highlight=False)


@alert_app.command("show")
def alert_show(
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's id.")],
) -> None:
    """Every version of an alert as readers will get it: the original (en), then each
    translation, with its subject, link label and body."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            campaign = get_alert(alert_id, session=session)
        except AlertError as exc:
            raise fail(str(exc)) from None
        content = content_of(campaign)
        versions = {"en": Translation("en", content["subject"], content["body"])}
        versions.update(translations_of(campaign.id, session=session))
    link = content["link"] or "(none)"
    lines = [f"Alert {alert_id}, link {link}; {len(versions)} version(s)."]
    for code, version in versions.items():
        label = f", link text: {version.link_text}" if version.link_text else ""
        lines += ["", f"[{code}] {version.subject}{label}", "", version.body]
    console.print(safe("\n".join(lines), lines=True), highlight=False)


@alert_app.command("schedule")
def alert_schedule(
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's id.")],
    at: Annotated[str | None, typer.Option("--at", metavar="TIME", help=SEND_AT_HELP)] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="No send time: it goes out as soon as approved.")
    ] = False,
) -> None:
    """Set or clear a draft alert's send time (before it expires). Approvals stay: the
    words did not change. Audited as alert.edit."""
    if (at is None) == (not clear):
        raise fail("give exactly one of --at or --clear", code=2)
    with cli_context() as (settings, _engine, factory), session_scope(factory) as session:
        when = _send_time(at, settings) if at is not None else None
        try:
            result = alerts.edit(
                get_alert(alert_id, session=session),
                None,
                schedule=Schedule(when),
                actor=Actor.cli(),
                settings=settings,
                now=datetime.now(UTC),
                session=session,
            )
        except MailerError as exc:
            raise fail(str(exc)) from None
    if not result.changed:
        console.print(_said(result, alert_id))
    elif when is None:
        console.print(f"Alert {alert_id}: no send time; it goes out as soon as it is approved.")
    else:
        console.print(f"Alert {alert_id} goes out at {when:%Y-%m-%d %H:%M} UTC once approved.")


@alert_app.command("test")
def alert_test(
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's id.")],
    to: Annotated[str, typer.Option(metavar="ADDRESS", help="Where to send the test.")],
) -> None:
    """Send the alert to yourself exactly as readers will see it (marked [TEST]): the
    original, then each translation."""
    with cli_context() as (settings, _engine, factory), session_scope(factory) as session:
        try:
            campaign = get_alert(alert_id, session=session)
        except AlertError as exc:
            raise fail(str(exc)) from None
        try:
            results = alerts.send_test(
                campaign,
                to,
                actor=Actor.cli(),
                settings=settings,
                now=datetime.now(UTC),
                session=session,
            )
        except (MailerError, OSError) as exc:
            raise fail(f"the test could not be sent: {exc}") from None
    for result in results:
        if result.verdict != "sent":
            raise fail(f"the test was not accepted: {result.code} {result.reply}")
    versions = f"{len(results)} versions" if len(results) > 1 else "Test"
    console.print(f"{versions} sent to {safe(to)}: {safe(results[-1].reply)}")


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
                admin = accounts.proven_admin(
                    by,
                    token=secret if token_stdin else None,
                    password=None if token_stdin else secret,
                    now=now,
                    session=session,
                )
                result = alerts.approve_alert(
                    get_alert(alert_id, session=session),
                    actor=Actor.cli(admin.email, proof=proof),
                    settings=settings,
                    now=now,
                    session=session,
                )
        except MailerError as exc:
            with session_scope(factory) as session:
                alerts.refused_approval(
                    alert_id,
                    named=by,
                    reason=str(exc),
                    actor=Actor.cli(proof=proof),
                    now=now,
                    session=session,
                )
            raise fail(str(exc)) from None
    if result.send_at is not None:
        console.print(
            f"Alert {alert_id} approved: it goes out at {result.send_at:%Y-%m-%d %H:%M} UTC."
        )
    elif result.approved:
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
        try:
            cancelled = alerts.cancel_alert(
                get_alert(alert_id, session=session),
                actor=Actor.cli(),
                now=datetime.now(UTC),
                session=session,
            )
        except MailerError as exc:
            raise fail(str(exc)) from None
    console.print(f"Alert {alert_id} cancelled; {cancelled} unsent delivery(ies) dropped.")


@alert_app.command("status")
def alert_status_command(
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's id.")],
) -> None:
    """Where an alert stands: status, approvals, its versions (languages), and
    queued/sent/failed/cancelled counts."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            status = alert_status(get_alert(alert_id, session=session), session=session)
        except AlertError as exc:
            raise fail(str(exc)) from None
    counts = status["counts"]
    approvers = ", ".join(status["approved_by"]) or "nobody"
    send_at = status["send_at"]
    when = f"; send time {send_at:%Y-%m-%d %H:%M} UTC" if send_at is not None else ""
    languages = ", ".join(["en (original)", *status["translations"]])
    console.print(
        f"{safe(status['key'])}: {safe(status['status'])}; approved by {safe(approvers)}{when}"
        f"\nversions: {languages} (alert show {alert_id})"
        f"\n{counts['queued']} queued, {counts['sending']} sending, {counts['sent']} sent, "
        f"{counts['failed']} failed, {counts['cancelled']} cancelled",
        highlight=False,
    )
