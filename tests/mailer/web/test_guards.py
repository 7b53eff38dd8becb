"""The form's guards on their own: CSRF tokens and the shared rate limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from mailer.models import RateHit
from mailer.web import csrf
from mailer.web.ratelimit import RateLimiter, client_key, forget_old_hits
from tests.conftest import Db

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


def limiter(db: Db, limit: int = 3, bucket: str = "signup") -> RateLimiter:
    return RateLimiter(bucket, limit, timedelta(hours=1), factory=db.factory, secret=KEY)


def test_the_limiter_allows_n_per_window_then_refuses_until_the_window_moves(db: Db) -> None:
    signup = limiter(db)
    start = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert [signup.allow("1.2.3.4", start + timedelta(minutes=i)) for i in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert signup.allow("5.6.7.8", start)
    assert not signup.allow("1.2.3.4", start + timedelta(minutes=59))
    assert signup.allow("1.2.3.4", start + timedelta(hours=1, seconds=1))


def test_every_web_process_shares_one_count(db: Db) -> None:
    """Two limiters on one database, as in two `r2p-mailer web` processes."""
    first, second = limiter(db), limiter(db)
    start = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert first.allow("1.2.3.4", start) and second.allow("1.2.3.4", start)
    assert first.allow("1.2.3.4", start)
    assert not second.allow("1.2.3.4", start) and not first.allow("1.2.3.4", start)
    assert limiter(db, bucket="login-network").allow("1.2.3.4", start)  # buckets apart


def test_refused_attempts_store_nothing_and_no_address_is_stored(db: Db) -> None:
    signup = limiter(db, limit=2)
    start = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    for _ in range(50):
        signup.allow("198.51.100.7", start)
    with db.session() as session:
        hits = list(session.scalars(select(RateHit)))
    assert len(hits) == 2
    assert all("198.51" not in hit.key_hash and len(hit.key_hash) == 64 for hit in hits)


def test_old_attempts_are_forgotten(db: Db) -> None:
    signup = limiter(db)
    start = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    signup.allow("1.2.3.4", start)
    signup.allow("5.6.7.8", start + timedelta(hours=2))
    with db.session() as session:
        later = start + timedelta(hours=2, minutes=30)
        assert forget_old_hits(now=later, older_than=timedelta(hours=1), session=session) == 1
        session.commit()
        assert session.scalar(select(func.count()).select_from(RateHit)) == 1


def test_ipv6_clients_count_per_64_block() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key(None) == "unknown"
