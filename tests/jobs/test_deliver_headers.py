"""What the worker puts on each kind of mail for its reputation: Feedback-ID on bulk mail,
Reply-To and the postal address when set, a From of its own for confirmations."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from html import unescape

import pytest

from mailer.models import Subscriber
from mailer.sending.memory import MemorySender
from subscribers.mails import queue_confirmation
from tests.conftest import Db
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import drain

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)

POSTAL = "R2P news, 1 Rue de l'Exemple, 1202 Genève, Switzerland"


def received(sender: MemorySender) -> dict[str, EmailMessage]:
    found = {}
    for _from, to, raw in sender.sent:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found[to] = message
    return found


def bodies(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_reply_to_postal_address_feedback_id_and_the_transactional_from(db: Db) -> None:
    settings = db.settings(
        mail_from="R2P news <news@r2p.example.org>",
        reply_to="R2P team <team@r2p.example.org>",
        postal_address=POSTAL,
        transactional_from="R2P subscriptions <subscribe@r2p.example.org>",
    )
    [pending] = add_readers(db, ["pending@example.net"], status="pending")
    [active] = add_readers(db, ["active@example.net"])
    campaign = alert_campaign(db, [active])
    with db.session() as session:
        queue_confirmation(
            session.get_one(Subscriber, pending),
            settings=settings,
            now=datetime.now(UTC),
            session=session,
        )
        session.commit()
    sender = MemorySender()
    drain(db, sender, settings)
    mails = received(sender)
    alert, confirm = mails["active@example.net"], mails["pending@example.net"]

    assert alert["Feedback-ID"] == f"{campaign}:alert:r2pmailer"
    assert alert["From"] == "R2P news <news@r2p.example.org>"
    assert confirm["Feedback-ID"] is None  # one reader's own mail is not bulk
    assert confirm["From"] == "R2P subscriptions <subscribe@r2p.example.org>"
    for message in (alert, confirm):
        assert message["Reply-To"] == "R2P team <team@r2p.example.org>"
        text, html = bodies(message)
        assert POSTAL in text and POSTAL in unescape(html)
        assert "Questions: team@r2p.example.org" in text
        assert 'href="mailto:team@r2p.example.org"' in html


def test_without_those_settings_nothing_is_added(db: Db) -> None:
    [active] = add_readers(db, ["active@example.net"])
    alert_campaign(db, [active])
    sender = MemorySender()
    drain(db, sender, db.settings())
    message = received(sender)["active@example.net"]
    assert message["Reply-To"] is None and message["Feedback-ID"] is not None
    text, html = bodies(message)
    assert "Questions" not in text and "Questions" not in html
