"""One staff-actions service (staff/actions/) behind every front end: the CLI, the console
and the JSON API apply the same checks with the same message and write the same audit
entry (action, target, via, detail fields) for the same action."""

from __future__ import annotations

import getpass
import html
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from mailer.alerts import AlertError
from mailer.models import AuditEntry, Subscriber
from staff.actions.alerts import MAX_LIFETIME, TOO_LONG, lifetime
from tests.conftest import Db
from tests.support.browser import Reader, Site
from tests.support.console import (
    BRUNO,
    admin_site,
    alert_id_of,
    campaign,
    compose,
    log_in,
    press,
    token_for,
)
from tests.support.factories import AMINA, PASSWORD, add_readers
from tests.support.running import cli

FRONT_ENDS = ("cli", "web", "api")
SUBJECT = "Imminent risk of mass atrocities in El Fasher"
BODY = "Civilians are trapped in the city."
CLI_ONLY = {"via", "os_user", "proof"}  # the audit detail only the CLI adds, and via


@dataclass(frozen=True)
class Shape:
    """What must match whichever front end acted: the action, whom it was done to, the
    front end named, and which facts the detail records."""

    action: str
    target: str
    via: str
    detail: frozenset[str]


def shape(entry: AuditEntry) -> Shape:
    return Shape(
        entry.action,
        entry.target,
        entry.detail["via"],
        frozenset(entry.detail) - CLI_ONLY,
    )


def entries(db: Db) -> list[AuditEntry]:
    with db.session() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


class FrontEnds:
    """The CLI (in-process), a logged-in console session and an API client, all acting
    as Amina (the CLI proves it with her password where it must)."""

    def __init__(self, db: Db, site: Site, console: Reader, api: httpx.Client, body: Path):
        self.db, self.site, self.console, self.api, self.body = db, site, console, api, body

    def create(self, via: str, expires: timedelta, **fields: Any) -> int | str:
        """The new alert's id, or the error the front end shows."""
        seconds = int(expires.total_seconds())
        topics: list[str] = fields.get("topics", [])
        if via == "cli":
            args = ["--expires", f"{seconds}s", "--topics", ",".join(topics)]
            result = cli(
                "alert", "create", "--subject", SUBJECT, "--body-file", str(self.body), *args
            )
            return int(result.output) if result.exit_code == 0 else result.output
        if via == "web":
            audience = {"audience": "topics", "topics": topics} if topics else {}
            response = compose(self.console, subject=SUBJECT, expires=str(seconds), **audience)
            if response.status_code == 303:
                return alert_id_of(response)
            return html.unescape(response.text)
        request = {"subject": SUBJECT, "body": BODY, "expires_in": f"{seconds}s", "topics": topics}
        response = self.api.post("/api/alerts", json=request)
        return response.json()["id"] if response.status_code == 201 else response.json()["detail"]

    def approve(self, via: str, alert_id: int) -> str:
        """What the front end says."""
        if via == "cli":
            proof = f"{PASSWORD}\n"
            args = ("--by", AMINA, "--password-stdin")
            return cli("alert", "approve", str(alert_id), *args, stdin=proof).output
        if via == "web":
            response = press(self.console, alert_id, "approve")
            if response.status_code == 303:
                return response.headers["location"]
            return html.unescape(response.text)
        answer = self.api.post(f"/api/alerts/{alert_id}/approve").json()
        return str(answer.get("detail") or answer["message"])

    def cancel(self, via: str, alert_id: int) -> None:
        if via == "cli":
            assert cli("alert", "cancel", str(alert_id)).exit_code == 0
        elif via == "web":
            assert press(self.console, alert_id, "cancel").status_code == 303
        else:
            assert self.api.post(f"/api/alerts/{alert_id}/cancel").status_code == 200


@pytest.fixture
def fronts(cli_env: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FrontEnds]:
    monkeypatch.setenv("R2P_ALERT_APPROVERS", "2")
    body = tmp_path / "body.txt"
    body.write_text(BODY)
    with admin_site(cli_env, AMINA, BRUNO, alert_approvers=2) as site:
        headers = {"Authorization": f"Bearer {token_for(cli_env)}"}
        yield FrontEnds(cli_env, site, log_in(site), site.client(**headers), body)


def test_a_30_day_expiry_is_refused_by_every_front_end_with_the_same_message(
    fronts: FrontEnds,
) -> None:
    for via in FRONT_ENDS:
        refused = fronts.create(via, timedelta(days=30))
        assert isinstance(refused, str) and TOO_LONG in refused, (via, refused)
    assert [e.action for e in entries(fronts.db)] == ["login"]  # the console's, no alert


def test_seven_days_is_allowed_by_every_front_end(fronts: FrontEnds) -> None:
    for via in FRONT_ENDS:
        alert_id = fronts.create(via, MAX_LIFETIME)
        assert isinstance(alert_id, int), (via, alert_id)
        stored = campaign(fronts.site, alert_id)
        assert stored.expires_at is not None
        hours = (stored.expires_at - stored.created_at) / timedelta(hours=1)
        assert round(hours) == 7 * 24, via


def test_an_unknown_topic_is_refused_by_every_front_end_and_known_ones_are_cleaned(
    fronts: FrontEnds,
) -> None:
    for via in FRONT_ENDS:
        refused = fronts.create(via, timedelta(hours=1), topics=["atlantis"])
        assert isinstance(refused, str) and "Unknown topic: atlantis." in refused, (via, refused)
        alert_id = fronts.create(via, timedelta(hours=1), topics=["Sudan", "genocide"])
        assert isinstance(alert_id, int), (via, alert_id)
        assert campaign(fronts.site, alert_id).context["topics"] == ["genocide", "sudan"], via


def test_create_approve_and_cancel_write_the_same_audit_entry_from_every_front_end(
    fronts: FrontEnds,
) -> None:
    add_readers(fronts.db, ["reader@example.org"])
    shapes: dict[str, list[Shape]] = {}
    for via in FRONT_ENDS:
        seen = len(entries(fronts.db))
        alert_id = fronts.create(via, timedelta(hours=6))
        assert isinstance(alert_id, int), (via, alert_id)
        said = fronts.approve(via, alert_id)
        assert ("done=recorded" if via == "web" else "Approval 1 of 2") in said, (via, said)
        fronts.cancel(via, alert_id)
        new = entries(fronts.db)[seen:]
        key = campaign(fronts.site, alert_id).key
        assert [(e.action, e.target) for e in new] == [
            ("alert.create", key),
            ("alert.approve", key),
            ("alert.cancel", key),
        ], via
        assert new[1].actor == AMINA
        shapes[via] = [shape(e) for e in new]
    for via in FRONT_ENDS:
        assert [s.via for s in shapes[via]] == [via] * 3
        assert [s.detail for s in shapes[via]] == [s.detail for s in shapes["cli"]], via


def test_one_admin_counts_once_for_the_two_person_rule_across_front_ends(
    fronts: FrontEnds,
) -> None:
    alert_id = fronts.create("web", timedelta(hours=6))
    assert isinstance(alert_id, int)
    assert "done=recorded" in fronts.approve("web", alert_id)
    for via in ("cli", "api"):
        answer = fronts.approve(via, alert_id)
        assert f"{AMINA} has already approved alert {alert_id}" in answer, (via, answer)
    assert campaign(fronts.site, alert_id).status == "draft"
    refused = entries(fronts.db)[-1]
    assert (refused.action, refused.target) == ("alert.approve.refused", f"alert:{alert_id}")
    assert [e.action for e in entries(fronts.db)].count("alert.approve") == 1


def test_alert_test_is_audited_alike_from_the_cli_and_the_console(fronts: FrontEnds) -> None:
    alert_id = fronts.create("web", timedelta(hours=6))
    assert isinstance(alert_id, int)
    sent = cli("alert", "test", str(alert_id), "--to", AMINA)
    assert sent.exit_code == 0, sent.output
    assert press(fronts.console, alert_id, "test").status_code == 303
    by_cli, by_console = entries(fronts.db)[-2:]
    key = campaign(fronts.site, alert_id).key
    assert (shape(by_cli).via, shape(by_console).via) == ("cli", "web")
    assert shape(by_cli) == Shape("alert.test", key, "cli", shape(by_console).detail)
    assert shape(by_console).detail == {"to", "verdict", "versions"}
    assert by_cli.detail["verdict"] == by_console.detail["verdict"] == "sent"
    assert by_cli.detail["to"] == by_console.detail["to"] == AMINA
    assert by_cli.detail["os_user"] == getpass.getuser()


def test_removing_a_reader_is_audited_alike_from_the_cli_and_the_console(
    fronts: FrontEnds,
) -> None:
    anna, bob = add_readers(fronts.db, ["anna@example.org", "bob@example.org"])
    assert cli("subscribers", "remove", "anna@example.org").exit_code == 0
    response = fronts.console.post(
        f"/admin/subscribers/{bob}/remove",
        {"confirm_remove": "on"},
        token_from="/admin/subscribers",
    )
    assert response.status_code == 200
    by_cli, by_console = (shape(e) for e in entries(fronts.db)[-2:])
    assert by_cli == Shape("subscriber.remove", f"subscriber:{anna}", "cli", by_console.detail)
    assert by_console == Shape("subscriber.remove", f"subscriber:{bob}", "web", by_cli.detail)
    with fronts.db.session() as session:
        assert session.scalars(select(Subscriber)).all() == []


def test_each_cli_only_action_writes_exactly_one_entry(cli_env: Db, tmp_path: Path) -> None:
    readers = tmp_path / "readers.csv"
    readers.write_text("email\ncarol@example.org\n")
    steps: list[tuple[tuple[str, ...], str | None, tuple[str, str]]] = [
        (("admins", "add", AMINA), f"{PASSWORD}\n", ("admin.add", AMINA)),
        (("admins", "token", AMINA), None, ("token.create", AMINA)),
        (("admins", "revoke", AMINA), None, ("token.revoke", AMINA)),
        (("feeds", "add", "local", "https://example.org/feed.xml"), None, ("feed.add", "local")),
        (("feeds", "disable", "local"), None, ("feed.disable", "local")),
        (("feeds", "enable", "local"), None, ("feed.enable", "local")),
        (("subscribers", "import", str(readers)), None, ("subscribers.import", "readers.csv")),
        (("subscribers", "purge"), None, ("subscribers.purge", "")),
        (("subscribers", "export"), None, ("subscribers.export", "stdout")),
        (("digest", "send", "--period", "2026-W48"), None, ("digest.send", "2026-W48")),
    ]
    for args, stdin, expected in steps:
        seen = len(entries(cli_env))
        result = cli(*args, stdin=stdin)
        assert result.exit_code == 0, (args, result.output)
        new = entries(cli_env)[seen:]
        assert [(e.action, e.target, e.detail["via"]) for e in new] == [(*expected, "cli")], args
        assert new[0].actor == f"cli:{getpass.getuser()}"
        assert new[0].detail["os_user"] == getpass.getuser()


def test_adding_a_reader_from_the_cli_is_audited_by_row_id(cli_env: Db) -> None:
    assert cli("subscribers", "add", "Dana@Example.org", "--confirmed").exit_code == 0
    with cli_env.session() as session:
        dana = session.scalars(select(Subscriber)).one()
        assert (dana.email, dana.consent_form) == ("dana@example.org", "admin-cli")
    [entry] = entries(cli_env)
    assert shape(entry) == Shape(
        "subscriber.add", f"subscriber:{dana.id}", "cli", frozenset({"confirmed"})
    )


def test_a_dry_run_import_stores_and_audits_nothing(cli_env: Db, tmp_path: Path) -> None:
    readers = tmp_path / "readers.csv"
    readers.write_text("email\ncarol@example.org\n")
    result = cli("subscribers", "import", str(readers), "--dry-run")
    assert result.exit_code == 0 and "1 row(s) would be imported" in result.output
    assert entries(cli_env) == []
    with cli_env.session() as session:
        assert session.scalars(select(Subscriber)).all() == []


def test_the_expiry_limit_itself(db: Db) -> None:
    settings = db.settings(alert_expires=timedelta(hours=3))
    assert lifetime(None, settings) == timedelta(hours=3)
    assert lifetime(MAX_LIFETIME, settings) == MAX_LIFETIME
    with pytest.raises(AlertError, match=TOO_LONG):
        lifetime(MAX_LIFETIME + timedelta(seconds=1), settings)
    with pytest.raises(AlertError, match="must be in the future"):
        lifetime(timedelta(0), settings)
    with pytest.raises(ValidationError, match="at most 7d"):  # R2P_ALERT_EXPIRES too
        db.settings(alert_expires=timedelta(days=8))
