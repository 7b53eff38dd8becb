"""The second factor: a TOTP code is accepted within one step of drift and only once,
recovery codes are stored hashed and work once, and the QR code is plain SVG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import select

from mailer import twofactor
from mailer.admins import add_admin
from mailer.models import Admin, RecoveryCode
from tests.conftest import Db
from tests.support.factories import AMINA, PASSWORD

NOW = datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)


def enrolled(db: Db) -> tuple[int, str]:
    with db.session() as session:
        admin = add_admin(AMINA, PASSWORD, session=session)
        secret = twofactor.start(admin)
        session.commit()
        return admin.id, secret


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def wrong_code(secret: str) -> str:
    """A code of none of the steps accepted at NOW."""
    right = {code_at(secret, NOW + timedelta(seconds=s)) for s in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in right)


def test_a_code_is_accepted_once_and_never_replayed(db: Db) -> None:
    admin_id, secret = enrolled(db)
    code = code_at(secret, NOW)
    with db.session() as session:
        admin = session.get_one(Admin, admin_id)
        assert twofactor.accept_code(admin, code, now=NOW, session=session)
        session.commit()
    with db.session() as session:
        admin = session.get_one(Admin, admin_id)
        assert not twofactor.accept_code(
            admin, code, now=NOW + timedelta(seconds=5), session=session
        )
        earlier = code_at(secret, NOW - timedelta(seconds=30))
        assert not twofactor.accept_code(admin, earlier, now=NOW, session=session)
        later = code_at(secret, NOW + timedelta(seconds=30))
        assert twofactor.accept_code(admin, later, now=NOW + timedelta(seconds=30), session=session)


def test_a_code_is_accepted_one_step_either_side_and_not_further(db: Db) -> None:
    _, secret = enrolled(db)
    for offset, expected in ((-30, True), (30, True), (-90, False), (90, False)):
        step = twofactor.matching_step(
            secret, code_at(secret, NOW + timedelta(seconds=offset)), NOW
        )
        assert (step is not None) is expected, offset
    assert twofactor.matching_step(secret, "12345", NOW) is None
    assert twofactor.matching_step(secret, "abcdef", NOW) is None


def test_a_code_may_be_typed_with_spaces(db: Db) -> None:
    _, secret = enrolled(db)
    code = code_at(secret, NOW)
    assert twofactor.matching_step(secret, f"{code[:3]} {code[3:]}", NOW) is not None


def test_enabling_needs_a_right_code_and_gives_ten_recovery_codes_stored_hashed(db: Db) -> None:
    admin_id, secret = enrolled(db)
    with db.session() as session:
        admin = session.get_one(Admin, admin_id)
        assert (
            twofactor.enable(
                admin,
                wrong_code(secret),
                now=NOW,
                session=session,
            )
            is None
        )
        assert not twofactor.enabled(admin)
        codes = twofactor.enable(admin, code_at(secret, NOW), now=NOW, session=session)
        assert codes is not None and len(set(codes)) == 10
        assert twofactor.enabled(admin)
        session.commit()
        stored = list(session.scalars(select(RecoveryCode.code_hash)))
    assert len(stored) == 10
    assert not set(codes) & set(stored)


def test_a_recovery_code_works_once(db: Db) -> None:
    admin_id, secret = enrolled(db)
    with db.session() as session:
        admin = session.get_one(Admin, admin_id)
        codes = twofactor.enable(admin, code_at(secret, NOW), now=NOW, session=session)
        assert codes is not None
        assert twofactor.use_recovery_code(admin, codes[0].upper(), now=NOW, session=session)
        assert not twofactor.use_recovery_code(admin, codes[0], now=NOW, session=session)
        assert not twofactor.use_recovery_code(admin, "aaaaa-aaaaa", now=NOW, session=session)
        assert twofactor.recovery_codes_left(admin_id, session=session) == 9


def test_new_recovery_codes_replace_the_old_ones(db: Db) -> None:
    admin_id, secret = enrolled(db)
    with db.session() as session:
        admin = session.get_one(Admin, admin_id)
        old = twofactor.enable(admin, code_at(secret, NOW), now=NOW, session=session)
        assert old is not None
        new = twofactor.new_recovery_codes(admin, now=NOW, session=session)
        assert not twofactor.use_recovery_code(admin, old[0], now=NOW, session=session)
        assert twofactor.use_recovery_code(admin, new[0], now=NOW, session=session)


def test_disabling_forgets_the_secret_and_the_codes(db: Db) -> None:
    admin_id, secret = enrolled(db)
    with db.session() as session:
        admin = session.get_one(Admin, admin_id)
        twofactor.enable(admin, code_at(secret, NOW), now=NOW, session=session)
        twofactor.disable(admin, session=session)
        assert not twofactor.enabled(admin) and admin.totp_secret is None
        assert twofactor.recovery_codes_left(admin_id, session=session) == 0


def test_the_qr_code_is_svg_of_the_otpauth_uri_without_text() -> None:
    uri = twofactor.otpauth_uri(pyotp.random_base32(), "amina+<x>@r2p.example")
    assert uri.startswith("otpauth://totp/")
    assert "issuer=R2P" in uri
    svg = twofactor.qr_svg(uri)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<script" not in svg and "<text" not in svg and "amina" not in svg
