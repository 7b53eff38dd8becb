"""The form's guards on their own: CSRF tokens and the per-network signup limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from subscribers import csrf
from subscribers.ratelimit import RateLimiter, client_key

KEY = "test-secret-key-not-for-production"


def test_a_csrf_token_is_valid_only_for_its_own_cookie() -> None:
    cookie = csrf.new_cookie_value()
    token = csrf.form_token(KEY, cookie)
    assert csrf.check(KEY, cookie, token)
    assert not csrf.check(KEY, csrf.new_cookie_value(), token)
    assert not csrf.check(KEY, None, token)
    assert not csrf.check(KEY, cookie, None)
    assert not csrf.check(KEY, cookie, "")
    assert not csrf.check("another-key-entirely", cookie, token)
    assert not csrf.check(KEY, cookie, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))


def test_a_csrf_token_signed_for_another_purpose_is_refused() -> None:
    cookie = csrf.new_cookie_value()
    other = URLSafeTimedSerializer(KEY, salt="r2p-mailer/unsubscribe").dumps(cookie)
    assert not csrf.check(KEY, cookie, other)


def test_a_stale_csrf_token_is_refused() -> None:
    class Yesterday(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(datetime.now(UTC).timestamp() - csrf.MAX_AGE.total_seconds() - 60)

    cookie = csrf.new_cookie_value()
    stale = URLSafeTimedSerializer(KEY, salt="r2p-mailer/csrf", signer=Yesterday).dumps(cookie)
    assert not csrf.check(KEY, cookie, stale)


def test_the_limiter_allows_n_per_window_then_refuses_until_the_window_moves() -> None:
    limiter = RateLimiter(3, timedelta(hours=1))
    start = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert [limiter.allow("1.2.3.4", start + timedelta(minutes=i)) for i in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert limiter.allow("5.6.7.8", start)
    assert not limiter.allow("1.2.3.4", start + timedelta(minutes=59))
    assert limiter.allow("1.2.3.4", start + timedelta(hours=1, seconds=1))


def test_ipv6_clients_count_per_64_block() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key(None) == "unknown"
