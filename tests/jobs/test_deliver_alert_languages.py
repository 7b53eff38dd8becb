"""An alert to readers of mixed languages, through the real SMTP server on loopback: each
reader gets the version in their language (subject, body and the email's fixed texts),
or the original with a translated line saying so; each language is rendered once, not
once per reader. The test mail sends every version."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from jobs.deliver import DeliveryWorker
from mailer.admins import add_admin
from mailer.alert_translations import set_translation
from mailer.alert_versions import Translation
from mailer.alerts import Draft, approve, create_alert
from mailer.models import Campaign
from staff.actions.actor import Actor
from staff.actions.alerts import send_test
from tests.conftest import Db
from tests.support.factories import AMINA, PASSWORD, add_readers
from tests.support.ledger import smtp_sender
from tests.support.smtpserver import SMTPServer

NOW = datetime.now(UTC)
ORIGINAL = Draft("Imminent risk in El Fasher", "Civilians are trapped.", "https://example.org/a")
FRENCH = Translation("fr", "Risque imminent à El Fasher", "Des civils sont pris au piège.")
ARABIC = Translation("ar", "خطر وشيك في الفاشر", "المدنيون محاصرون.")


def translated_alert(db: Db) -> int:
    with db.session() as session:
        add_admin(AMINA, PASSWORD, session=session)
        campaign = create_alert(
            ORIGINAL, by=AMINA, expires_in=timedelta(hours=6), now=NOW, session=session
        )
        for draft in (FRENCH, ARABIC):
            set_translation(campaign, draft, by=AMINA, now=NOW, session=session)
        session.commit()
        return campaign.id


def text_of(server: SMTPServer, address: str) -> tuple[str, str, str]:
    """The subject, plain text and HTML of the one mail ``address`` received."""
    [received] = server.handler.to(address)
    message = received.message
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return str(message["Subject"]), plain.get_content(), html.get_content()


def test_each_reader_gets_the_alert_in_their_language(db: Db, smtp_server: SMTPServer) -> None:
    alert_id = translated_alert(db)
    languages = {
        "en@example.org": "en",
        "fr1@example.org": "fr",
        "fr2@example.org": "fr",
        "ar@example.org": "ar",
        "ru@example.org": "ru",
    }
    for address, language in languages.items():
        add_readers(db, [address], language=language)
    with db.session() as session:
        result = approve(
            session.get_one(Campaign, alert_id),
            by=AMINA,
            settings=db.settings(),
            now=NOW,
            session=session,
        )
        session.commit()
    assert result.queued == 5
    worker = DeliveryWorker(db.settings(), db.factory, smtp_sender(smtp_server.url))
    asyncio.run(worker.run(once=True))
    assert worker.renders == 4  # en, fr, ar, ru: the two French readers share one

    subject, text, _ = text_of(smtp_server, "en@example.org")
    assert subject == "Urgent: Imminent risk in El Fasher"
    assert "Civilians are trapped." in text and "No version" not in text
    for address in ("fr1@example.org", "fr2@example.org"):
        subject, text, html = text_of(smtp_server, address)
        assert subject == "Urgent : Risque imminent à El Fasher"
        assert "Des civils sont pris au piège." in text and "Civilians" not in text
        assert "Se désabonner" in text and "En savoir plus : https://example.org/a" in text
        assert '<html lang="fr" dir="ltr"' in html
    subject, text, html = text_of(smtp_server, "ar@example.org")
    assert subject == "عاجل: خطر وشيك في الفاشر"
    assert "المدنيون محاصرون." in text and '<html lang="ar" dir="rtl"' in html
    subject, text, html = text_of(smtp_server, "ru@example.org")
    assert subject == "Срочно: Imminent risk in El Fasher"
    assert "Версия этого оповещения на вашем языке не подготовлена" in text
    assert "Civilians are trapped." in text and "Отписаться" in text
    assert '<html lang="ru"' in html


def test_the_test_mail_sends_every_version(db: Db, smtp_server: SMTPServer) -> None:
    alert_id = translated_alert(db)
    settings = db.settings(smtp_url=smtp_server.url)
    with db.session() as session:
        results = send_test(
            session.get_one(Campaign, alert_id),
            "editor@example.net",
            actor=Actor.cli(),
            settings=settings,
            now=NOW,
            session=session,
        )
        session.commit()
    assert [r.verdict for r in results] == ["sent", "sent", "sent"]
    subjects = [str(r.message["Subject"]) for r in smtp_server.handler.to("editor@example.net")]
    assert subjects == [
        "[TEST] Urgent: Imminent risk in El Fasher",
        "[TEST] عاجل: خطر وشيك في الفاشر",
        "[TEST] Urgent : Risque imminent à El Fasher",
    ]
