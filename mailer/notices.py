"""Plain-text emails to the admins (a digest to review or held, a campaign that paused
itself on policy refusals): straight through the configured transport, no ledger row (admins are not
readers). A refused or failed notice is logged, never raised."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.bounces.record import pause_notice, policy_refusals
from mailer.config import Settings
from mailer.db import session_scope
from mailer.email.compose import date_header
from mailer.email.headers import new_message
from mailer.errors import MailerError
from mailer.models import Admin, Campaign
from mailer.sending import send_now

log = logging.getLogger(__name__)


def admin_addresses(*, session: Session) -> list[str]:
    """Every active admin's address."""
    return list(session.scalars(select(Admin.email).where(Admin.active)))


def notice(settings: Settings, to: str, subject: str, text: str) -> bytes:
    """A plain-text email to one admin."""
    message = new_message(
        subject=subject, mail_from=settings.mail_from, list_id=settings.list_id_header, bulk=False
    )
    message["To"] = to
    message["Date"] = date_header(datetime.now().astimezone())
    message["Message-ID"] = f"<notice.{secrets.token_hex(8)}@{settings.mail_domain}>"
    message.set_content(text)
    return message.as_bytes()


async def email_admins(settings: Settings, addresses: list[str], subject: str, text: str) -> None:
    """Send ``subject`` and ``text`` to each address; failures are logged."""
    messages = [(to, notice(settings, to, subject, text)) for to in addresses]
    if not messages:
        return
    try:
        results = await send_now(settings, messages)
    except (OSError, MailerError) as exc:
        log.warning("admin notice %r could not be sent: %s", subject, exc)
        return
    for (to, _message), result in zip(messages, results, strict=True):
        if result.verdict != "sent":
            log.warning("admin notice to %s: %s %s", to, result.code, result.reply)


async def campaigns_paused(
    settings: Settings, factory: sessionmaker[Session], paused: list[int]
) -> None:
    """Tell the admins that these campaigns paused themselves on policy refusals; never
    raises (a notice that cannot be sent is logged)."""
    try:
        addresses, notes = await asyncio.to_thread(_paused_notes, settings, factory, paused)
        for subject, text in notes:
            log.warning("campaign paused itself on policy refusals: %s", subject)
            await email_admins(settings, addresses, subject, text)
    except Exception:
        log.exception("cannot tell the admins about paused campaigns %s", paused)


def _paused_notes(
    settings: Settings, factory: sessionmaker[Session], paused: list[int]
) -> tuple[list[str], list[tuple[str, str]]]:
    with session_scope(factory) as session:
        notes = []
        for campaign_id in paused:
            campaign = session.get(Campaign, campaign_id)
            if campaign is not None:
                refusals = policy_refusals(campaign_id, session=session)
                notes.append(pause_notice(settings, campaign, refusals))
        return admin_addresses(session=session), notes
