"""Settings: R2P_* variables, sane defaults, and loud failures naming the variable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mailer.config import load_settings
from mailer.durations import parse_duration
from mailer.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(__import__("os").environ):
        if name.startswith("R2P_"):
            monkeypatch.delenv(name)


def test_it_defaults_to_a_sqlite_file_under_var(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.database == f"sqlite:///{tmp_path / 'var' / 'r2p-mailer.sqlite3'}"
    assert settings.allow_private_feeds is False
    assert settings.poll_every == timedelta(minutes=15)


def test_it_reads_r2p_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R2P_DATABASE_URL", "postgresql://u:p@db.example/r2p")
    monkeypatch.setenv("R2P_POLL_EVERY", "5m")
    monkeypatch.setenv("R2P_ALLOW_PRIVATE_FEEDS", "true")
    monkeypatch.setenv("R2P_BASE_URL", "https://r2p.example.org/")
    settings = load_settings()
    assert settings.database == "postgresql+psycopg://u:p@db.example/r2p"
    assert settings.poll_every == timedelta(minutes=5)
    assert settings.allow_private_feeds is True
    assert settings.base_url == "https://r2p.example.org"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("R2P_FEED_TIMEOUT", "soon"),
        ("R2P_FEED_MAX_BYTES", "-1"),
        ("R2P_ALLOW_PRIVATE_FEEDS", "perhaps"),
        ("R2P_DATABASE_URL", "mysql://root@localhost/r2p"),
        ("R2P_DATABASE_URL", "not a url"),
        ("R2P_BASE_URL", "ftp://example.org"),
        ("R2P_POLL_EVERY", "0"),
        ("R2P_ALERT_EXPIRES", "8d"),
        ("R2P_ALERT_EXPIRES", "0s"),
        ("R2P_SENDGRID_WEBHOOK_KEY", "not base64!"),
        # an Ed25519 public key: base64 DER, but not the ECDSA P-256 key SendGrid shows
        (
            "R2P_SENDGRID_WEBHOOK_KEY",
            "MCowBQYDK2VwAyEAu0j12o5ZMLdFYO8FZR5FQnWw+BbQuoAa7pi4VQbTaRg=",
        ),
        ("R2P_SES_SNS_TOPICS", "arn:aws:sns:eu-west-1:123456789012:ok, https://example.org"),
        ("R2P_SES_SNS_TOPICS", "arn:aws:sqs:eu-west-1:123456789012:a-queue"),
    ],
)
def test_a_bad_value_fails_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_a_bad_secret_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R2P_SECRET_KEY", "")
    monkeypatch.setenv("R2P_FEED_TIMEOUT", "x")
    with pytest.raises(ConfigError) as caught:
        load_settings(secret_key=["hunter2-secret"])
    assert "R2P_SECRET_KEY" in str(caught.value) and "hunter2" not in str(caught.value)


def test_without_a_secret_key_one_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = load_settings().signing_key
    assert len(first) >= 40
    assert load_settings().signing_key == first
    assert (tmp_path / "var" / "secret.key").stat().st_mode & 0o077 == 0


def test_durations_accept_units_and_refuse_nonsense() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("6h") == timedelta(hours=6)
    assert parse_duration("2d") == timedelta(days=2)
    for bad in ("", "-5m", "5 parsecs", "0", "30"):
        with pytest.raises(ValueError):
            parse_duration(bad)


@pytest.mark.parametrize(
    ("mail_from", "envelope", "domain"),
    [
        ("R2P Mailer <r2p-mailer@localhost>", "r2p-mailer@localhost", "localhost"),
        ("R2P <news@R2P.example.org>", "news@R2P.example.org", "r2p.example.org"),
        ('"R2P <news>, Geneva" <news@r2p.example.org>', "news@r2p.example.org", "r2p.example.org"),
        ("news@r2p.example.org", "news@r2p.example.org", "r2p.example.org"),
    ],
)
def test_the_envelope_sender_is_the_bare_address_of_mail_from(
    mail_from: str, envelope: str, domain: str
) -> None:
    settings = load_settings(_env_file=None, mail_from=mail_from)
    assert (settings.envelope_from, settings.mail_domain) == (envelope, domain)


def test_ses_topics_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "R2P_SES_SNS_TOPICS",
        " arn:aws:sns:eu-west-1:123456789012:a , arn:aws-cn:sns:cn-north-1:123456789012:b,",
    )
    assert load_settings().ses_topics == {
        "arn:aws:sns:eu-west-1:123456789012:a",
        "arn:aws-cn:sns:cn-north-1:123456789012:b",
    }
    monkeypatch.delenv("R2P_SES_SNS_TOPICS")
    assert load_settings().ses_topics == frozenset()
