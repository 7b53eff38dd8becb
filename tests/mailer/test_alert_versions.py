"""An alert's versions: a translation is checked like the original, each language renders
once with its words or the original and a translated line saying so, the email's fixed
texts follow the reader's language (Arabic right to left), and the version approvals
confirm covers the translations."""

from __future__ import annotations

from email.header import decode_header, make_header

import pytest

from mailer.alert_translations import remove_translation, set_translation
from mailer.alert_versions import Translation, TranslationError, validate_translation
from mailer.alerts import version_of
from mailer.content import render_contents
from mailer.email.render import RenderedEmail
from mailer.models import Campaign
from tests.conftest import Db
from tests.mailer.test_alerts import NOW, new_alert

FRENCH = Translation(
    "fr",
    "Risque imminent d'atrocités à El Fasher",
    "Des civils sont pris au piège.\n\nLe Conseil doit agir.",
)
ARABIC = Translation("ar", "خطر وشيك في الفاشر", "المدنيون محاصرون.", link_text="التفاصيل")
NOTE = {
    "en": "No version of this alert was written in your language",
    "ru": "Версия этого оповещения на вашем языке не подготовлена",
    "es": "No se redactó ninguna versión de esta alerta en su idioma",
    "zh": "此警报没有您所用语言的版本",
}


def translate(db: Db, alert_id: int, *drafts: Translation) -> None:
    with db.session() as session:
        for draft in drafts:
            set_translation(
                session.get_one(Campaign, alert_id), draft, by="a@r2p.org", now=NOW, session=session
            )
        session.commit()


def rendered(db: Db, alert_id: int, *languages: str) -> dict[str, RenderedEmail]:
    with db.session() as session:
        return render_contents(
            session.get_one(Campaign, alert_id), languages, settings=db.settings(), session=session
        )


@pytest.mark.parametrize(
    ("draft", "message"),
    [
        (Translation("en", "S", "B"), "English is the original"),
        (Translation("de", "S", "B"), "one of ar, zh, fr, ru, es"),
        (Translation("fr", "Ligne\r\nBcc: x@example.org", "B"), "single line"),
        (Translation("fr", " ", "B"), "the subject is empty"),
        (Translation("fr", "S", " \n "), "the body is empty"),
        (Translation("fr", "S", "B" * 5001), "keep it under 5000"),
        (Translation("fr", "S", "B", "x" * 61), "keep it under 60"),
    ],
)
def test_a_bad_translation_is_refused_with_the_reason(draft: Translation, message: str) -> None:
    with pytest.raises(TranslationError, match=message):
        validate_translation(draft)


def test_a_translation_is_cleaned_like_the_original() -> None:
    clean = validate_translation(Translation(" FR ", "  Alerte\u0007  urgente ", "Un\r\nDeux\r"))
    assert clean == Translation("fr", "Alerte urgente", "Un\nDeux")


def test_each_language_gets_its_version_or_the_original_with_a_line_saying_so(db: Db) -> None:
    alert_id = new_alert(db)
    translate(db, alert_id, FRENCH, ARABIC)
    mails = rendered(db, alert_id, "en", "fr", "ar", "ru", "es", "zh")

    assert mails["en"].subject == "Urgent: Imminent risk of mass atrocities in El Fasher"
    assert (
        NOTE["en"] not in mails["en"].text and "Read more: https://example.org" in mails["en"].text
    )

    french = mails["fr"]
    assert french.subject == "Urgent : Risque imminent d'atrocités à El Fasher"
    assert "ALERTE URGENTE : Risque imminent" in french.text
    assert "Le Conseil doit agir." in french.text and "Civilians" not in french.text
    assert "En savoir plus : https://example.org" in french.text
    assert "Se désabonner" in french.text and '<html lang="fr" dir="ltr"' in french.html
    assert "Alerte urgente" in french.html and "Risque imminent d'atrocités" in french.html

    arabic = mails["ar"]
    assert arabic.subject == "عاجل: خطر وشيك في الفاشر"
    assert '<html lang="ar" dir="rtl"' in arabic.html and 'dir="rtl"' in arabic.html
    assert "التفاصيل</a>" in arabic.html and "إلغاء الاشتراك" in arabic.html

    for language in ("ru", "es", "zh"):
        fallback = mails[language]
        assert NOTE[language] in fallback.text and NOTE[language] in fallback.html
        assert "Imminent risk of mass atrocities in El Fasher" in fallback.subject
        assert "The Council must act." in fallback.text
        assert f'<html lang="{language}"' in fallback.html
        assert '<div lang="en" dir="ltr">' in fallback.html  # the original, marked as English
    assert mails["ru"].subject.startswith("Срочно: ") and mails["zh"].subject.startswith("紧急：")


def test_reader_text_in_a_translation_is_escaped(db: Db) -> None:
    alert_id = new_alert(db)
    translate(db, alert_id, Translation("fr", "<b>Sujet</b>", "<script>x()</script>", "<i>"))
    html = rendered(db, alert_id, "fr")["fr"].html
    assert "<script>" not in html and "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "<b>Sujet" not in html and "<i>" not in html


def test_the_version_approvals_confirm_covers_the_translations(db: Db) -> None:
    alert_id = new_alert(db)
    with db.session() as session:
        before = version_of(session.get_one(Campaign, alert_id))
    translate(db, alert_id, FRENCH)
    with db.session() as session:
        campaign = session.get_one(Campaign, alert_id)
        translated = version_of(campaign)
        remove_translation(campaign, "fr", now=NOW, session=session)
        session.commit()
        assert version_of(campaign) == before != translated


def test_a_subject_header_in_arabic_round_trips(db: Db) -> None:
    alert_id = new_alert(db)
    translate(db, alert_id, ARABIC)
    subject = rendered(db, alert_id, "ar")["ar"].subject
    assert str(make_header(decode_header(subject))) == "عاجل: خطر وشيك في الفاشر"
