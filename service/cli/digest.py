"""`r2p-mailer digest ...`: preview the next weekly issue, or create and queue it now."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.db import run_with_retry, session_scope
from mailer.digest import Issued, plan_digest, preview_digest
from mailer.models import Subscriber
from mailer.terminal import safe
from service.cli.context import MailerTyper, cli_context, console, fail
from staff.actions import digest
from staff.actions.actor import Actor

digest_app = MailerTyper(help="Preview or send the weekly digest.")
PERIOD = re.compile(r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$")


@digest_app.command("preview")
def digest_preview(
    out: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Write the HTML part to this file.")
    ] = None,
    subscriber: Annotated[
        str | None,
        typer.Option(metavar="ADDRESS", help="Render as this reader sees it (their topics)."),
    ] = None,
) -> None:
    """Render the next issue without sending it: the text part on screen, HTML to --out."""
    with cli_context() as (settings, _engine, factory), session_scope(factory) as session:
        language, topics, address = "en", [], "reader@example.org"
        include_english = True
        if subscriber is not None:
            reader = session.scalar(select(Subscriber).where(Subscriber.email == subscriber))
            if reader is None:
                raise fail(f"no subscriber {subscriber}")
            language, topics, address = reader.language, list(reader.topics), reader.email
            include_english = reader.include_english
        plan = plan_digest(
            now=datetime.now(UTC), session=session, timezone=settings.digest_timezone
        )
        rendered = preview_digest(
            plan,
            settings=settings,
            session=session,
            language=language,
            topics=topics,
            address=address,
            include_english=include_english,
        )
    if rendered is None:
        console.print(
            f"Nothing to send: no new relevant items since {plan.since:%Y-%m-%d %H:%M} "
            "UTC" + (" for this reader's topics." if subscriber else ".")
        )
        return
    if out is not None:
        out.write_text(rendered.html, encoding="utf-8")
        size = len(rendered.html.encode()) // 1024
        console.print(f"HTML written to {safe(out)} ({size} KB).")
    console.print(f"Subject: {safe(rendered.subject)}\n", highlight=False)
    console.print(safe(rendered.text, lines=True), highlight=False)


@digest_app.command("send")
def digest_send(
    period: Annotated[
        str | None,
        typer.Option(metavar="WEEK", help="ISO week, e.g. 2026-W48 (default: this week)."),
    ] = None,
) -> None:
    """Create, approve and queue this week's issue; running it again does nothing."""
    if period is not None and not PERIOD.match(period):
        raise fail(f"{period!r} is not an ISO week like 2026-W48", code=2)

    actor = Actor.cli()
    with cli_context() as (settings, _engine, factory):

        def send(session: Session) -> Issued:
            return digest.send(
                period, actor=actor, settings=settings, now=datetime.now(UTC), session=session
            )

        issued = run_with_retry(factory, send)
    console.print(safe(issued.message))
