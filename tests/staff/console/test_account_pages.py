"""/admin/accounts: every admin may read it, only owners see and use its buttons; a role
that does not allow an action gets the 403 page in the console and 403 JSON on the API;
an invitation leads, through its mailed link, to a password and a login."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from mailer.roles import Role
from tests.conftest import Db
from tests.support.accounts import add_staff, mailed_link
from tests.support.browser import Reader, Site
from tests.support.console import admin_site, audit_actions, compose, log_in, login, token_for
from tests.support.factories import AMINA, PASSWORD

BRUNO, CARLA = "bruno@r2p.example", "carla@r2p.example"
NEW_PASSWORD = "a brand new long password"


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db) as site:
        add_staff(db, bruno=Role.VIEWER)
        yield site


def admin_id(reader: Reader, email: str) -> str:
    page = reader.get("/admin/accounts").text
    match = re.search(rf"{re.escape(email)}.*?/admin/accounts/(\d+)/role", page, re.S)
    assert match, f"no buttons for {email}"
    return match.group(1)


def test_an_owner_sees_every_account_and_its_buttons(site: Site) -> None:
    page = log_in(site).get("/admin/accounts")
    assert page.status_code == 200
    assert AMINA in page.text and BRUNO in page.text
    assert "Invite an admin" in page.text and "Deactivate" in page.text


def test_a_viewer_reads_the_list_without_buttons_and_cannot_act(site: Site) -> None:
    owner = log_in(site)
    target = admin_id(owner, AMINA)
    viewer = log_in(site, BRUNO)
    page = viewer.get("/admin/accounts")
    assert page.status_code == 200 and AMINA in page.text
    assert "Invite an admin" not in page.text and "Deactivate" not in page.text
    assert "New alert" not in viewer.get("/admin").text
    refused = viewer.post(f"/admin/accounts/{target}/deactivate", {}, token_from="/admin/accounts")
    assert refused.status_code == 403
    assert "needs the owner role" in refused.text
    assert compose(viewer).status_code == 403


def test_the_api_answers_403_json_to_a_role_that_may_not(db: Db, site: Site) -> None:
    token = token_for(db, BRUNO)
    reader = site.reader(authorization=f"Bearer {token}")
    response = reader.http.post("/api/alerts", json={"subject": "El Fasher", "body": "Act now."})
    assert response.status_code == 403
    assert response.json()["detail"].endswith("needs the editor role or higher")


def test_an_owner_changes_a_role_and_it_applies_at_once(site: Site) -> None:
    owner, viewer = log_in(site), log_in(site, BRUNO)
    target = admin_id(owner, BRUNO)
    done = owner.post(
        f"/admin/accounts/{target}/role", {"role": "editor"}, token_from="/admin/accounts"
    )
    assert done.status_code == 303
    assert compose(viewer).status_code == 303
    assert (AMINA, "admin.role", BRUNO) in audit_actions(site)


def test_the_last_owner_is_kept(site: Site) -> None:
    owner = log_in(site)
    target = admin_id(owner, AMINA)
    refused = owner.post(
        f"/admin/accounts/{target}/role", {"role": "viewer"}, token_from="/admin/accounts"
    )
    assert refused.status_code == 409 and "last active owner" in refused.text


def test_deactivating_ends_their_session(site: Site) -> None:
    owner, viewer = log_in(site), log_in(site, BRUNO)
    target = admin_id(owner, BRUNO)
    assert (
        owner.post(
            f"/admin/accounts/{target}/deactivate", {}, token_from="/admin/accounts"
        ).status_code
        == 303
    )
    assert viewer.get("/admin").status_code == 303
    assert login(site.reader(), BRUNO, PASSWORD).status_code == 401
    assert "deactivated" in owner.get("/admin/accounts").text


def test_an_invitation_leads_to_a_password_and_a_login_once(site: Site) -> None:
    owner = log_in(site)
    sent = owner.post(
        "/admin/accounts/invite", {"email": CARLA, "role": "editor"}, token_from="/admin/accounts"
    )
    assert sent.status_code == 303
    link = mailed_link(site.settings, CARLA)
    invitee = site.reader()
    form = invitee.get(link)
    assert form.status_code == 200 and "Choose your password" in form.text
    differ = invitee.post(
        link, {"password": NEW_PASSWORD, "again": "something else"}, token_from=link
    )
    assert differ.status_code == 400 and "differ" in differ.text
    short = invitee.post(link, {"password": "short", "again": "short"}, token_from=link)
    assert short.status_code == 400 and "12 characters" in short.text
    done = invitee.post(link, {"password": NEW_PASSWORD, "again": NEW_PASSWORD}, token_from=link)
    assert done.status_code == 303
    assert invitee.get(link).status_code == 410
    assert login(site.reader(), CARLA, NEW_PASSWORD).status_code == 303
    assert (CARLA, "admin.password", CARLA) in audit_actions(site)


def test_a_password_reset_link_ends_the_old_password_when_used(site: Site) -> None:
    owner = log_in(site)
    target = admin_id(owner, BRUNO)
    assert (
        owner.post(f"/admin/accounts/{target}/reset", {}, token_from="/admin/accounts").status_code
        == 303
    )
    link = mailed_link(site.settings, BRUNO)
    reader = site.reader()
    assert "Set a new password" in reader.get(link).text
    assert (
        reader.post(
            link, {"password": NEW_PASSWORD, "again": NEW_PASSWORD}, token_from=link
        ).status_code
        == 303
    )
    assert login(site.reader(), BRUNO, PASSWORD).status_code == 401
    assert login(site.reader(), BRUNO, NEW_PASSWORD).status_code == 303


def test_a_password_form_without_its_csrf_token_changes_nothing(site: Site) -> None:
    owner = log_in(site)
    target = admin_id(owner, BRUNO)
    owner.post(f"/admin/accounts/{target}/reset", {}, token_from="/admin/accounts")
    link = mailed_link(site.settings, BRUNO)
    refused = site.reader().post(link, {"password": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert refused.status_code == 400
    assert login(site.reader(), BRUNO, PASSWORD).status_code == 303


def test_unlock_lets_a_refused_network_in_again(site: Site) -> None:
    for _ in range(site.settings.login_rate_limit):
        assert login(site.reader(), BRUNO, "wrong password!").status_code == 401
    assert login(site.reader(), BRUNO, PASSWORD).status_code == 429
    owner = log_in(site)
    page = owner.get("/admin/accounts").text
    assert f"{site.settings.login_rate_limit} failed logins" in page
    target = admin_id(owner, BRUNO)
    assert (
        owner.post(f"/admin/accounts/{target}/unlock", {}, token_from="/admin/accounts").status_code
        == 303
    )
    assert login(site.reader(), BRUNO, PASSWORD).status_code == 303


def test_only_owners_export_the_reader_list(site: Site) -> None:
    viewer = log_in(site, BRUNO)
    assert "Download CSV" not in viewer.get("/admin/subscribers").text
    refused = viewer.post("/admin/subscribers/export", {}, token_from="/admin/subscribers")
    assert refused.status_code == 403 and "needs the owner role" in refused.text
    assert "Download CSV" in log_in(site).get("/admin/subscribers").text
