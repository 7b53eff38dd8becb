"""Who does a staff action and from where, and the one way an action is audited.

The console and the API act as the logged-in admin (their address, the client's IP); the
CLI acts as the admin it proved (``alert approve``) or as ``cli:<os user>``, with the
operating-system user in the audit detail either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from mailer.admins import audit, os_user

Via = Literal["web", "api", "cli"]


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
