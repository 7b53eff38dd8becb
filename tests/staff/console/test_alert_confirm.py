"""Approving through the confirmation step: the page states the audience as sending
counts it and the subject; nothing is approved without its explicit, CSRF-protected
confirm; an alert changed after the page was read is not approved; an alert with a send
time waits for it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mailer.alerts import send_due
from tests.conftest import Db
from tests.support.browser import Site
from tests.support.console import (
    BRUNO,
    DRAFT,
    VERSION_INPUT,
    admin_site,
    alert_id_of,
    audit_actions,
    campaign,
    compose,
    confirm,
    log_in,
)
from tests.support.factories import AMINA, add_readers
from tests.support.ledger import deliveries


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db, AMINA, BRUNO) as site:
        yield site


def test_the_confirmation_states_the_audience_and_nothing_goes_without_it(
    site: Site, db: Db
) -> None:
    add_readers(db, [f"r{n}@example.org" for n in range(3)])
    add_readers(db, ["digest-only@example.org"], wants_alerts=False)
    reader = log_in(site)
    alert_id = alert_id_of(compose(reader))
    step = f"/admin/alerts/{alert_id}/approve"
    page = reader.get(step).text
    assert "Send to 3 readers now?" in page
    assert f"Urgent: {DRAFT['subject']}" in page
    assert "Yes, send to 3 readers now" in page

    # The old one-click form (no confirm, no version) approves nothing.
    click = reader.post(step, {}, token_from=f"/admin/alerts/{alert_id}")
    assert click.status_code == 400 and "confirm on this page first" in click.text
    stale = reader.post(step, {"confirm": "yes", "version": "x", "csrf_token": "stale"})
    assert stale.status_code == 400
    assert deliveries(db, alert_id) == [] and campaign(site, alert_id).status == "draft"

    done = confirm(reader, alert_id)
    assert done.headers["location"] == f"/admin/alerts/{alert_id}?done=approved"
    assert len(deliveries(db, alert_id)) == 3


def test_an_alert_edited_after_the_page_was_read_is_not_approved(site: Site, db: Db) -> None:
    add_readers(db, ["a@example.org"])
    amina, bruno = log_in(site), log_in(site, BRUNO)
    alert_id = alert_id_of(compose(amina))
    step = f"/admin/alerts/{alert_id}/approve"
    shown = bruno.get(step).text
    version = VERSION_INPUT.search(shown)
    assert version
    edit = f"/admin/alerts/{alert_id}/edit"
    amina.post(edit, {**DRAFT, "body": "Changed meanwhile."}, token_from=edit)
    late = bruno.post(
        step,
        {"confirm": "yes", "version": version.group(1), "csrf_token": bruno.form_token(step)},
    )
    assert late.status_code == 409 and "changed after you opened the confirmation" in late.text
    assert deliveries(db, alert_id) == []


def test_an_alert_with_a_send_time_waits_for_it(site: Site, db: Db) -> None:
    add_readers(db, ["a@example.org", "b@example.org"])
    reader = log_in(site)
    at = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    alert_id = alert_id_of(compose(reader, send_at=f"{at:%Y-%m-%dT%H:%M}"))
    page = reader.get(f"/admin/alerts/{alert_id}/approve").text
    assert f"Send to 2 readers at {at.day} {at:%b %Y, %H:%M} UTC?" in page
    done = confirm(reader, alert_id)
    assert done.headers["location"] == f"/admin/alerts/{alert_id}?done=scheduled"
    assert campaign(site, alert_id).status == "scheduled" and deliveries(db, alert_id) == []
    assert "it goes out" in reader.get(f"/admin/alerts/{alert_id}").text
    with db.session() as session:
        send_due(now=at, session=session)
        session.commit()
    assert len(deliveries(db, alert_id)) == 2
    assert (AMINA, "alert.approve", campaign(site, alert_id).key) in audit_actions(site)
