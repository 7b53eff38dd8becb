"""Helpers for the staff-account tests: admins with roles, an enrolled second factor, the
code an authenticator app would show at a given time, and the password link mailed."""

from __future__ import annotations

import mailbox
import re
from datetime import UTC, datetime

import pyotp

from mailer import twofactor
from mailer.admins import add_admin, get_admin
from mailer.config import Settings
from mailer.roles import Role
from tests.conftest import Db
from tests.support.factories import PASSWORD

# The clock the second-factor tests freeze the app at (``app.state.clock``).
FROZEN = datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)


def add_staff(db: Db, **roles: Role) -> None:
    """Admins ``<name>@r2p.example`` with these roles (password ``PASSWORD``)."""
    with db.session() as session:
        for name, role in roles.items():
            add_admin(f"{name}@r2p.example", PASSWORD, role=role, session=session)
        session.commit()


def enrol(db: Db, email: str, *, at: datetime = FROZEN) -> tuple[str, list[str]]:
    """Turn on the admin's second factor: (its secret, its recovery codes)."""
    with db.session() as session:
        admin = get_admin(email, session=session)
        secret = twofactor.start(admin)
        codes = twofactor.enable(admin, code_at(secret, at), now=at, session=session)
        assert codes is not None
        # The enrolment used the code of ``at``'s step; tests log in with it again.
        admin.totp_last_step = None
        session.commit()
        return secret, codes


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def mailed_link(settings: Settings, to: str) -> str:
    """The path of the last password link mailed to ``to``."""
    links = []
    for message in mailbox.Maildir(settings.mail_dir, create=False):
        if message["To"] == to:
            body = message.get_payload(decode=True).decode()
            links += re.findall(r"https?://\S+(/admin/password/\S+)", body)
    assert links, f"no password link mailed to {to}"
    return str(links[-1])
