"""Admin login limits (issue 12, attack 3): only failures count, per (account, network)
and per network; an account under attack answers slower, never refuses the right
password from a network that has not failed; and one bucket per IPv4 client behind a
dual-stack proxy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from mailer.web.ratelimit import client_key
from staff.console.login import Backoff, LoginLimits
from tests.conftest import Db
from tests.support.browser import Reader, Site
from tests.support.console import BRUNO, admin_site, audit_actions, login
from tests.support.factories import AMINA, PASSWORD

NETWORK_A = "203.0.113.7"
NETWORK_B = "198.51.100.20"
WRONG = "guess-guess-guess"
# Fast for tests: the backoff policy itself is checked on its own below.
QUICK = Backoff(base=timedelta(milliseconds=1), cap=timedelta(milliseconds=5))


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    # Over real HTTP: the client's address is the socket's, X-Forwarded-For trusted by
    # uvicorn from loopback, as behind the production proxy.
    with admin_site(db, AMINA, BRUNO, live=True) as site:
        limits = LoginLimits.from_settings(site.settings, site.factory, backoff=QUICK)
        site.server.app.state.admin_login_limits = limits
        yield site


def from_network(site: Site, address: str) -> Reader:
    """A client seen at ``address`` (uvicorn trusts X-Forwarded-For from loopback)."""
    return site.reader(**{"X-Forwarded-For": address})


def test_an_attacker_cannot_lock_the_real_admin_out(site: Site) -> None:
    attacker = from_network(site, NETWORK_A)
    answers = [login(attacker, AMINA, WRONG).status_code for _ in range(50)]
    limit = site.settings.login_rate_limit
    assert answers[:limit] == [401] * limit
    assert set(answers[limit:]) == {429}
    # The real admin, from a network that has not failed, logs in at the first try.
    admin = from_network(site, NETWORK_B)
    assert login(admin, AMINA, PASSWORD).status_code == 303
    assert admin.get("/admin").status_code == 200
    # The attacker is still refused, even with the right password: no verdict leaks.
    assert login(attacker, AMINA, PASSWORD).status_code == 429
    assert login(attacker, AMINA, WRONG).status_code == 429


def test_refused_attempts_check_no_password(site: Site) -> None:
    attacker = from_network(site, NETWORK_A)
    for _ in range(site.settings.login_rate_limit + 10):
        login(attacker, AMINA, WRONG)
    failed = [a for a in audit_actions(site) if a[1] == "login.failed"]
    assert len(failed) == site.settings.login_rate_limit


def test_the_admin_on_the_attacked_network_is_limited_as_designed(site: Site) -> None:
    attacker = from_network(site, NETWORK_A)
    for _ in range(site.settings.login_rate_limit):
        assert login(attacker, AMINA, WRONG).status_code == 401
    colleague = from_network(site, NETWORK_A)
    # This account from this network has failed too often: refused for the window ...
    assert login(colleague, AMINA, PASSWORD).status_code == 429
    # ... while another account on the same network (below the network limit) is not.
    assert login(colleague, BRUNO, PASSWORD).status_code == 303


def test_successful_logins_never_count(site: Site) -> None:
    for _ in range(4 * site.settings.login_rate_limit + 3):
        assert login(from_network(site, NETWORK_A), AMINA, PASSWORD).status_code == 303
    assert login(from_network(site, NETWORK_A), BRUNO, PASSWORD).status_code == 303


def test_an_attack_from_many_networks_slows_the_account_but_lets_the_admin_in(
    site: Site,
) -> None:
    limit = site.settings.login_rate_limit
    for n in range(6):
        attacker = from_network(site, f"192.0.2.{n + 1}")
        for _ in range(limit):
            assert login(attacker, AMINA, WRONG).status_code == 401
    limits: LoginLimits = site.server.app.state.admin_login_limits
    assert limits.failures(AMINA) == 6 * limit
    assert login(from_network(site, NETWORK_B), AMINA, PASSWORD).status_code == 303


def test_an_unknown_account_is_limited_exactly_like_a_real_one(site: Site) -> None:
    answers = {}
    for account in (AMINA, "nobody@r2p.example"):
        attacker = from_network(site, NETWORK_A if account == AMINA else NETWORK_B)
        answers[account] = [login(attacker, account, WRONG).status_code for _ in range(8)]
    assert answers[AMINA] == answers["nobody@r2p.example"]


def test_the_backoff_grows_with_failures_up_to_its_cap() -> None:
    backoff = Backoff(base=timedelta(seconds=1), cap=timedelta(seconds=8))
    delays = [backoff.delay(failures, free=5) for failures in range(0, 14)]
    assert delays[:5] == [timedelta(0)] * 5
    assert delays[5:10] == [timedelta(seconds=s) for s in (1, 2, 4, 8, 8)]
    assert max(delays) == timedelta(seconds=8)
    assert backoff.delay(10**6, free=5) == timedelta(seconds=8)


def test_an_ipv4_client_behind_a_dual_stack_proxy_has_a_bucket_of_its_own(site: Site) -> None:
    per_network = 4 * site.settings.login_rate_limit
    plain = from_network(site, "203.0.113.9")
    mapped = from_network(site, "::ffff:203.0.113.9")
    # Failures on many accounts: only the per-network limit applies.
    for n in range(per_network):
        reader = plain if n % 2 else mapped
        assert login(reader, f"guess{n}@r2p.example", WRONG).status_code == 401
    # Both forms of the address are one client, now refused ...
    assert login(plain, AMINA, PASSWORD).status_code == 429
    assert login(mapped, AMINA, PASSWORD).status_code == 429
    # ... and another IPv4 client behind the same proxy is not.
    assert login(from_network(site, "::ffff:198.51.100.20"), AMINA, PASSWORD).status_code == 303


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("::FFFF:102:304", "1.2.3.4"),
        ("1.2.3.4", "1.2.3.4"),
        ("2002:102:304::1", "1.2.3.4"),  # 6to4
        ("64:ff9b::102:304", "1.2.3.4"),  # NAT64 well-known prefix
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("", "unknown"),
    ],
)
def test_client_keys_put_an_ipv4_client_in_one_bucket(host: str, key: str) -> None:
    assert client_key(host) == key
