"""The second approver's review screen: what changed since the first approval and since
the alert was written, who wrote, edited, tested and approved it, and approving on from
there through the confirmation step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import Db
from tests.support.console import (
    BRUNO,
    DRAFT,
    admin_site,
    alert_id_of,
    compose,
    log_in,
    press,
)
from tests.support.factories import AMINA, add_readers
from tests.support.ledger import deliveries


def test_the_review_shows_the_changes_and_who_did_what(db: Db) -> None:
    add_readers(db, ["a@example.org", "b@example.org"])
    with admin_site(db, AMINA, BRUNO, alert_approvers=2) as site:
        amina, bruno = log_in(site), log_in(site, BRUNO)
        alert_id = alert_id_of(compose(amina))
        edit = f"/admin/alerts/{alert_id}/edit"
        body = "Civilians are trapped in the <b>city</b>.\r\n\r\nThe Council must act today."
        amina.post(edit, {**DRAFT, "body": body}, token_from=edit)
        press(amina, alert_id, "approve")
        at = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
        amina.post(
            edit, {**DRAFT, "body": body, "send_at": f"{at:%Y-%m-%dT%H:%M}"}, token_from=edit
        )

        assert ">Review and approve…</a>" in bruno.get(f"/admin/alerts/{alert_id}").text
        page = bruno.get(f"/admin/alerts/{alert_id}/review").text
        assert f"Since {AMINA} approved" in page
        since_approval = page.split('id="since-approval-title"')[1].split(
            'id="since-written-title"'
        )[0]
        assert "Send time" in since_approval and "as soon as it is approved" in since_approval
        assert "Message" not in since_approval
        since_written = page.split('id="since-written-title"')[1].split('id="history-title"')[0]
        assert "The Security Council must act now." in since_written  # removed line
        assert "The Council must act today." in since_written  # added line
        assert "&lt;b&gt;city&lt;/b&gt;" in since_written and "<b>city</b>" not in page
        history = page.split('id="history-title"')[1]
        for said in ("Wrote the draft", "Edited", "Approved", f"by {AMINA}"):
            assert said in history
        assert f'href="/admin/alerts/{alert_id}/approve">Approve…' in page

        press(bruno, alert_id, "approve")
        assert deliveries(db, alert_id) == []  # scheduled for later, approved by both
        review = amina.get(f"/admin/alerts/{alert_id}/review").text
        assert "Approved: it waits for" in review
