"""Senders: deliver prebuilt message bytes. SMTP (a pool of reused aiosmtplib connections),
Maildir (development: no SMTP configured) and memory (tests), chosen by settings."""

from __future__ import annotations

from collections.abc import Iterable

from mailer.config import Settings
from mailer.email.dkim import DkimSigner
from mailer.sending.base import Sender, SendResult
from mailer.sending.maildir import MaildirSender
from mailer.sending.smtp import SMTPPool

__all__ = ["MaildirSender", "SMTPPool", "SendResult", "Sender", "make_sender", "send_now"]


def make_sender(settings: Settings) -> Sender:
    """SMTP when R2P_SMTP_URL is set, otherwise the Maildir under R2P_VAR_DIR/mail."""
    if settings.smtp_url is None:
        return MaildirSender(settings.mail_dir)
    return SMTPPool.from_settings(settings)


async def send_now(settings: Settings, messages: Iterable[tuple[str, bytes]]) -> list[SendResult]:
    """Prebuilt messages, each to its address, straight through the configured transport
    (no ledger row: a test to oneself, a notice to staff), DKIM-signed like every other
    mail, in order on one connection. A transport that cannot be used at all raises
    (MailerError, OSError)."""
    signer = DkimSigner.from_settings(settings)
    sender = make_sender(settings)
    try:
        return [
            await sender.send(
                settings.envelope_from, to, data if signer is None else signer.sign(data)
            )
            for to, data in messages
        ]
    finally:
        await sender.aclose()
