"""The console's other pages: dashboard, campaigns with live progress, the next digest,
the development Maildir, the audit log and the subscriber counts (the rest of the
subscriber pages: test_subscriber_pages.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape

from mailer.models import AuditEntry
from mailer.outbox.ledger import Settled, claim, settle
from mailer.sending.base import SendResult
from tests.conftest import Db
from tests.support.browser import Reader, Site, deliver
from tests.support.console import admin_site, alert_id_of, compose, log_in, press
from tests.support.factories import AMINA, add_item, add_readers, add_source

PAGES = (
    "/admin",
    "/admin/alerts/new",
    "/admin/campaigns",
    "/admin/digest/preview",
    "/admin/mail",
    "/admin/audit",
    "/admin/api",
    "/admin/subscribers",
    "/admin/logout",
)


def esc(text: str) -> str:
    return str(escape(text))


def test_every_admin_page_answers_with_the_security_headers(reader: Reader) -> None:
    for path in PAGES:
        response = reader.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, path
        assert "<script" not in response.text, path
        assert 'name="robots" content="noindex, nofollow"' in response.text, path


def test_the_dashboard_shows_feed_health_items_readers_and_the_next_digest(
    site: Site, db: Db, reader: Reader
) -> None:
    now = datetime.now(UTC)
    ok = add_source(db, "un-news", title="UN News", last_success_at=now - timedelta(minutes=5))
    add_source(
        db,
        "un-press",
        title="UN press releases",
        url="https://press.un.org/en/rss.xml",
        consecutive_failures=3,
        last_error="cannot resolve press.un.org: offline, or a wrong URL?",
        last_error_at=now - timedelta(minutes=2),
        empty_responses=4,
    )
    add_item(db, ok, "Security Council meets on Sudan")
    add_item(db, ok, "Old story", fetched_at=now - timedelta(days=9), relevant=False)
    add_readers(db, ["a@example.org", "b@example.org"])
    add_readers(db, ["p@example.org"], status="pending")
    add_readers(db, ["u@example.org"], status="unsubscribed", wants_alerts=False)

    page = reader.get("/admin").text
    assert "UN press releases" in page
    # In plain words, and as a warning of its own, not small print on the scheduler's tile.
    plain = "Cannot reach press.un.org: name not found; offline or wrong URL? (failed 3 times"
    assert esc(plain) in page and "cannot resolve press.un.org" not in page
    assert re.search(
        r'class="card card-attention feed-warning"[^>]*>\s*<h2[^>]*>1 of 2 feeds failing', page
    )
    assert '<span class="pill pill-failing">failing</span>' in page
    assert '<td class="num">4</td>' in page  # 0-item answers
    assert "5 min ago" in page  # the healthy feed's last success
    assert re.search(r'tile-n">1</span><span class="tile-label">items this week', page)
    assert re.search(r'tile-n">2</span><span class="tile-label">active readers', page)
    assert "<dt>Pending</dt><dd>1</dd>" in page and "<dt>Unsubscribed</dt><dd>1</dd>" in page
    assert "would carry <strong>1</strong> relevant item" in page
    assert 'href="/admin/digest/preview"' in page
    assert 'href="/admin/mail">See the mail</a>' in page  # no SMTP server configured


def test_the_dashboard_suggests_alerts_and_starts_one_from_an_item(db: Db, reader: Reader) -> None:
    source = add_source(db)
    urgent = add_item(db, source, "Risk of <b>genocide</b> in Darfur, Special Adviser warns")
    add_item(db, source, "Budget committee meets", tags={}, relevant=True)
    page = reader.get("/admin").text
    assert esc("Risk of <b>genocide</b> in Darfur") in page
    assert "<b>genocide</b>" not in page
    assert "Budget committee meets" not in page
    assert f'href="/admin/alerts/new?item={urgent}"' in page
    assert "Nothing is sent without an admin's approval." in page
    compose(reader, item_id=str(urgent))
    assert f"/admin/alerts/new?item={urgent}" not in reader.get("/admin").text


def test_the_campaign_pages_show_progress_and_refresh_only_while_sending(
    site: Site, db: Db, reader: Reader
) -> None:
    add_readers(db, ["a@example.org", "b@example.org"])
    alert_id = alert_id_of(compose(reader))
    listing = reader.get("/admin/campaigns").text
    assert "Awaiting approval" in listing and 'http-equiv="refresh"' not in listing

    press(reader, alert_id, "approve")
    for path in ("/admin/campaigns", f"/admin/alerts/{alert_id}", "/admin"):
        page = reader.get(path).text
        assert '<meta http-equiv="refresh" content="3">' in page, path
        assert '<span class="count-n">2</span> <span class="count-label">queued</span>' in page
        assert '<progress max="2" value="0"' in page, path

    deliver(site.settings, site.factory)
    for path in ("/admin/campaigns", f"/admin/alerts/{alert_id}"):
        page = reader.get(path).text
        assert 'http-equiv="refresh"' not in page, path
        assert '<span class="pill pill-done">Sent</span>' in page, path
        assert '<span class="count-n">2</span> <span class="count-label">sent</span>' in page


def test_failed_deliveries_are_counted_apart(site: Site, db: Db, reader: Reader) -> None:
    add_readers(db, ["a@example.org"])
    alert_id = alert_id_of(compose(reader))
    press(reader, alert_id, "approve")
    now = datetime.now(UTC)
    with db.session() as session:
        [row] = claim(worker="w", limit=5, lease=timedelta(minutes=5), now=now, session=session)
        settle(
            [Settled(row, SendResult("failed", 550, "no such user"), "<x@y>")],
            worker="w",
            hard_bounce_limit=2,
            now=now,
            session=session,
        )
        session.commit()
    page = reader.get(f"/admin/alerts/{alert_id}").text
    assert '<span class="count-n">1</span> <span class="count-label">failed</span>' in page


def test_the_next_digest_is_previewed_in_a_sandboxed_frame(db: Db, reader: Reader) -> None:
    add_item(db, add_source(db), "Security Council meets on <Sudan>")
    page = reader.get("/admin/digest/preview")
    assert "Security Council meets on &lt;Sudan&gt;" in page.text  # the subject, escaped
    assert "1 item stored since" in page.text
    frame = 'class="email-frame email-frame-tall" src="/admin/digest/preview.html?lang=en" sandbox'
    assert frame in page.text
    html = reader.get("/admin/digest/preview.html")
    assert "sandbox" in html.headers["content-security-policy"]
    assert esc("Security Council meets on <Sudan>") in html.text
    # As a reader of another language sees it (the item is English: no Russian source).
    russian = reader.get("/admin/digest/preview?lang=ru").text
    assert "preview.html?lang=ru" in russian and '<option value="ru" lang="ru" selected>' in russian
    html = reader.get("/admin/digest/preview.html?lang=ru").text
    assert "Еженедельный обзор R2P" in html and esc("Security Council meets on <Sudan>") in html


def test_without_new_items_there_is_no_digest_to_preview(reader: Reader) -> None:
    assert "there is no digest to send yet" in reader.get("/admin/digest/preview").text
    assert reader.get("/admin/digest/preview.html").status_code == 404


def test_the_mail_page_lists_and_shows_what_went_to_the_maildir(reader: Reader) -> None:
    assert "No email yet." in reader.get("/admin/mail").text
    alert_id = alert_id_of(compose(reader, subject="Alert about <Darfur>"))
    press(reader, alert_id, "test")
    listing = reader.get("/admin/mail").text
    assert "1 message" in listing
    assert esc("[TEST] Urgent: Alert about <Darfur>") in listing and AMINA in listing
    match = re.search(r'href="(/admin/mail/[^"]+)"', listing)
    assert match
    message = reader.get(match.group(1))
    assert message.status_code == 200
    assert "URGENT ALERT: Alert about &lt;Darfur&gt;" in message.text  # the text part
    assert "List-Unsubscribe" in message.text
    html = reader.get(match.group(1) + "/html")
    assert "sandbox" in html.headers["content-security-policy"]
    assert esc("Alert about <Darfur>") in html.text


@pytest.mark.parametrize("key", ["no-such-message", "%2e%2e", "..%2fcur", "x" * 400])
def test_an_unknown_maildir_message_is_a_404(reader: Reader, key: str) -> None:
    assert reader.get(f"/admin/mail/{key}").status_code == 404
    assert reader.get(f"/admin/mail/{key}/html").status_code == 404


def test_with_an_smtp_server_there_is_no_maildir_to_show(db: Db) -> None:
    with admin_site(db, smtp_url="smtp://127.0.0.1:2525") as site:
        page = log_in(site).get("/admin/mail").text
        assert "there is no local Maildir to show" in page
        assert "See the mail" not in log_in(site).get("/admin").text


def test_the_audit_log_lists_every_admin_action(db: Db, reader: Reader) -> None:
    add_readers(db, ["a@example.org"])
    alert_id = alert_id_of(compose(reader))
    press(reader, alert_id, "approve")
    with db.session() as session:
        session.add(
            AuditEntry(
                at=datetime.now(UTC),
                actor="cli:ops",
                action="alert.cancel",
                target="<script>",
                detail={"cancelled": 1},
            )
        )
        session.commit()
    page = reader.get("/admin/audit").text
    for action in ("login", "alert.create", "alert.approve", "alert.cancel"):
        assert f'<span class="action">{action}</span>' in page
    assert "cli:ops" in page and "&lt;script&gt;" in page and "<script>" not in page
    assert '<span class="detail">queued: 1</span>' in page
    assert page.index("alert.cancel") < page.index("alert.approve") < page.index(">login<")


def test_the_subscriber_page_counts_readers_by_status(db: Db, reader: Reader) -> None:
    add_readers(db, ["a@example.org", "b@example.org"])
    add_readers(db, ["c@example.org"], status="bounced")
    page = reader.get("/admin/subscribers").text
    assert re.search(r'tile-n">2</span><span class="tile-label">active', page)
    assert re.search(r'tile-n">1</span><span class="tile-label">bounced', page)
