"""/admin/account/2fa: setting up shows the key, its URI and a QR code, a wrong code
changes nothing, the right one turns it on with ten recovery codes, and new codes
replace the old ones; starting again while it is on is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from mailer import twofactor
from mailer.admins import get_admin
from tests.conftest import Db
from tests.support.accounts import FROZEN, code_at
from tests.support.browser import Reader, Site
from tests.support.console import admin_site, log_in
from tests.support.factories import AMINA

PAGE = "/admin/account/2fa"


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db) as site:
        site.server.app.state.clock = lambda: FROZEN
        yield site


def codes_of(html: str) -> list[str]:
    return re.findall(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>", html)


def start(reader: Reader) -> str:
    assert reader.post(PAGE + "/start", {}, token_from=PAGE).status_code == 303
    page = reader.get(PAGE).text
    assert "<svg" in page and "otpauth://totp/" in page
    match = re.search(r'class="secret mono">([A-Z2-7]+)<', page)
    assert match
    return match.group(1)


def test_a_wrong_code_leaves_it_off_and_the_right_one_turns_it_on(db: Db, site: Site) -> None:
    reader = log_in(site)
    secret = start(reader)
    wrong = "000000" if code_at(secret, FROZEN) != "000000" else "111111"
    refused = reader.post(PAGE + "/confirm", {"code": wrong}, token_from=PAGE)
    assert refused.status_code == 400 and "not right" in refused.text
    done = reader.post(PAGE + "/confirm", {"code": code_at(secret, FROZEN)}, token_from=PAGE)
    assert done.status_code == 200 and len(codes_of(done.text)) == 10
    with db.session() as session:
        assert twofactor.enabled(get_admin(AMINA, session=session))
    again = reader.post(PAGE + "/start", {}, token_from=PAGE)
    assert again.status_code == 409 and "enabled already" in again.text


def test_new_recovery_codes_replace_the_old_ones(db: Db, site: Site) -> None:
    reader = log_in(site)
    secret = start(reader)
    first = codes_of(
        reader.post(PAGE + "/confirm", {"code": code_at(secret, FROZEN)}, token_from=PAGE).text
    )
    second = codes_of(reader.post(PAGE + "/codes", {}, token_from=PAGE).text)
    assert len(second) == 10 and not set(first) & set(second)
    with db.session() as session:
        admin = get_admin(AMINA, session=session)
        assert not twofactor.use_recovery_code(admin, first[0], now=FROZEN, session=session)
        assert twofactor.use_recovery_code(admin, second[0], now=FROZEN, session=session)
