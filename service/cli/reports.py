"""``r2p-mailer reports ...``: campaign reports (staff.reports), the figures the console's
report pages show, as a table or as tsv, json or csv for a spreadsheet or a script."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from mailer.db import session_scope
from mailer.terminal import safe
from service.cli.context import MailerTyper, cli_context, errors, fail
from service.cli.output import Column, FormatOption, print_records
from staff.reports import (
    REPORTED_KINDS,
    SERIES,
    UNSUBSCRIBE_WINDOW,
    campaign_report,
    recent_reports,
    timeline,
)

reports_app = MailerTyper(help="What became of each alert and digest issue once approved.")

REPORT_COLUMNS = (
    Column("campaign_id", "id"),
    Column("kind", "kind"),
    Column("key", "key", in_table=False),
    Column("subject", "subject"),
    Column("status", "status", in_table=False),
    Column("started_at", "began"),
    Column("finished_at", "finished", in_table=False),
    Column("queued", "queued"),
    Column("sent", "sent"),
    Column("delivered", "not bounced", in_table=False),
    Column("retried", "retried"),
    Column("failed", "failed"),
    Column("cancelled", "cancelled", in_table=False),
    Column("waiting", "waiting", in_table=False),
    Column("bounced", "bounced"),
    Column("hard_bounced", "hard", in_table=False),
    Column("complaints", "complaints"),
    Column("unsubscribes", "unsubscribes"),
)
TIMELINE_COLUMNS = (
    Column("start", "from"),
    Column("end", "until", in_table=False),
    *(Column(name, name) for name in SERIES),
)


@reports_app.command("list")
def reports_list(
    kind: Annotated[
        str | None, typer.Option(metavar="KIND", help="Only alerts or digests: alert, digest.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(metavar="N", min=1, help="Only the newest N (default: all).")
    ] = None,
    format: FormatOption = None,
) -> None:
    """Each alert and digest issue that began to send, newest first: messages queued,
    sent, retried (more than one attempt) and failed; bounces and complaints reported;
    readers who unsubscribed within 7 days. The table leaves out the key, status, end,
    mail not bounced, cancelled, still waiting and hard bounces; tsv, json and csv have
    every field."""
    if kind is not None and kind not in REPORTED_KINDS:
        raise fail(f"--kind must be one of {', '.join(REPORTED_KINDS)}")
    kinds = (kind,) if kind else REPORTED_KINDS
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        rows = recent_reports(session=session, limit=limit, kinds=kinds)
    count = print_records(
        (row.record() for row in rows), REPORT_COLUMNS, format=format, title="Campaign reports"
    )
    errors.print(f"{count} campaign(s).", highlight=False)


@reports_app.command("timeline")
def reports_timeline(
    campaign_id: Annotated[
        int, typer.Argument(metavar="CAMPAIGN", help="The campaign's id (reports list).")
    ],
    format: FormatOption = None,
) -> None:
    """One campaign's messages sent and failed, bounces, complaints and unsubscribes per
    hour (six hours once it is two days old), from when it began to send until now or 7
    days later."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        report = campaign_report(campaign_id, session=session)
        if report is None:
            raise fail(f"no alert or digest issue {campaign_id} that began to send")
        line = timeline(report, now=datetime.now(UTC), session=session)
    step = "hour" if line.step.total_seconds() == 3600 else "six hours"
    title = safe(f"{report.name}: per {step}")  # a subject may come from a feed
    print_records(line.records(), TIMELINE_COLUMNS, format=format, title=title)
    days = UNSUBSCRIBE_WINDOW.days
    errors.print(
        f"{report.figures.sent} sent, {report.figures.failed} failed, "
        f"{report.figures.bounced} bounced, {report.figures.complaints} complaint(s), "
        f"{report.figures.unsubscribes} unsubscribed within {days} days.",
        highlight=False,
    )
