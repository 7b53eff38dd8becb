"""Admin password hashes: production's scrypt cost, and verification by the cost a stored
hash carries (the suite hashes at a lower cost, see tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mailer import admins
from mailer.admins import PRODUCTION_SCRYPT_COST, ScryptCost, hash_password, verify_password
from tests.conftest import TEST_SCRYPT_COST

PASSWORD = "correct horse battery staple"


def test_a_fresh_process_hashes_passwords_at_the_production_cost() -> None:
    assert ScryptCost(n=2**15, r=8, p=1) == PRODUCTION_SCRYPT_COST
    code = "from mailer.admins import hash_password; print(hash_password('x' * 12))"
    stored = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert stored.startswith("scrypt$32768$8$1$"), stored
    assert verify_password("x" * 12, stored)


def test_the_suite_hashes_at_its_low_cost_and_those_hashes_verify() -> None:
    assert admins.scrypt_cost == TEST_SCRYPT_COST != PRODUCTION_SCRYPT_COST
    stored = hash_password(PASSWORD)
    assert stored.startswith("scrypt$16$8$1$"), stored
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + "!", stored)


def test_a_hash_verifies_by_its_own_cost_whatever_new_hashes_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cheap = hash_password(PASSWORD)
    monkeypatch.setattr(admins, "scrypt_cost", ScryptCost(n=2**5, r=4, p=2))
    other = hash_password(PASSWORD)
    assert other.startswith("scrypt$32$4$2$"), other
    assert verify_password(PASSWORD, cheap) and verify_password(PASSWORD, other)
    assert not verify_password(PASSWORD, other.replace("scrypt$32$4$2$", "scrypt$16$8$1$"))
