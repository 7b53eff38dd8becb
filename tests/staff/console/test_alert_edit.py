"""Editing a draft alert in the console: the form filled with the alert, one audited
change with before and after, approvals cleared by a content change, a send time typed in
the console's time zone, and no edits once approved."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mailer.models import AuditEntry
from tests.conftest import Db
from tests.support.browser import Site
from tests.support.console import (
    BRUNO,
    DRAFT,
    admin_site,
    alert_id_of,
    campaign,
    compose,
    log_in,
    press,
)
from tests.support.factories import AMINA, add_readers

FIXED = "Imminent risk of mass atrocities in El-Fasher"


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db, AMINA, BRUNO, alert_approvers=2, console_timezone="Europe/Zurich") as site:
        yield site


def edits(site: Site) -> list[AuditEntry]:
    with site.factory() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "alert.edit")))


def test_an_edit_after_an_approval_is_audited_and_clears_it(site: Site, db: Db) -> None:
    add_readers(db, ["a@example.org"])
    amina = log_in(site)
    alert_id = alert_id_of(compose(amina))
    press(amina, alert_id, "approve")
    form = amina.get(f"/admin/alerts/{alert_id}/edit").text
    assert f'value="{DRAFT["subject"]}"' in form
    assert "Approved so far by amina@r2p.example" in form

    page = f"/admin/alerts/{alert_id}/edit"
    saved = amina.post(page, {**DRAFT, "subject": FIXED}, token_from=page)
    assert saved.headers["location"] == f"/admin/alerts/{alert_id}?done=cleared"
    assert campaign(site, alert_id).subject == FIXED
    [entry] = edits(site)
    assert (entry.actor, entry.target) == (AMINA, campaign(site, alert_id).key)
    assert entry.detail["before"] == {"subject": DRAFT["subject"]}
    assert entry.detail["after"] == {"subject": FIXED}
    assert entry.detail["approvals_cleared"] == [AMINA]
    shown = amina.get(saved.headers["location"]).text
    assert "0 of 2 approvals" in shown and "they are cleared" in shown

    unchanged = amina.post(page, {**DRAFT, "subject": FIXED}, token_from=page)
    assert unchanged.headers["location"] == f"/admin/alerts/{alert_id}?done=unchanged"
    assert len(edits(site)) == 1


def test_a_send_time_is_typed_in_the_console_time_zone_and_stored_in_utc(
    site: Site, db: Db
) -> None:
    amina = log_in(site)
    alert_id = alert_id_of(compose(amina))
    at = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    local = at.astimezone(ZoneInfo("Europe/Zurich"))
    page = f"/admin/alerts/{alert_id}/edit"
    saved = amina.post(page, {**DRAFT, "send_at": f"{local:%Y-%m-%dT%H:%M}"}, token_from=page)
    assert saved.headers["location"] == f"/admin/alerts/{alert_id}?done=edited"
    assert campaign(site, alert_id).send_at == at
    shown = amina.get(f"/admin/alerts/{alert_id}").text
    assert f"{local:%H:%M} Europe/Zurich ({at:%H:%M} UTC)" in shown
    assert f'value="{local:%Y-%m-%dT%H:%M}"' in amina.get(page).text

    past = amina.post(page, {**DRAFT, "send_at": "2020-01-01T08:00"}, token_from=page)
    assert past.status_code == 400 and "the send time is in the past" in past.text
    assert campaign(site, alert_id).send_at == at


def test_an_approved_alert_cannot_be_edited(db: Db) -> None:
    add_readers(db, ["a@example.org"])
    with admin_site(db) as site:
        amina = log_in(site)
        alert_id = alert_id_of(compose(amina))
        press(amina, alert_id, "approve")
        page = f"/admin/alerts/{alert_id}/edit"
        assert amina.get(page).status_code == 409
        refused = amina.post(
            page, {**DRAFT, "subject": FIXED}, token_from=f"/admin/alerts/{alert_id}"
        )
        assert refused.status_code == 400
        assert "only a draft awaiting approval can change" in refused.text
        assert campaign(site, alert_id).subject == DRAFT["subject"]


def test_an_edit_with_a_stale_form_changes_nothing(site: Site) -> None:
    amina = log_in(site)
    alert_id = alert_id_of(compose(amina))
    stale = amina.post(
        f"/admin/alerts/{alert_id}/edit", {**DRAFT, "subject": FIXED, "csrf_token": "x"}
    )
    assert stale.status_code == 400
    assert campaign(site, alert_id).subject == DRAFT["subject"] and edits(site) == []
