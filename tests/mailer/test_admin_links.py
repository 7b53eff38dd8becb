"""Password links for admins: signed, expiring, single-use, and only for an active admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailer.admin_links import AdminLinkError, LinkPurpose, make_link, read_link
from mailer.admins import add_admin, has_password, set_password, verify_password
from mailer.models import Admin
from tests.conftest import Db
from tests.support.factories import AMINA


def invited(db: Db) -> tuple[int, str]:
    settings = db.settings()
    with db.session() as session:
        admin = add_admin(AMINA, None, session=session)
        link = make_link(settings, admin, LinkPurpose.INVITE)
        session.commit()
        return admin.id, link.rsplit("/", 1)[1]


def test_an_invited_admin_has_no_password_that_works(db: Db) -> None:
    admin_id, _ = invited(db)
    with db.session() as session:
        admin = session.get_one(Admin, admin_id)
        assert not has_password(admin)
        assert not verify_password("", admin.password_hash)
        assert not verify_password(admin.password_hash, admin.password_hash)


def test_the_link_works_until_the_password_is_set_then_never_again(db: Db) -> None:
    admin_id, token = invited(db)
    settings = db.settings()
    now = datetime.now(UTC)
    with db.session() as session:
        admin, purpose = read_link(settings, token, now=now, session=session)
        assert (admin.id, purpose) == (admin_id, LinkPurpose.INVITE)
        set_password(admin, "a long new password")
        session.commit()
        assert has_password(admin)
        with pytest.raises(AdminLinkError, match="used already"):
            read_link(settings, token, now=now, session=session)


def test_the_link_expires(db: Db) -> None:
    _, token = invited(db)
    settings = db.settings(admin_invite_max_age="1h")
    later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
    with db.session() as session, pytest.raises(AdminLinkError, match="expired"):
        read_link(settings, token, now=later, session=session)


def test_a_tampered_link_or_another_key_is_refused(db: Db) -> None:
    _, token = invited(db)
    now = datetime.now(UTC)
    with db.session() as session:
        with pytest.raises(AdminLinkError, match="not valid"):
            read_link(db.settings(), token[:-2] + "xx", now=now, session=session)
        with pytest.raises(AdminLinkError, match="not valid"):
            read_link(
                db.settings(secret_key="another-key-entirely"), token, now=now, session=session
            )


def test_a_deactivated_admin_s_link_is_refused(db: Db) -> None:
    admin_id, token = invited(db)
    with db.session() as session:
        session.get_one(Admin, admin_id).active = False
        session.commit()
        with pytest.raises(AdminLinkError, match="not valid"):
            read_link(db.settings(), token, now=datetime.now(UTC), session=session)
