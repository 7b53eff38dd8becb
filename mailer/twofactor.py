"""The admins' second factor: TOTP (RFC 6238, 30-second steps, 6 digits, pyotp) with ten
single-use recovery codes.

Enrolment stores a new secret, shows it (text, ``otpauth://`` URI and a QR code drawn as
SVG on the server) and enables it only once the admin typed a code it makes. A code is
accepted for the step before, the current one and the one after (clock drift), and only
once: the step of the last accepted code is stored, and a code of that step or an earlier
one is refused (a conditional update, so two requests cannot both use it). Recovery codes
are shown once and only their SHA-256 is stored. The caller passes ``now``, so tests can
freeze the clock; secrets and codes are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

import pyotp
import segno
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from mailer.models import Admin, RecoveryCode

ISSUER = "R2P news admin"
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def new_secret() -> str:
    return pyotp.random_base32()


def otpauth_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of ``uri`` as an inline SVG element (dark on white in either theme)."""
    svg: str = segno.make(uri, error="m").svg_inline(
        scale=4, dark="#000", light="#fff", omitsize=False
    )
    return svg


def _digits(code: str) -> str:
    return re.sub(r"[\s-]", "", code)


def start(admin: Admin) -> str:
    """Begin (or begin again) enrolment: a new secret, not yet asked for at login."""
    admin.totp_secret = new_secret()
    admin.totp_enabled_at = None
    admin.totp_last_step = None
    return admin.totp_secret


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step within the drift whose code ``code`` is, else None."""
    code = _digits(code)
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def accept_code(admin: Admin, code: str, *, now: datetime, session: Session) -> bool:
    """Whether ``code`` is a right code never accepted before; records its step."""
    if admin.totp_secret is None:
        return False
    step = matching_step(admin.totp_secret, code, now)
    if step is None:
        return False
    result = session.execute(
        update(Admin)
        .where(
            Admin.id == admin.id,
            (Admin.totp_last_step.is_(None)) | (Admin.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if int(result.rowcount) != 1:  # type: ignore[attr-defined]
        return False
    admin.totp_last_step = step
    return True


def enabled(admin: Admin) -> bool:
    return admin.totp_secret is not None and admin.totp_enabled_at is not None


def _code_hash(code: str) -> str:
    return hashlib.sha256(_digits(code).lower().encode()).hexdigest()


def new_recovery_codes(admin: Admin, *, now: datetime, session: Session) -> list[str]:
    """Ten new codes (``xxxxx-xxxxx``) replacing any earlier ones; shown once."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.admin_id == admin.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    session.add_all(
        RecoveryCode(admin_id=admin.id, code_hash=_code_hash(code), created_at=now)
        for code in codes
    )
    session.flush()
    return codes


def use_recovery_code(admin: Admin, code: str, *, now: datetime, session: Session) -> bool:
    """Spend one of the admin's unused recovery codes; False if it is not one."""
    result = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.admin_id == admin.id,
            RecoveryCode.code_hash == _code_hash(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def recovery_codes_left(admin_id: int, *, session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                RecoveryCode.admin_id == admin_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def enable(admin: Admin, code: str, *, now: datetime, session: Session) -> list[str] | None:
    """Confirm enrolment with a code of the new secret: the recovery codes, or None
    when the code is wrong."""
    if not accept_code(admin, code, now=now, session=session):
        return None
    admin.totp_enabled_at = now
    return new_recovery_codes(admin, now=now, session=session)


def disable(admin: Admin, *, session: Session) -> None:
    """Forget the secret and the recovery codes: the admin logs in with a password alone
    (and, where 2FA is required, enrols again)."""
    admin.totp_secret = None
    admin.totp_enabled_at = None
    admin.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.admin_id == admin.id))
