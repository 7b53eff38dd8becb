"""Senders: deliver prebuilt message bytes. SMTP (a pool of reused aiosmtplib connections),
Maildir (development: no SMTP configured) and memory (tests), chosen by settings."""

from __future__ import annotations

from mailer.config import Settings
from mailer.sending.base import Sender, SendResult
from mailer.sending.maildir import MaildirSender
from mailer.sending.smtp import SMTPPool

__all__ = ["MaildirSender", "SMTPPool", "SendResult", "Sender", "make_sender"]


def make_sender(settings: Settings) -> Sender:
    """SMTP when R2P_SMTP_URL is set, otherwise the Maildir under R2P_VAR_DIR/mail."""
    if settings.smtp_url is None:
        return MaildirSender(settings.mail_dir)
    return SMTPPool.from_settings(settings)
