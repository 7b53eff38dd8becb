"""The console's small parts on their own: session claims, safe redirects, how times read,
the compose form's helpers, and the Maildir reader."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from itsdangerous import URLSafeSerializer

from mailer.alerts import AlertError
from mailer.models import Admin
from staff.console import maildir
from staff.console import session as admin_session
from staff.console.alert_form import AlertForm, expiry_choices, unix_lines
from staff.console.auth import login_url, safe_next
from staff.console.timefmt import Clock, span

KEY = "test-signing-key"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(hours=8)
STORED_HASH = "scrypt$1$2$3$salt$digest"


def admin(password_hash: str = STORED_HASH) -> Admin:
    return Admin(id=7, email="amina@r2p.example", password_hash=password_hash, active=True)


def test_a_session_names_its_admin_and_when_it_began() -> None:
    claims = admin_session.read(KEY, admin_session.issue(KEY, admin(), NOW))
    assert claims is not None
    assert (claims.admin_id, claims.issued_at) == (7, NOW)
    assert admin_session.still_valid(KEY, claims, admin())


def test_a_session_expires_after_its_lifetime_and_never_comes_from_the_future() -> None:
    claims = admin_session.read(KEY, admin_session.issue(KEY, admin(), NOW))
    assert claims is not None
    assert not claims.expired(MAX_AGE, NOW + MAX_AGE - timedelta(seconds=1))
    assert claims.expired(MAX_AGE, NOW + MAX_AGE)
    assert not claims.expired(MAX_AGE, NOW - timedelta(seconds=30))  # small clock skew
    assert claims.expired(MAX_AGE, NOW - timedelta(minutes=5))


def test_a_session_signed_with_another_key_or_salt_is_no_session() -> None:
    assert admin_session.read("another-key", admin_session.issue(KEY, admin(), NOW)) is None
    other_salt = URLSafeSerializer(KEY, salt="r2p-mailer/csrf").dumps({"a": 7, "t": 1, "p": ""})
    assert admin_session.read(KEY, str(other_salt)) is None


@pytest.mark.parametrize(
    "payload", [[7, 1, "p"], {"a": "7", "t": 1, "p": "x"}, {"a": 7, "t": 1.5, "p": "x"}, {}]
)
def test_a_genuine_cookie_with_a_strange_payload_is_no_session(payload: object) -> None:
    value = URLSafeSerializer(KEY, salt=admin_session.SALT).dumps(payload)
    assert admin_session.read(KEY, str(value)) is None


def test_a_session_ends_with_a_new_password_or_another_admin() -> None:
    claims = admin_session.read(KEY, admin_session.issue(KEY, admin(), NOW))
    assert claims is not None
    assert not admin_session.still_valid(KEY, claims, admin("scrypt$new"))
    assert not admin_session.still_valid(KEY, claims, None)
    other = admin()
    other.id = 8
    assert not admin_session.still_valid(KEY, claims, other)


def test_a_session_ends_when_its_admin_logs_out() -> None:
    claims = admin_session.read(KEY, admin_session.issue(KEY, admin(), NOW))
    assert claims is not None
    logged_out = admin()
    logged_out.session_generation = 1
    assert not admin_session.still_valid(KEY, claims, logged_out)
    fresh = admin_session.read(KEY, admin_session.issue(KEY, logged_out, NOW))
    assert fresh is not None and admin_session.still_valid(KEY, fresh, logged_out)


def test_the_session_cookie_does_not_carry_the_password_hash() -> None:
    value = admin_session.issue(KEY, admin("scrypt$secret-digest"), NOW)
    assert "secret" not in value
    assert admin_session.fingerprint(KEY, admin()) != admin_session.fingerprint("other", admin())


@pytest.mark.parametrize(
    ("asked", "goes_to"),
    [
        ("/admin/alerts/12", "/admin/alerts/12"),
        ("/admin/digest/preview.html", "/admin/digest/preview.html"),
        ("/admin/login", "/admin"),
        ("/admin/../subscribe", "/admin"),
        ("/admin/.hidden", "/admin"),
        ("//evil.example", "/admin"),
        ("/admin\n", "/admin"),
        ("/admin/audit\r\nSet-Cookie: x=1", "/admin"),
        ("https://evil.example/admin", "/admin"),
        ("/administrator", "/admin"),
        ("/admin?x=1", "/admin"),
        ("", "/admin"),
    ],
)
def test_after_login_only_admin_pages_are_reachable(asked: str, goes_to: str) -> None:
    assert safe_next(asked) == goes_to


def test_the_login_url_carries_where_to_go_and_why() -> None:
    assert login_url() == "/admin/login"
    assert login_url("/admin/audit", expired=True) == "/admin/login?next=%2Fadmin%2Faudit&expired=1"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=42), "42 s"),
        (timedelta(minutes=12, seconds=40), "12 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(hours=11, minutes=59, seconds=59), "11 h 59 min"),
        (timedelta(days=2), "2 d"),
        (timedelta(days=2, hours=4, minutes=3), "2 d 4 h"),
    ],
)
def test_durations_read_at_a_glance(delta: timedelta, text: str) -> None:
    assert span(delta) == text


def test_times_are_shown_in_utc_with_how_long_ago_or_how_soon() -> None:
    clock = Clock(NOW)
    assert clock.when(NOW) == "23 Nov 2026, 12:00 UTC"
    assert clock.relative(NOW - timedelta(minutes=5)) == "5 min ago"
    assert clock.relative(NOW + timedelta(hours=12)) == "in 12 h"
    assert clock.when(None) == clock.relative(None) == "never"


def test_the_expiry_choices_include_the_configured_default_in_order() -> None:
    choices = expiry_choices(timedelta(hours=12))
    assert ("43200", "12 h") in choices
    odd = expiry_choices(timedelta(hours=5))
    assert [value for value, _ in odd] == sorted((value for value, _ in odd), key=int)
    assert ("18000", "5 h") in odd


def test_the_form_reads_the_expiry_as_whole_seconds() -> None:
    assert AlertForm(expires="3600").lifetime() == timedelta(hours=1)
    # Any number of seconds: the limit is staff.actions.alerts.lifetime's, for every front end.
    assert AlertForm(expires="3601").lifetime() == timedelta(seconds=3601)
    for bad in ("", "-3600", "1e9", "12h", "\u0663\u0666\u0660\u0660"):
        with pytest.raises(AlertError, match="from the list"):
            AlertForm(expires=bad).lifetime()


def test_the_form_keeps_topics_only_for_a_topic_audience() -> None:
    chosen = frozenset({"sudan", "genocide"})
    assert AlertForm(audience="all", topics=chosen).draft().topics == ()
    assert AlertForm(audience="topics", topics=chosen).draft().topics == (
        "genocide",
        "sudan",
    )


def test_line_breaks_from_browsers_become_newlines() -> None:
    assert unix_lines("One\r\n\r\nTwo\rThree") == "One\n\nTwo\nThree"


def test_a_missing_maildir_reads_as_empty(tmp_path: Path) -> None:
    assert maildir.newest(tmp_path / "mail") == ([], 0)
    assert maildir.read(tmp_path / "mail", "anything") is None


def test_the_maildir_lists_the_newest_first_and_reads_one(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "mail", create=True)
    keys = []
    for n in range(3):
        message = mailbox.MaildirMessage(
            f"To: r{n}@example.org\nSubject: number {n}\nDate: today\n\nbody {n}\n".encode()
        )
        keys.append(box.add(message))
    listed, total = maildir.newest(tmp_path / "mail", limit=2)
    assert total == 3 and len(listed) == 2
    assert {e.subject for e in listed} <= {"number 0", "number 1", "number 2"}
    one = maildir.read(tmp_path / "mail", keys[1])
    assert one is not None and one.envelope.to == "r1@example.org"
    assert one.text == "body 1\n" and one.html == ""
