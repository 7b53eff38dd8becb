"""Who does a staff action and from where, and the one way an action is audited.

The console and the API act as the logged-in admin (their address, the client's IP); the
CLI acts as the admin it proved (``alert approve``) or as ``cli:<os user>``, with the
operating-system user in the audit detail either way.

Every action begins with ``actor.require(permission, session=...)``: the admin's role is
read from the database there and then (so a role changed or an account deactivated a
moment ago counts), and ``NotAllowedError`` is raised when it does not allow the action;
the console answers it with a 403 page, the API with 403 JSON, the CLI with one line. The
CLI's own user (``cli:<os user>``) already holds the database and the settings, so it
acts as an owner; an admin the CLI proved acts with their own role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.admins import audit, os_user
from mailer.errors import MailerError
from mailer.models import Admin
from mailer.roles import NEEDS, Permission, Role, allows

Via = Literal["web", "api", "cli"]
CLI_PREFIX = "cli:"


class NotAllowedError(MailerError):
    """The admin's role does not allow this action (the console's 403 page, the API's 403)."""

    def __init__(self, email: str, permission: Permission) -> None:
        needs = NEEDS[permission].value
        super().__init__(f"{email} may not do this: it needs the {needs} role or higher")
        self.permission = permission


@dataclass(frozen=True)
class Actor:
    """Who did it and from where, as the audit log records it."""

    email: str  # the admin's address, or cli:<os user> for an unproven CLI user
    ip: str
    via: Via
    os_user: str | None = None  # the CLI's operating-system user
    proof: str | None = None  # how the CLI user proved being ``email``: password or token

    @classmethod
    def web(cls, email: str, ip: str) -> Actor:
        return cls(email, ip, "web")

    @classmethod
    def api(cls, email: str, ip: str) -> Actor:
        return cls(email, ip, "api")

    @classmethod
    def cli(cls, admin: str | None = None, *, proof: str | None = None) -> Actor:
        """The command line's user: ``admin`` once a password or token proved it is
        them, else ``cli:<os user>``."""
        user = os_user()
        return cls(admin or f"cli:{user}", "", "cli", os_user=user, proof=proof)

    def role(self, *, session: Session) -> str:
        """The role the actor acts with now ('' for no active admin)."""
        if self.via == "cli" and self.email.startswith(CLI_PREFIX):
            return Role.OWNER.value
        row = session.execute(
            select(Admin.role, Admin.active).where(Admin.email == self.email)
        ).first()
        return row.role if row is not None and row.active else ""

    def require(self, permission: Permission, *, session: Session) -> None:
        """Raise NotAllowedError unless the actor's role allows ``permission``."""
        if not allows(self.role(session=session), permission):
            raise NotAllowedError(self.email, permission)

    def record(
        self, action: str, *, target: str = "", now: datetime, session: Session, **detail: Any
    ) -> None:
        """Write the action's audit entry (in the caller's transaction)."""
        if self.os_user is not None:
            detail["os_user"] = self.os_user
        if self.proof is not None:
            detail["proof"] = self.proof
        audit(
            self.email,
            action,
            target=target,
            ip=self.ip,
            now=now,
            session=session,
            via=self.via,
            **detail,
        )
