"""`alert edit` and `alert schedule`: the same audited edit as the console (before and
after in the audit detail, approvals cleared by a content change), a send time read in
R2P_CONSOLE_TIMEZONE, and `alert approve` then waiting for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mailer.models import AuditEntry, Campaign
from tests.conftest import Db
from tests.service.cli.test_alerts import AMINA, PASSWORD, approvals, setup
from tests.support.ledger import campaign_status, deliveries
from tests.support.running import cli


def test_an_approved_alert_cannot_be_edited_from_the_cli(cli_env: Db, tmp_path: Path) -> None:
    alert_id = setup(cli_env, tmp_path)
    approve = ("alert", "approve", str(alert_id), "--by", AMINA, "--password-stdin")
    assert cli(*approve, stdin=f"{PASSWORD}\n").exit_code == 0
    with cli_env.session() as session:
        assert session.get_one(Campaign, alert_id).status == "sending"
    late = cli("alert", "edit", str(alert_id), "--subject", "Too late")
    assert late.exit_code == 1 and "only a draft awaiting approval can change" in late.output


def test_an_edit_clears_approvals_and_a_schedule_keeps_them(
    cli_env: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("R2P_ALERT_APPROVERS", "2")
    monkeypatch.setenv("R2P_CONSOLE_TIMEZONE", "Europe/Zurich")
    alert_id = setup(cli_env, tmp_path)
    approve = ("alert", "approve", str(alert_id), "--by", AMINA, "--password-stdin")
    assert cli(*approve, stdin=f"{PASSWORD}\n").exit_code == 0
    edited = cli("alert", "edit", str(alert_id), "--subject", "El-Fasher", "--topics", "sudan")
    assert edited.exit_code == 0, edited.output
    assert "subject, audience, topics changed" in edited.output
    assert f"Approvals cleared: {AMINA}" in edited.output
    assert approvals(cli_env, alert_id) == []
    with cli_env.session() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "alert.edit"))
        assert entry is not None and entry.detail["before"]["subject"] == "El Fasher"
        assert entry.detail["after"]["topics"] == ["sudan"] and entry.detail["os_user"]

    assert cli(*approve, stdin=f"{PASSWORD}\n").exit_code == 0
    at = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    local = at.astimezone(ZoneInfo("Europe/Zurich"))
    scheduled = cli("alert", "schedule", str(alert_id), "--at", f"{local:%Y-%m-%d %H:%M}")
    assert scheduled.exit_code == 0, scheduled.output
    assert f"goes out at {at:%Y-%m-%d %H:%M} UTC" in scheduled.output
    assert approvals(cli_env, alert_id) == [AMINA]  # a new time keeps the approval
    status = cli("alert", "status", str(alert_id))
    assert f"send time {at:%Y-%m-%d %H:%M} UTC" in status.output

    past = cli("alert", "schedule", str(alert_id), "--at", "2020-01-01T08:00")
    assert past.exit_code == 1 and "in the past" in past.output
    assert cli("alert", "schedule", str(alert_id)).exit_code == 2
    assert campaign_status(cli_env, alert_id) == "draft" and deliveries(cli_env, alert_id) == []
