"""A reader's page with what came back about their mail: why they are suppressed, each
report with its raw text (escaped), and "allow again" for an address wrongly bounced."""

from __future__ import annotations

from datetime import UTC, datetime

from mailer.models import MailReport, Subscriber
from subscribers.reports import take_report
from tests.conftest import Db
from tests.support.bounces import for_delivery
from tests.support.browser import Reader
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import deliveries

LIST = "/admin/subscribers"
DOMAIN = "bounces.example.org"


def _bounce(db: Db, name: str, email: str, **reader: object) -> int:
    [subscriber] = add_readers(db, [email], confirmed_at=datetime.now(UTC), **reader)
    [delivery] = deliveries(db, alert_campaign(db, [subscriber], key=f"alert:{email}"))
    settings = db.settings(bounce_domain=DOMAIN)
    data = for_delivery(
        name,
        settings,
        delivery_id=delivery.id,
        campaign_id=delivery.campaign_id,
        subscriber_id=subscriber,
        recipient=email,
    )
    with db.session() as session:
        take_report(
            data,
            via="inbound",
            envelope_to=[],
            settings=settings,
            now=datetime.now(UTC),
            session=session,
        )
        session.commit()
    return subscriber


def test_a_bounced_reader_shows_why_and_may_be_allowed_again(db: Db, reader: Reader) -> None:
    bob = _bounce(db, "postfix-5.1.1.eml", "bob@example.net")
    page = f"{LIST}/{bob}"
    html = reader.get(page).text
    assert "Their address bounced" in html
    assert "550 5.1.1 &lt;bob@example.net&gt;: Recipient address rejected" in html
    assert "Undelivered Mail Returned to Sender" in html  # the raw report
    assert "Allow again" in html
    # The reports are one section of the page, not also part of its <title>.
    assert "<title>Subscriber · R2P admin</title>" in html
    assert html.count('id="reports-title"') == 1
    assert reader.post(f"{page}/allow", {}, token_from=page).status_code == 303
    with db.session() as session:
        row = session.get_one(Subscriber, bob)
        assert (row.status, row.hard_bounces) == ("active", 0)
    assert "Allowed again" in reader.get(f"{page}?done=allowed").text


def test_a_policy_block_leaves_the_reader_active_and_is_listed(db: Db, reader: Reader) -> None:
    ann = _bounce(db, "postfix-outlook-5.7.1-blocklist.eml", "ann@example.net")
    html = reader.get(f"{LIST}/{ann}").text
    assert "pill-reader-active" in html and "pill-decision-policy" in html
    assert "Their address bounced" not in html and "Allow again" not in html


def test_a_complaint_shows_why_and_only_the_reader_can_come_back(db: Db, reader: Reader) -> None:
    cat = _bounce(db, "yahoo-arf-complaint.eml", "cat@example.net")
    html = reader.get(f"{LIST}/{cat}").text
    assert "They reported our mail as spam" in html
    assert "Allow again" not in html and "only they can come back" in html
    listing = reader.post(LIST, {"status": "complained"}, token_from=LIST).text
    assert "cat@example.net" in listing


def test_the_raw_report_is_escaped(db: Db, reader: Reader) -> None:
    [dan] = add_readers(db, ["dan@example.net"])
    with db.session() as session:
        session.add(
            MailReport(
                via="inbound",
                kind="bounce",
                decision="soft",
                status_code="5.2.2",
                diagnostic='<img src=x onerror="alert(1)">',
                recipient="dan@example.net",
                subscriber_id=dan,
                raw='Subject: hi\n\n<script>alert("raw")</script>',
            )
        )
        session.commit()
    html = reader.get(f"{LIST}/{dan}").text
    assert '<script>alert("raw")' not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;raw&#34;)&lt;/script&gt;" in html
