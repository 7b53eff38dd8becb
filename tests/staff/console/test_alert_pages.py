"""Alerts in the admin console: compose (or start from an item), preview, test, approve
(one or two admins), cancel, and every bad input refused with its reason."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from mailer.models import Campaign
from mailer.outbox.ledger import claim
from subscribers.choices import vocabulary
from tests.conftest import Db
from tests.support.browser import Site, parse
from tests.support.console import (
    BRUNO,
    DRAFT,
    admin_site,
    alert_id_of,
    audit_actions,
    campaign,
    compose,
    log_in,
    press,
)
from tests.support.factories import AMINA, add_item, add_readers, add_source, stored_alert
from tests.support.ledger import deliveries
from tests.support.smtpserver import SMTPServer


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db, AMINA, BRUNO) as site:
        yield site


def alert_count(site: Site) -> int:
    with site.factory() as session:
        return int(session.scalar(select(func.count()).where(Campaign.kind == "alert")) or 0)


def test_composing_an_alert_stores_a_draft_and_audits_it(site: Site) -> None:
    reader = log_in(site)
    response = compose(reader)
    assert response.status_code == 303
    alert_id = alert_id_of(response)
    stored = campaign(site, alert_id)
    assert (stored.kind, stored.status, stored.subject) == ("alert", "draft", DRAFT["subject"])
    # The browser's CRLF line breaks are stored as \n, so paragraphs split.
    assert stored.context["body"] == (
        "Civilians are trapped in the city.\n\nThe Security Council must act now."
    )
    assert stored.context["audience"] == "all" and stored.created_by == AMINA
    assert stored.expires_at is not None
    lifetime = stored.expires_at - stored.created_at
    assert timedelta(hours=11, minutes=59) < lifetime <= timedelta(hours=12)
    assert (AMINA, "alert.create", stored.key) in audit_actions(site)

    page = reader.get(response.headers["location"])
    assert "Draft saved. Check the preview" in page.text
    assert "Not approved yet. Approving sends it at once." in page.text
    assert "What is not sent by then is cancelled." in page.text
    assert "(in 11 h 59 min)" in page.text or "(in 12 h)" in page.text
    assert 'http-equiv="refresh"' not in page.text


def test_the_compose_form_offers_every_topic_and_the_default_expiry(site: Site) -> None:
    page = log_in(site).get("/admin/alerts/new").text
    known = vocabulary()
    for topic in (*known.themes, *known.countries):
        assert f'value="{topic.tag}"' in page
    assert '<option value="43200" selected>12 h</option>' in page
    assert 'name="audience" value="topics"' in page


def test_an_alert_can_start_from_a_stored_item(site: Site, db: Db) -> None:
    item = add_item(db, add_source(db), "Atrocity Alert: <El Fasher> under siege")
    reader = log_in(site)
    page = reader.get(f"/admin/alerts/new?item={item}").text
    assert f'value="{escape("Atrocity Alert: <El Fasher> under siege")}"' in page
    assert f'name="item_id" value="{item}"' in page
    assert 'id="topic-sudan" name="topics" value="sudan" checked' in page
    response = compose(reader, item_id=str(item), subject="Siege of El Fasher")
    stored = campaign(site, alert_id_of(response))
    assert stored.context["item_id"] == item


@pytest.mark.parametrize("item", ["999", "99999999999999999999999", "-1"])
def test_an_unknown_item_is_a_404(site: Site, item: str) -> None:
    reader = log_in(site)
    assert reader.get(f"/admin/alerts/new?item={item}").status_code == 404
    response = compose(reader, item_id=item)
    assert response.status_code == 400 and f"no item {item}" in response.text
    assert alert_count(site) == 0


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"subject": "Line one\r\nBcc: victim@example.org"}, "the subject must be a single line"),
        ({"subject": "x" * 1000}, "the subject is 1000 characters; keep it under 200"),
        ({"subject": "   "}, "the subject is empty"),
        ({"body": " \r\n \r\n"}, "the body is empty"),
        ({"link": "javascript:alert(1)"}, "the link must be an http:// or https:// address"),
        ({"audience": "topics"}, "choose at least one topic"),
        ({"audience": "topics", "topics": ["atlantis"]}, "Unknown topic: atlantis"),
        ({"audience": "everyone"}, "the audience must be one of all, topics"),
        ({"expires": "31536000"}, "an alert may wait at most 7 days before it expires"),
        ({"expires": "soon"}, "choose when the alert expires from the list"),
    ],
)
def test_a_bad_alert_is_refused_with_its_reason_and_nothing_is_stored(
    site: Site, fields: dict[str, object], reason: str
) -> None:
    reader = log_in(site)
    response = compose(reader, **fields)
    assert response.status_code == 400
    assert str(escape(f"The alert was not saved: {reason}")) in response.text
    assert alert_count(site) == 0
    assert 'name="body"' in response.text  # the form comes back with what was typed


def test_a_draft_without_its_csrf_token_is_refused(site: Site) -> None:
    reader = log_in(site)
    response = reader.http.post("/admin/alerts", data=DRAFT)
    assert response.status_code == 400
    assert "This form was open too long" in response.text
    assert alert_count(site) == 0


def test_the_preview_is_the_readers_email_in_a_sandboxed_frame(site: Site) -> None:
    reader = log_in(site)
    hostile = "<script>alert(1)</script> & <b>bold</b>"
    alert_id = alert_id_of(compose(reader, subject=hostile))
    page = reader.get(f"/admin/alerts/{alert_id}")
    assert hostile not in page.text and str(escape(hostile)) in page.text
    assert f'<iframe class="email-frame" src="/admin/alerts/{alert_id}/preview" sandbox' in (
        page.text
    )
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    preview = reader.get(f"/admin/alerts/{alert_id}/preview")
    assert preview.status_code == 200
    csp = preview.headers["content-security-policy"]
    assert "sandbox" in csp and "frame-ancestors 'self'" in csp and "script-src" not in csp
    assert "default-src 'none'" in csp
    assert preview.headers["cache-control"] == "no-store"
    assert hostile not in preview.text and str(escape(hostile)) in preview.text
    assert "Civilians are trapped in the city." in preview.text
    assert "The Security Council must act now." in preview.text
    assert "https://example.org/el-fasher" in preview.text


def test_a_test_goes_to_the_admin_alone_marked_as_a_test(site: Site, db: Db) -> None:
    add_readers(db, ["reader@example.org"])
    reader = log_in(site)
    alert_id = alert_id_of(compose(reader))
    response = press(reader, alert_id, "test")
    assert response.headers["location"] == f"/admin/alerts/{alert_id}?done=tested"
    box = mailbox.Maildir(site.settings.mail_dir, create=False)
    [raw] = [box.get_bytes(key) for key in box.iterkeys()]
    message = parse(raw)
    assert message["To"] == AMINA
    assert message["Subject"] == f"[TEST] Urgent: {DRAFT['subject']}"
    assert deliveries(db) == []
    assert campaign(site, alert_id).status == "draft"
    assert audit_actions(site)[-1][:2] == (AMINA, "alert.test")
    assert "A test is on its way to you." in reader.get(response.headers["location"]).text


def test_a_test_the_mail_server_refuses_is_reported(db: Db, smtp_server: SMTPServer) -> None:
    smtp_server.handler.rcpt_rule = lambda address, attempt: "550 5.1.1 no such mailbox"
    with admin_site(db, AMINA, smtp_url=smtp_server.url) as site:
        reader = log_in(site)
        alert_id = alert_id_of(compose(reader))
        response = press(reader, alert_id, "test")
    assert response.status_code == 502
    assert "The mail server did not accept the test: 550" in response.text


def test_approving_queues_every_alert_reader_at_once_and_wakes_the_worker(
    site: Site, db: Db
) -> None:
    wanted = add_readers(db, ["a@example.org", "b@example.org"])
    add_readers(db, ["digest-only@example.org"], wants_alerts=False)
    add_readers(db, ["pending@example.org"], status="pending")
    queued_at_wake: list[int] = []

    def wake() -> None:  # the worker must find the rows: approval is committed first
        queued_at_wake.append(len(deliveries(db)))

    site.server.app.state.wake_worker = wake
    reader = log_in(site)
    alert_id = alert_id_of(compose(reader))
    page = reader.get(f"/admin/alerts/{alert_id}").text
    assert "2 readers would get it now." in page
    response = press(reader, alert_id, "approve")
    assert response.headers["location"] == f"/admin/alerts/{alert_id}?done=approved"
    assert sorted(d.subscriber_id for d in deliveries(db, alert_id)) == wanted
    assert campaign(site, alert_id).status == "sending"
    assert queued_at_wake == [2]
    assert audit_actions(site)[-1] == (AMINA, "alert.approve", campaign(site, alert_id).key)
    page = reader.get(response.headers["location"]).text
    assert "Approved: the alert is going out now." in page
    assert '<meta http-equiv="refresh" content="3">' in page
    assert "Approved by amina@r2p.example." in page


def test_an_alert_for_some_topics_reaches_only_their_readers(site: Site, db: Db) -> None:
    wanted = add_readers(db, ["sudan@example.org"], topics=["sudan"])
    wanted += add_readers(db, ["everything@example.org"], topics=[])
    add_readers(db, ["myanmar@example.org"], topics=["myanmar"])
    reader = log_in(site)
    alert_id = alert_id_of(compose(reader, audience="topics", topics=["sudan", "genocide"]))
    assert "Readers of Genocide, Sudan" in reader.get(f"/admin/alerts/{alert_id}").text
    press(reader, alert_id, "approve")
    assert sorted(d.subscriber_id for d in deliveries(db, alert_id)) == sorted(wanted)


def test_approving_an_alert_twice_is_refused(site: Site, db: Db) -> None:
    add_readers(db, ["a@example.org"])
    reader = log_in(site)
    alert_id = alert_id_of(compose(reader))
    press(reader, alert_id, "approve")
    again = press(log_in(site, BRUNO), alert_id, "approve")
    assert again.status_code == 409
    assert "is sending, not awaiting approval" in again.text
    assert len(deliveries(db, alert_id)) == 1


def test_two_admins_must_approve_under_the_two_person_rule(db: Db) -> None:
    add_readers(db, ["a@example.org", "b@example.org"])
    with admin_site(db, AMINA, BRUNO, alert_approvers=2) as site:
        amina = log_in(site)
        alert_id = alert_id_of(compose(amina))
        assert (
            "0 of 2 approvals; 2 admins must approve."
            in amina.get(f"/admin/alerts/{alert_id}").text
        )
        first = press(amina, alert_id, "approve")
        assert first.headers["location"] == f"/admin/alerts/{alert_id}?done=recorded"
        page = amina.get(first.headers["location"]).text
        assert "1 of 2 approvals; another admin must approve." in page
        assert ">Approve…</a>" not in page  # not for the same admin again
        assert deliveries(db, alert_id) == []

        twice = press(amina, alert_id, "approve")
        assert twice.status_code == 409
        assert "amina@r2p.example has already approved alert" in twice.text
        assert deliveries(db, alert_id) == []

        bruno = log_in(site, BRUNO)
        assert ">Review and approve…</a>" in bruno.get(f"/admin/alerts/{alert_id}").text
        press(bruno, alert_id, "approve")
        assert len(deliveries(db, alert_id)) == 2
        assert (
            "Approved by amina@r2p.example, bruno@r2p.example."
            in bruno.get(f"/admin/alerts/{alert_id}").text
        )


def test_an_expired_alert_cannot_be_approved(site: Site, db: Db) -> None:
    add_readers(db, ["a@example.org"])
    alert_id = stored_alert(db, created=datetime.now(UTC) - timedelta(hours=13))
    reader = log_in(site)
    page = reader.get(f"/admin/alerts/{alert_id}").text
    assert "Expired before it was approved" in page
    assert ">Approve…</a>" not in page
    response = press(reader, alert_id, "approve")
    assert response.status_code == 409 and "expired at" in response.text
    assert deliveries(db, alert_id) == []


def test_a_cancelled_alert_cannot_be_approved(site: Site, db: Db) -> None:
    add_readers(db, ["a@example.org"])
    reader = log_in(site)
    alert_id = alert_id_of(compose(reader))
    assert press(reader, alert_id, "cancel").status_code == 303
    response = press(reader, alert_id, "approve")
    assert response.status_code == 409
    assert "is cancelled, not awaiting approval" in response.text
    assert deliveries(db, alert_id) == []


def test_an_alert_can_be_cancelled_mid_send(site: Site, db: Db) -> None:
    add_readers(db, ["a@example.org", "b@example.org", "c@example.org"])
    reader = log_in(site)
    alert_id = alert_id_of(compose(reader))
    press(reader, alert_id, "approve")
    with db.session() as session:
        [in_flight] = claim(
            worker="test",
            limit=1,
            lease=timedelta(minutes=5),
            now=datetime.now(UTC),
            session=session,
        )
        session.commit()
    response = press(reader, alert_id, "cancel")
    assert response.headers["location"] == f"/admin/alerts/{alert_id}?done=cancelled"
    statuses = {d.id: d.status for d in deliveries(db, alert_id)}
    assert statuses.pop(in_flight.id) == "sending"  # settles truthfully when it returns
    assert set(statuses.values()) == {"cancelled"}
    assert campaign(site, alert_id).status == "cancelled"
    assert audit_actions(site)[-1] == (AMINA, "alert.cancel", campaign(site, alert_id).key)
    page = reader.get(response.headers["location"]).text
    assert "Alert cancelled: nothing more will be sent." in page
    assert "Cancel this alert" not in page
    again = press(reader, alert_id, "cancel")
    assert again.status_code == 409 and "already cancelled" in again.text


@pytest.mark.parametrize("button", ["test", "approve", "cancel"])
def test_the_alert_buttons_need_their_csrf_token(site: Site, db: Db, button: str) -> None:
    add_readers(db, ["a@example.org"])
    reader = log_in(site)
    alert_id = alert_id_of(compose(reader))
    response = reader.http.post(f"/admin/alerts/{alert_id}/{button}", data={})
    assert response.status_code == 400
    assert "This form was open too long" in response.text
    assert campaign(site, alert_id).status == "draft"
    assert deliveries(db) == []
    assert audit_actions(site)[-1][1] == "alert.create"


@pytest.mark.parametrize("alert", [999, 99999999999999999999999, 0])
@pytest.mark.parametrize("page", ["", "/preview"])
def test_an_unknown_alert_is_a_404(site: Site, alert: int, page: str) -> None:
    response = log_in(site).get(f"/admin/alerts/{alert}{page}")
    assert response.status_code == 404 and f"There is no alert {alert}." in response.text


@pytest.mark.parametrize("alert", [999, 99999999999999999999999])
def test_buttons_on_an_unknown_alert_are_a_404(site: Site, alert: int) -> None:
    reader = log_in(site)
    for button in ("test", "approve", "cancel"):
        assert press(reader, alert, button).status_code == 404
