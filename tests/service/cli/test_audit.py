"""Every command that changes data or hands out personal data writes an audit entry naming
the operating-system user. The test walks every command of the CLI: a command it does not
know fails it, and so does a command that changed the database without an audit entry."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from sqlalchemy import func, select

from mailer.models import AuditEntry, Base, Campaign, Item
from service.cli import app
from tests.conftest import Db
from tests.support.feedserver import FeedServer
from tests.support.running import cli

ADMIN, PASSWORD = "ops@r2p.example", "correct horse battery"
NEW_ADMIN = "new@r2p.example"
# Long-running services: they carry out what the commands above decided and recorded.
SERVICES = {("run",), ("web",), ("worker",), ("scheduler",), ("inbound",)}
# Jobs run by hand that staff decide nothing in: what they record is the mail servers'
# reports (tests/jobs/test_mailbox.py and tests/service/cli/test_bounces.py).
JOBS = {("bounces", "fetch")}


def leaf_commands(command: object, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """The path of every command under ``command`` (a group has ``commands``)."""
    subcommands: dict[str, object] | None = getattr(command, "commands", None)
    if subcommands is None:
        return {path}
    found: set[tuple[str, ...]] = set()
    for name, sub in subcommands.items():
        found |= leaf_commands(sub, (*path, name))
    return found


def snapshot(db: Db) -> dict[str, list[str]]:
    """Every row of every table but the audit log itself."""
    with db.engine.connect() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            for table in Base.metadata.sorted_tables
            if table.name != "audit_log"
        }


def audit_entries(db: Db) -> list[AuditEntry]:
    with db.session() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def latest_alert(db: Db) -> str:
    with db.session() as session:
        found = session.scalar(select(func.max(Campaign.id)).where(Campaign.kind == "alert"))
        return str(found)


def latest_item(db: Db) -> str:
    with db.session() as session:
        return str(session.scalar(select(func.max(Item.id))))


def paused_alert(db: Db) -> str:
    """The latest alert, paused (as a campaign pauses itself after policy refusals)."""
    with db.session() as session:
        campaign = session.get_one(Campaign, int(latest_alert(db)))
        campaign.status = "paused"
        session.commit()
        return str(campaign.id)


def fill(db: Db, arg: str) -> str:
    """A step's argument with its placeholder ({alert}, {item}, {paused}) filled in."""
    if arg == "{alert}":
        return latest_alert(db)
    if arg == "{item}":
        return latest_item(db)
    if arg == "{paused}":
        return paused_alert(db)
    return arg


def test_every_command_that_changes_or_exports_data_is_audited(
    cli_env: Db, feed_server: FeedServer, tmp_path: Path
) -> None:
    url = feed_server.serve_file("/press.xml", "un-press/rss.xml")
    body = tmp_path / "body.txt"
    body.write_text("Act now.")
    readers = tmp_path / "readers.csv"
    readers.write_text("email\ncarol@example.org\ndave@example.org\n")
    password = f"{PASSWORD}\n"
    french = ("--subject", "Sf", "--body-file", str(body))
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%MZ")
    steps: list[tuple[str, tuple[str, ...], str | None]] = [
        ("audited", ("init",), None),
        ("audited", ("admins", "add", ADMIN), password),
        ("audited", ("admins", "token", ADMIN), None),
        ("audited", ("admins", "revoke", ADMIN), None),
        ("reads", ("admins", "list"), None),
        ("audited", ("admins", "invite", NEW_ADMIN, "--role", "editor"), None),
        ("audited", ("admins", "role", NEW_ADMIN, "approver"), None),
        ("audited", ("admins", "reset-password", NEW_ADMIN), None),
        ("audited", ("admins", "unlock", ADMIN), None),
        ("audited", ("admins", "remove-2fa", NEW_ADMIN), None),
        ("audited", ("admins", "deactivate", NEW_ADMIN), None),
        ("audited", ("admins", "reactivate", NEW_ADMIN), None),
        ("audited", ("feeds", "add", "local", url), None),
        ("audited", ("feeds", "disable", "local"), None),
        ("audited", ("feeds", "enable", "local"), None),
        ("audited", ("feeds", "edit", "local", "--title", "Local press releases"), None),
        ("reads", ("feeds", "list"), None),
        ("audited", ("poll", "--feed", "local"), None),
        ("reads", ("items", "list"), None),
        ("audited", ("items", "mark", "{item}", "not-relevant"), None),
        ("audited", ("subscribers", "add", "anna@example.org"), None),
        ("audited", ("subscribers", "add", "bob@example.org", "--confirmed"), None),
        ("reads", ("subscribers", "list"), None),
        ("audited", ("subscribers", "export"), None),
        ("audited", ("subscribers", "export", "--out", str(tmp_path / "out.csv")), None),
        ("audited", ("subscribers", "import", str(readers)), None),
        ("audited", ("subscribers", "purge", "--older-than", "1w"), None),
        ("audited", ("subscribers", "suppress", "bob@example.org"), None),
        ("audited", ("subscribers", "allow", "bob@example.org"), None),
        ("audited", ("subscribers", "remove", "carol@example.org"), None),
        ("reads", ("digest", "preview"), None),
        ("audited", ("digest", "send"), None),
        ("audited", ("alert", "create", "--subject", "S", "--body-file", str(body)), None),
        ("audited", ("alert", "edit", "{alert}", "--subject", "S, corrected"), None),
        ("audited", ("alert", "translate", "{alert}", "--language", "fr", *french), None),
        ("reads", ("alert", "show", "{alert}"), None),
        ("audited", ("alert", "translate", "{alert}", "--language", "fr", "--remove"), None),
        ("audited", ("alert", "schedule", "{alert}", "--at", later), None),
        ("audited", ("alert", "schedule", "{alert}", "--clear"), None),
        ("audited", ("alert", "test", "{alert}", "--to", "me@r2p.example"), None),
        ("reads", ("alert", "status", "{alert}"), None),
        ("audited", ("alert", "approve", "{alert}", "--by", ADMIN, "--password-stdin"), password),
        ("reads", ("reports", "list"), None),
        ("reads", ("reports", "timeline", "{alert}"), None),
        ("audited", ("campaign", "resume", "{paused}"), None),
        ("audited", ("alert", "cancel", "{alert}"), None),
        ("audited", ("alert", "create", "--subject", "T", "--body-file", str(body)), None),
        ("audited", ("deliver", "--once"), None),
    ]
    every = leaf_commands(typer.main.get_command(app))
    covered = {p for p in every if any(args[: len(p)] == p for _, args, _ in steps)}
    assert every - covered - SERVICES - JOBS == set(), "commands this test does not know"
    assert every >= SERVICES

    problems = []
    for kind, raw, stdin in steps:
        args = tuple(fill(cli_env, a) for a in raw)
        before, seen = snapshot(cli_env), len(audit_entries(cli_env))
        result = cli(*args, stdin=stdin)
        if result.exit_code != 0:
            problems.append(f"{args}: exit {result.exit_code}: {result.output}")
            continue
        changed = snapshot(cli_env) != before
        new = audit_entries(cli_env)[seen:]
        if (kind == "audited" or changed) and not new:
            problems.append(f"{args}: {'changed data but ' if changed else ''}no audit entry")
        if kind == "reads" and changed:
            problems.append(f"{args}: a reading command changed data")
        for entry in new:
            if entry.detail.get("os_user") != getpass.getuser():
                problems.append(f"{args}: {entry.action} does not name the OS user")
            if entry.actor not in {f"cli:{getpass.getuser()}", ADMIN}:
                problems.append(f"{args}: {entry.action} names {entry.actor!r}")
    assert problems == []
