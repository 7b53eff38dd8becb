"""``r2p-mailer bounces fetch``: read the bounce mailbox (R2P_BOUNCE_MAILBOX_URL) once,
as the scheduler does every R2P_BOUNCE_MAILBOX_EVERY, with a line per message."""

from __future__ import annotations

import asyncio

from jobs.mailbox import fetch_mailbox
from mailer.errors import MailerError
from mailer.notices import campaigns_paused
from service.cli.context import MailerTyper, cli_context, errors, fail
from subscribers.reports import Taken

bounces_app = MailerTyper(help="The bounce mailbox read over IMAP or POP3.")


@bounces_app.command("fetch")
def bounces_fetch() -> None:
    """Read the bounce mailbox once (IMAP or POP3, R2P_BOUNCE_MAILBOX_URL): each message
    is recorded as a bounce, complaint, auto-reply or unreadable report, then deleted
    (IMAP with R2P_BOUNCE_MAILBOX_DONE=seen: marked seen). A message read before (the
    last pass stopped between recording and deleting it) is counted once; one over
    R2P_INBOUND_MAX_BYTES stays in the mailbox (see docs/bounces.md)."""

    def progress(number: int, total: int, taken: Taken | None) -> None:
        if taken is None:
            what = "over the size limit, left in the mailbox"
        else:
            decisions = ", ".join(taken.decisions) or "already recorded"
            what = f"{taken.report.kind}: {decisions}"
        errors.print(f"[{number}/{total}] {what}", highlight=False, markup=False)

    with cli_context() as (settings, _engine, factory):
        try:
            fetched = fetch_mailbox(settings, factory, progress=progress)
        except MailerError as exc:
            raise fail(str(exc)) from None
        if fetched.paused:
            asyncio.run(campaigns_paused(settings, factory, fetched.paused))
    errors.print(f"{fetched.summary()}.", highlight=False, markup=False)
