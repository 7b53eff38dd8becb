"""A server that does not advertise 8BITMIME gets 7-bit mail: the 8-bit parts re-encoded
as quoted-printable and the DKIM signature made again, so it still verifies."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest

from jobs.deliver import DeliveryWorker
from mailer.config import Settings
from mailer.outbox.campaigns import get_or_create_campaign, start
from mailer.outbox.ledger import enqueue
from mailer.outbox.status import Priority
from mailer.sending import SMTPPool, send_now
from tests.conftest import Db
from tests.support.dkimkeys import DOMAIN, SELECTOR, make_key
from tests.support.factories import add_readers
from tests.support.smtpserver import SMTPServer

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)

SUBJECT = "Réunion d'urgence : les civils d'El Fasher pris au piège"
BODY = "Les civils sont en danger immédiat à El Fasher.\n\nالمدنيون في خطر — 平民面临危险 🚨"


def settings_for(db: Db, server: SMTPServer, key: Path) -> Settings:
    return db.settings(
        mail_from=f"R2P <news@{DOMAIN}>",
        base_url=f"https://{DOMAIN}",
        smtp_url=server.url,
        dkim_key_file=key,
        dkim_selector=SELECTOR,
        dkim_domain=DOMAIN,
    )


def queue_alert(db: Db) -> None:
    [reader] = add_readers(db, ["lecteur@example.net"])
    now = datetime.now(UTC)
    with db.session() as session:
        campaign, _ = get_or_create_campaign(
            kind="alert",
            key="alert:8bit",
            template="alert",
            subject=SUBJECT,
            context={"body": BODY, "link": ""},
            priority=Priority.ALERT,
            session=session,
        )
        start(campaign, by="admin@example.org", now=now, session=session)
        enqueue(
            campaign,
            [(reader, "fr")],
            deadline_at=now + timedelta(days=1),
            now=now,
            session=session,
        )
        session.commit()


def parts(data: bytes) -> tuple[EmailMessage, str, str]:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return message, text.get_content(), html.get_content()


@pytest.mark.parametrize("eight_bit", [False, True])
def test_the_worker_sends_what_the_server_can_take_and_the_signature_verifies(
    db: Db, smtp_server: SMTPServer, tmp_path: Path, eight_bit: bool
) -> None:
    key, dns = make_key(tmp_path)
    smtp_server.handler.eight_bit_mime = eight_bit
    settings = settings_for(db, smtp_server, key)
    queue_alert(db)
    worker = DeliveryWorker(settings, db.factory, SMTPPool.from_settings(settings))
    assert asyncio.run(worker.run(once=True)).sent == 1
    [received] = smtp_server.received
    assert dkim.verify(received.data, dnsfunc=dns)
    message, text, html = parts(received.data)
    assert str(message["Subject"]) == f"Urgent : {SUBJECT}"  # the French reader's prefix
    assert "المدنيون في خطر — 平民面临危险 🚨" in text and "平民面临危险" in html
    encodings = {str(p["Content-Transfer-Encoding"]) for p in message.iter_parts()}
    if eight_bit:
        assert "BODY=8BITMIME" in received.mail_options
        assert encodings == {"8bit"} and not received.data.isascii()
    else:
        assert "BODY=8BITMIME" not in received.mail_options
        assert encodings == {"quoted-printable"} and received.data.isascii()
        body = received.data.split(b"\r\n\r\n", 1)[1]
        assert max(len(line) for line in body.split(b"\r\n")) <= 76


def test_a_test_sent_straight_is_signed_and_7bit_for_such_a_server(
    db: Db, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    key, dns = make_key(tmp_path)
    smtp_server.handler.eight_bit_mime = False
    settings = settings_for(db, smtp_server, key)
    message = (
        f"From: news@{DOMAIN}\r\nTo: editor@example.net\r\nSubject: test\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n" + BODY.replace("\n", "\r\n") + "\r\n"
    ).encode()
    [result] = asyncio.run(send_now(settings, [("editor@example.net", message)]))
    assert result.verdict == "sent"
    [received] = smtp_server.received
    assert received.data.isascii() and dkim.verify(received.data, dnsfunc=dns)
    parsed = email.message_from_bytes(received.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content().replace("\r\n", "\n") == BODY + "\n"
