"""Admin accounts, API tokens and the audit log.

Passwords are hashed with scrypt (memory-hard, in the standard library); API tokens are
random and only their SHA-256 is stored, so a leaked database does not leak either. An
invited admin has no password until they set one through their emailed link
(``mailer.admin_links``): their stored hash matches no password.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mailer.errors import MailerError
from mailer.models import Admin, AdminToken, AuditEntry
from mailer.roles import Role

PASSWORD_MIN = 12
TOKEN_PREFIX = "r2p_"  # noqa: S105 - a visible prefix, not a secret
# Stored for an invited admin until they choose a password: not a scrypt hash, so
# ``verify_password`` refuses every password; the random part makes each one different,
# so the invitation link's fingerprint (``fingerprint``) is the admin's own.
NO_PASSWORD = "invited$"  # noqa: S105 - a marker, not a password


class AdminError(MailerError):
    """An admin account or token cannot be created or used as asked."""


@dataclass(frozen=True)
class ScryptCost:
    """scrypt's work factors: CPU/memory cost ``n``, block size ``r``, parallelism ``p``."""

    n: int
    r: int
    p: int


PRODUCTION_SCRYPT_COST = ScryptCost(n=2**15, r=8, p=1)
# The cost new hashes are made at. Only the test suite lowers it (tests/conftest.py); there
# is no setting for it. Verifying reads the cost stored in the hash, so a hash made at any
# cost still verifies.
scrypt_cost = PRODUCTION_SCRYPT_COST


def hash_password(password: str) -> str:
    cost = scrypt_cost
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=64 * 1024 * 1024
    )
    encoded = base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()
    return f"scrypt${cost.n}${cost.r}${cost.p}${encoded}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected, actual)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Checked when the account does not exist, so both paths cost the same."""
    return hash_password(secrets.token_urlsafe(16))


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or any(c.isspace() for c in email) or len(email) > 320:
        raise AdminError(f"{email!r} is not an email address")
    return email


def check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise AdminError(f"the password must have at least {PASSWORD_MIN} characters")


def add_admin(
    email: str, password: str | None, *, role: Role = Role.OWNER, session: Session
) -> Admin:
    """A new active admin with ``role``; without ``password``, an invited one who sets
    theirs through a link."""
    email = normalise_email(email)
    if password is not None:
        check_password(password)
    if session.scalar(select(Admin.id).where(Admin.email == email)) is not None:
        raise AdminError(f"an admin {email} already exists")
    stored = NO_PASSWORD + secrets.token_hex(16) if password is None else hash_password(password)
    admin = Admin(email=email, password_hash=stored, active=True, role=role.value)
    session.add(admin)
    session.flush()
    return admin


def has_password(admin: Admin) -> bool:
    """False for an admin invited who has not yet chosen a password."""
    return not admin.password_hash.startswith(NO_PASSWORD)


def set_password(admin: Admin, password: str) -> None:
    """A new password: every session and every emailed password link of the admin stop
    working (both carry a fingerprint of the old hash)."""
    check_password(password)
    admin.password_hash = hash_password(password)


def fingerprint(key: str, admin: Admin, purpose: str = "") -> str:
    """A keyed digest of the admin's password hash and session generation, which changes
    when either does; ``purpose`` keeps a link's from matching a session's."""
    material = f"{admin.password_hash}\0{admin.session_generation or 0}".encode()
    if purpose:
        material = purpose.encode() + b"\0" + material
    return hmac.new(key.encode(), material, hashlib.sha256).hexdigest()[:16]


def list_admins(*, session: Session) -> list[Admin]:
    return list(session.scalars(select(Admin).order_by(Admin.email)))


def active_owners(*, session: Session) -> int:
    return (
        session.scalar(select(func.count()).where(Admin.active, Admin.role == Role.OWNER.value))
        or 0
    )


def authenticate(email: str, password: str, *, now: datetime, session: Session) -> Admin | None:
    """The admin if the password is right; None otherwise (same cost either way)."""
    admin = session.scalar(select(Admin).where(Admin.email == email.strip().lower()))
    if admin is None or not admin.active:
        verify_password(password, _dummy_hash())
        return None
    if not verify_password(password, admin.password_hash):
        return None
    admin.last_login_at = now
    return admin


def end_sessions(admin_id: int, *, session: Session) -> None:
    """End every web session of this admin (all browsers): sessions carry the generation
    they began in (staff/console/session.py). Atomic in the database."""
    session.execute(
        update(Admin)
        .where(Admin.id == admin_id)
        .values(session_generation=Admin.session_generation + 1)
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(admin: Admin, *, name: str, session: Session) -> str:
    """A new API token for ``admin``; shown once, only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(AdminToken(admin_id=admin.id, name=name[:100], token_hash=_token_hash(token)))
    session.flush()
    return token


def admin_for_token(token: str, *, now: datetime, session: Session) -> Admin | None:
    row = session.execute(
        select(AdminToken, Admin)
        .join(Admin, Admin.id == AdminToken.admin_id)
        .where(AdminToken.token_hash == _token_hash(token), AdminToken.revoked_at.is_(None))
    ).first()
    if row is None or not row[1].active:
        return None
    row[0].last_used_at = now
    return row[1]


def revoke_tokens(admin: Admin, *, now: datetime, session: Session) -> int:
    tokens = session.scalars(
        select(AdminToken).where(AdminToken.admin_id == admin.id, AdminToken.revoked_at.is_(None))
    ).all()
    for token in tokens:
        token.revoked_at = now
    return len(tokens)


def get_admin(email: str, *, session: Session) -> Admin:
    admin = session.scalar(select(Admin).where(Admin.email == email.strip().lower()))
    if admin is None:
        raise AdminError(f"no admin {email}")
    return admin


def audit(
    actor: str,
    action: str,
    *,
    now: datetime,
    session: Session,
    target: str = "",
    ip: str = "",
    **detail: Any,
) -> None:
    """Record an admin action (login, approve, cancel, subscriber removal, ...)."""
    session.add(
        AuditEntry(
            at=now, actor=actor, action=action, target=target[:300], ip=ip[:64], detail=detail
        )
    )


def os_user() -> str:
    """The operating-system user running this process (recorded for every CLI action)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"


def recent_audit(*, session: Session, limit: int = 100) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))
