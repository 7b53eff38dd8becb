"""The subscriber pages: the list found by part of the address, filtered and paginated;
a reader's page; changing their choices, suppressing and allowing them again, erasing
them after the confirmation step (each audited by row id), and the formula-safe export."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from mailer.models import AuditEntry, ConsentEvent, Erasure, Subscriber
from subscribers.choices import Choices
from subscribers.consent import SIGNUP, Consent, open_request, record_event
from tests.conftest import Db
from tests.support.browser import Reader
from tests.support.console import alert_id_of, audit_actions, compose, press
from tests.support.factories import AMINA, add_readers
from tests.support.ledger import deliveries

LIST = "/admin/subscribers"


def find(reader: Reader, **fields: str) -> str:
    response = reader.post(LIST, fields, token_from=LIST)
    assert response.status_code == 200, response.text
    return response.text


def audit_of(db: Db, action: str) -> AuditEntry:
    with db.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc())
        ).first()
        assert entry is not None, action
        return entry


def test_part_of_an_address_finds_readers_in_any_case(db: Db, reader: Reader) -> None:
    add_readers(db, ["diplomat.one@mission.example", "Diplomat-two@un.example"])
    add_readers(db, ["defender@ngo.example"])
    page = find(reader, q="DIPLOMAT")
    assert "2 readers found" in page
    assert "diplomat.one@mission.example" in page and "Diplomat-two@un.example" in page
    assert "defender@ngo.example" not in page
    assert 'type="email"' not in reader.get(LIST).text


def test_a_search_with_sql_wildcards_means_them_literally(db: Db, reader: Reader) -> None:
    add_readers(db, ["a_b@example.org", "axb@example.org"])
    page = find(reader, q="a_b")
    assert "1 reader found" in page and "axb@example.org" not in page


def test_filters_narrow_the_list(db: Db, reader: Reader) -> None:
    add_readers(db, ["sudan@example.org"], topics=["sudan"], language="fr", wants_alerts=False)
    add_readers(db, ["all@example.org"], topics=[])
    add_readers(db, ["myanmar@example.org"], topics=["myanmar"], wants_digest=False)
    add_readers(db, ["gone@example.org"], status="unsubscribed", topics=["sudan"])
    page = find(reader, topic="sudan")
    assert "sudan@example.org" in page and "all@example.org" in page
    assert "myanmar@example.org" not in page
    page = find(reader, topic="sudan", status="active")
    assert "gone@example.org" not in page and "3 readers" not in page
    assert "sudan@example.org" not in find(reader, receives="alerts")
    assert "myanmar@example.org" not in find(reader, receives="digest")
    page = find(reader, language="fr")
    assert "1 reader found" in page and "sudan@example.org" in page
    assert "unsubscribed" in find(reader, status="unsubscribed")


def test_an_unknown_filter_value_is_ignored(db: Db, reader: Reader) -> None:
    add_readers(db, ["anna@example.org"])
    page = find(reader, status="nonsense", topic="' OR 1=1 --", language="xx")
    assert "1 reader" in page and "anna@example.org" in page


def test_the_list_is_paginated_with_the_search_kept(db: Db, reader: Reader) -> None:
    add_readers(db, [f"reader{n:03d}@example.org" for n in range(120)])
    add_readers(db, ["other@example.net"])
    first = find(reader, q="example.org")
    assert "120 readers found · page 1 of 3" in first
    assert "reader000@" in first and "reader050@" not in first
    assert 'name="page" value="2"' in first
    second = find(reader, q="example.org", page="2")
    assert "page 2 of 3" in second and "reader050@" in second and "reader000@" not in second
    last = find(reader, q="example.org", page="99")
    assert "page 3 of 3" in last and "reader119@" in last and "other@" not in last


def test_a_search_needs_its_csrf_token(reader: Reader) -> None:
    response = reader.http.post(LIST, data={"q": "anna"})
    assert response.status_code == 400


def test_addresses_are_escaped(db: Db, reader: Reader) -> None:
    [odd] = add_readers(db, ['"<b>x</b>"@example.org'])
    assert "<b>x</b>" not in find(reader, q="example")
    assert "<b>x</b>" not in reader.get(f"{LIST}/{odd}").text


def test_a_readers_page_shows_choices_consent_and_mail(db: Db, reader: Reader) -> None:
    [anna] = add_readers(
        db,
        ["anna@example.org"],
        topics=["sudan"],
        consent_form="signup-v2",
        consent_text="I want to receive R2P news.",
        consent_ip="203.0.113.9",
        hard_bounces=1,
    )
    press(reader, alert_id_of(compose(reader)), "approve")
    page = reader.get(f"{LIST}/{anna}").text
    assert "urgent alerts on: Sudan." in page
    assert "signup-v2" in page and "I want to receive R2P news." in page and "203.0.113.9" in page
    assert "Imminent risk of mass atrocities in El Fasher" in page
    assert "1 in a row" in page
    assert "Suppress: stop all mail" in page and "Allow again" not in page


def test_a_reader_who_is_gone_is_not_found(reader: Reader) -> None:
    assert reader.get(f"{LIST}/999").status_code == 404


CHOICES = {"language": "fr", "digest": "on", "topics_mode": "chosen", "topics": "myanmar"}


def test_changing_choices_is_audited_and_kept_in_the_consent_history(
    db: Db, reader: Reader
) -> None:
    [anna] = add_readers(db, ["anna@example.org"], topics=["sudan"])
    page = f"{LIST}/{anna}"
    response = reader.post(f"{page}/choices", CHOICES, token_from=page)
    assert response.status_code == 303 and response.headers["location"] == f"{page}?done=choices"
    with db.session() as session:
        row = session.get_one(Subscriber, anna)
        assert (row.language, row.wants_digest, row.wants_alerts, row.topics) == (
            "fr",
            True,
            False,
            ["myanmar"],
        )
        [event] = session.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == anna))
        assert event.event == "changed" and event.form == "admin-web"
    entry = audit_of(db, "subscriber.choices")
    assert (entry.actor, entry.target) == (AMINA, f"subscriber:{anna}")
    assert entry.detail["before"]["topics"] == ["sudan"]
    assert entry.detail["after"]["topics"] == ["myanmar"]
    assert "Their choices are saved." in reader.get(f"{page}?done=choices").text


def test_choices_that_are_not_on_offer_are_refused(db: Db, reader: Reader) -> None:
    [anna] = add_readers(db, ["anna@example.org"])
    page = f"{LIST}/{anna}"
    nothing = reader.post(f"{page}/choices", {"topics_mode": "all"}, token_from=page)
    assert nothing.status_code == 400 and "Choose the weekly digest" in nothing.text
    forged = reader.http.post(f"{page}/choices", data=CHOICES)
    assert forged.status_code == 400
    assert [a for a in audit_actions(db) if a[1] == "subscriber.choices"] == []


def test_suppressing_and_allowing_again_are_audited(db: Db, reader: Reader) -> None:
    [anna] = add_readers(db, ["anna@example.org"], confirmed_at=datetime.now(UTC))
    alert_id = alert_id_of(compose(reader))
    press(reader, alert_id, "approve")
    page = f"{LIST}/{anna}"
    assert reader.post(f"{page}/suppress", {}, token_from=page).status_code == 303
    assert db_status(db, anna) == "unsubscribed"
    assert [d.status for d in deliveries(db, alert_id)] == ["cancelled"]
    assert "Allow again" in reader.get(page).text
    assert reader.post(f"{page}/allow", {}, token_from=page).status_code == 303
    assert db_status(db, anna) == "active"
    actions = [a for a in audit_actions(db) if a[1].startswith("subscriber.")]
    assert actions == [
        (AMINA, "subscriber.suppress", f"subscriber:{anna}"),
        (AMINA, "subscriber.allow", f"subscriber:{anna}"),
    ]


def db_status(db: Db, subscriber_id: int) -> str:
    with db.session() as session:
        return session.get_one(Subscriber, subscriber_id).status


def test_a_bounced_reader_may_be_allowed_again(db: Db, reader: Reader) -> None:
    [bob] = add_readers(
        db, ["bob@example.org"], status="bounced", hard_bounces=3, confirmed_at=datetime.now(UTC)
    )
    page = f"{LIST}/{bob}"
    assert reader.post(f"{page}/allow", {}, token_from=page).status_code == 303
    with db.session() as session:
        row = session.get_one(Subscriber, bob)
        assert (row.status, row.hard_bounces) == ("active", 0)


def test_a_reader_who_unsubscribed_themself_is_not_allowed_again(db: Db, reader: Reader) -> None:
    [carl] = add_readers(
        db, ["carl@example.org"], status="unsubscribed", confirmed_at=datetime.now(UTC)
    )
    page = f"{LIST}/{carl}"
    assert "only they can come back" in reader.get(page).text
    response = reader.post(f"{page}/allow", {}, token_from=page)
    assert response.status_code == 409 and "Only the reader can come back" in response.text
    assert db_status(db, carl) == "unsubscribed"
    assert [a for a in audit_actions(db) if a[1] == "subscriber.allow"] == []


def test_removing_goes_through_a_confirmation_page(db: Db, reader: Reader) -> None:
    [anna] = add_readers(db, ["anna@example.org"])
    press(reader, alert_id_of(compose(reader)), "approve")
    page = reader.get(f"{LIST}/{anna}").text
    assert f'href="{LIST}/{anna}/remove"' in page
    assert f'action="{LIST}/{anna}/remove"' not in page
    confirm = reader.get(f"{LIST}/{anna}/remove")
    assert confirm.status_code == 200 and "Remove this subscriber?" in confirm.text
    assert "their mail history (1 message)" in confirm.text
    assert db_status(db, anna) == "active"


def test_removing_erases_them_and_is_audited_by_row_id(db: Db, reader: Reader) -> None:
    [anna] = add_readers(db, ["anna@example.org"])
    alert_id = alert_id_of(compose(reader))
    press(reader, alert_id, "approve")
    confirm = f"{LIST}/{anna}/remove"
    response = reader.post(confirm, {"confirm_remove": "on"}, token_from=confirm)
    assert response.status_code == 200 and "The subscriber is removed" in response.text
    with db.session() as session:
        assert session.get(Subscriber, anna) is None
        assert session.scalar(select(func.count()).select_from(Erasure)) == 1
    assert deliveries(db, alert_id) == []
    assert audit_actions(db)[-1] == (AMINA, "subscriber.remove", f"subscriber:{anna}")
    assert "anna@example.org" not in str(audit_actions(db))
    assert audit_of(db, "subscriber.remove").detail["was_status"] == "active"


def test_removing_needs_the_box_ticked_and_the_csrf_token(db: Db, reader: Reader) -> None:
    [anna] = add_readers(db, ["anna@example.org"])
    confirm = f"{LIST}/{anna}/remove"
    unticked = reader.post(confirm, {}, token_from=confirm)
    assert unticked.status_code == 400 and "Tick the box to confirm" in unticked.text
    forged = reader.http.post(confirm, data={"confirm_remove": "on"})
    assert forged.status_code == 400
    assert db_status(db, anna) == "active"
    assert [a for a in audit_actions(db) if a[1] == "subscriber.remove"] == []


@pytest.mark.parametrize("subscriber", ["999", "99999999999999999999999"])
def test_removing_a_subscriber_who_is_gone_says_so(reader: Reader, subscriber: str) -> None:
    response = reader.post(f"{LIST}/{subscriber}/remove", {"confirm_remove": "on"}, token_from=LIST)
    assert response.status_code == 404 and "no longer exists" in response.text


def test_the_export_is_formula_safe_and_audited(db: Db, reader: Reader) -> None:
    add_readers(db, ["anna@example.org"], consent_user_agent='=HYPERLINK("https://x.example")')
    add_readers(db, ["bob@example.org"], status="bounced")
    response = reader.post(f"{LIST}/export", {"status": "active"}, token_from=LIST)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["email"] for r in rows] == ["anna@example.org"]
    assert rows[0]["consent_user_agent"] == """'=HYPERLINK("https://x.example")"""
    entry = audit_of(db, "subscribers.export")
    assert (entry.actor, entry.target) == (AMINA, "console download")
    assert entry.detail["count"] == 1 and entry.detail["status"] == "active"


def test_the_export_needs_its_csrf_token(reader: Reader) -> None:
    assert reader.http.post(f"{LIST}/export", data={}).status_code == 400


def test_a_choices_change_leaves_a_waiting_signup_request_open(db: Db, reader: Reader) -> None:
    [carl] = add_readers(db, ["carl@example.org"], status="unsubscribed")
    with db.session() as session:
        consent = Consent(datetime.now(UTC), "signup-v2", "I want R2P news.")
        request = record_event(carl, SIGNUP, consent, Choices(), session=session)
        session.commit()
        request_id = request.id
    page = f"{LIST}/{carl}"
    assert reader.post(f"{page}/choices", CHOICES, token_from=page).status_code == 303
    with db.session() as session:
        waiting = open_request(carl, session=session)
        assert waiting is not None and waiting.id == request_id


def test_the_list_page_charts_this_weeks_signups(db: Db, reader: Reader) -> None:
    [anna] = add_readers(db, ["anna@example.org"])
    with db.session() as session:
        consent = Consent(datetime.now(UTC), "signup-v2", "I want R2P news.")
        record_event(anna, SIGNUP, consent, Choices(), session=session)
        session.commit()
    page = reader.get(LIST).text
    assert '<svg class="chart chart-growth"' in page
    assert re.search(r"<title>Week of [^<]+, signups: 1</title>", page)
    assert re.search(r"<title>Week of [^<]+, confirmations: 0</title>", page)
