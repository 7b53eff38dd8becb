"""`r2p-mailer admins ...`: accounts with roles from the command line, as an owner: list
them, invite one (a mailed link), change a role (never leaving no owner), deactivate
(ending their API tokens), reactivate, and refuse a role that does not exist."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

from mailer.admins import admin_for_token, create_token, get_admin
from mailer.models import utcnow
from tests.conftest import Db
from tests.support.running import cli

OWNER, OTHER = "ops@r2p.example", "new@r2p.example"
PASSWORD = "correct horse battery"


def test_admins_get_the_role_given_and_are_listed(cli_env: Db) -> None:
    assert cli("admins", "add", OWNER, stdin=f"{PASSWORD}\n").exit_code == 0
    added = cli("admins", "add", OTHER, "--role", "Viewer", stdin=f"{PASSWORD}\n")
    assert added.exit_code == 0 and "(viewer)" in added.output
    rows = json.loads(cli("admins", "list", "--format", "json").output)
    assert [(r["email"], r["role"], r["active"], r["two_factor"]) for r in rows] == [
        (OTHER, "viewer", True, False),
        (OWNER, "owner", True, False),
    ]


def test_an_unknown_role_is_refused_naming_the_roles(cli_env: Db) -> None:
    result = cli("admins", "add", OTHER, "--role", "admin", stdin=f"{PASSWORD}\n")
    assert result.exit_code == 2
    assert "viewer, editor, approver, owner" in result.output


def test_an_invitation_is_mailed_and_the_admin_has_no_password_yet(
    cli_env: Db, tmp_path: Path
) -> None:
    result = cli("admins", "invite", OTHER, "--role", "editor")
    assert result.exit_code == 0, result.output
    [message] = mailbox.Maildir(tmp_path / "var" / "mail", create=False)
    assert (
        message["To"] == OTHER and "/admin/password/" in message.get_payload(decode=True).decode()
    )
    rows = json.loads(cli("admins", "list", "--format", "json").output)
    assert rows[0]["invited"] is True and rows[0]["role"] == "editor"


def test_the_last_owner_keeps_their_role(cli_env: Db) -> None:
    cli("admins", "add", OWNER, stdin=f"{PASSWORD}\n")
    result = cli("admins", "role", OWNER, "editor")
    assert result.exit_code == 1
    assert "last active owner" in result.output


def test_deactivating_revokes_tokens_and_reactivating_lets_them_in(cli_env: Db) -> None:
    cli("admins", "add", OWNER, stdin=f"{PASSWORD}\n")
    cli("admins", "add", OTHER, "--role", "editor", stdin=f"{PASSWORD}\n")
    with cli_env.session() as session:
        token = create_token(get_admin(OTHER, session=session), name="t", session=session)
        session.commit()
    result = cli("admins", "deactivate", OTHER)
    assert result.exit_code == 0 and "1 API token(s) revoked" in result.output
    assert cli("admins", "deactivate", OTHER).exit_code == 1
    assert cli("admins", "reactivate", OTHER).exit_code == 0
    with cli_env.session() as session:
        assert get_admin(OTHER, session=session).active
        assert admin_for_token(token, now=utcnow(), session=session) is None
