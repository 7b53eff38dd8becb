"""Translating an alert in the console: a form per language on the alert page (right to
left for Arabic), saved and removed through the audited action, approvals cleared, each
version previewed, and every version shown on the review and confirmation screens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from mailer.models import AuditEntry
from tests.conftest import Db
from tests.support.browser import Site
from tests.support.console import BRUNO, admin_site, alert_id_of, compose, log_in, press
from tests.support.factories import AMINA, add_readers

ARABIC = {"subject": "خطر وشيك في الفاشر", "body": "المدنيون محاصرون.\r\n\r\nعلى المجلس أن يتحرك."}


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db, AMINA, BRUNO, alert_approvers=2) as site:
        yield site


def test_a_translation_is_written_previewed_and_shown_to_approvers(site: Site, db: Db) -> None:
    add_readers(db, ["a@example.org", "b@example.org"], language="ar")
    add_readers(db, ["c@example.org"], language="ru")
    amina = log_in(site)
    alert_id = alert_id_of(compose(amina))
    page = f"/admin/alerts/{alert_id}"
    shown = amina.get(page).text
    assert 'id="body-ar" name="body" rows="7" lang="ar" dir="rtl"' in shown
    assert 'id="body-fr" name="body" rows="7" lang="fr" dir="ltr"' in shown
    assert "Arabic (العربية)" in shown and "not translated, gets the original" in shown

    press(amina, alert_id, "approve")
    saved = amina.post(f"{page}/translations/ar", ARABIC, token_from=page)
    assert saved.headers["location"] == f"{page}?done=translated-cleared"
    assert "the alert must be approved again" in amina.get(saved.headers["location"]).text
    with site.factory() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "alert.translate"))
        assert (entry.actor, entry.detail["via"], entry.detail["language"]) == (AMINA, "web", "ar")
        assert entry.detail["approvals_cleared"] == [AMINA]

    edit_form = amina.get(f"{page}/edit").text
    assert "This alert has translations (Arabic)" in edit_form

    preview = amina.get(f"{page}/preview?lang=ar").text
    assert '<html lang="ar" dir="rtl"' in preview and "خطر وشيك في الفاشر" in preview
    russian = amina.get(f"{page}/preview?lang=ru").text
    assert "Версия этого оповещения на вашем языке не подготовлена" in russian

    bruno = log_in(site, BRUNO)
    press(bruno, alert_id, "approve")
    for screen in (f"{page}/review", f"{page}/approve"):
        text = amina.get(screen).text
        assert "Every version you approve" in text
        assert '<div class="version-words" lang="ar" dir="rtl">' in text
        assert "المدنيون محاصرون." in text and "على المجلس أن يتحرك." in text
        assert "2 readers" in text  # the Arabic readers
        assert "No translation: these readers get the original" in text  # Russian
    history = amina.get(f"{page}/review").text
    assert "Added the Arabic translation" in history
    assert '<dd dir="rtl"><ul class="diff"' in history  # its lines read right to left


def test_a_refused_translation_keeps_what_was_typed(site: Site) -> None:
    amina = log_in(site)
    alert_id = alert_id_of(compose(amina))
    page = f"/admin/alerts/{alert_id}"
    refused = amina.post(f"{page}/translations/ar", {**ARABIC, "body": " "}, token_from=page)
    assert refused.status_code == 400 and "the body is empty" in refused.text
    assert f'value="{ARABIC["subject"]}"' in refused.text
    assert '<details class="translation" open id="translation-ar">' in refused.text

    amina.post(f"{page}/translations/ar", ARABIC, token_from=page)
    removed = amina.post(f"{page}/translations/ar/remove", {}, token_from=page)
    assert removed.headers["location"] == f"{page}?done=untranslated"
    stale = amina.post(f"{page}/translations/ar", {**ARABIC, "csrf_token": "x"})
    assert stale.status_code == 400
    with site.factory() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions.count("alert.translate") == 1
    assert actions.count("alert.translation.remove") == 1


def test_an_approved_alert_cannot_be_translated(db: Db) -> None:
    add_readers(db, ["a@example.org"])
    with admin_site(db) as site:
        amina = log_in(site)
        alert_id = alert_id_of(compose(amina))
        press(amina, alert_id, "approve")
        page = f"/admin/alerts/{alert_id}"
        assert 'id="body-ar"' not in amina.get(page).text
        refused = amina.post(f"{page}/translations/ar", ARABIC, token_from=page)
        assert refused.status_code == 409 and "only a draft awaiting approval" in refused.text
