"""Durations need a unit: a bare number is an error that shows the accepted forms, on the
command line (`purge --older-than 14` deleted a minute-old signup, `alert create --expires 6`
made an alert that expired in 6 s) and in R2P_* settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.config import load_settings
from mailer.durations import parse_duration
from mailer.errors import ConfigError
from mailer.models import Campaign, Subscriber
from tests.conftest import Db
from tests.support.running import invoke

FORMS = "90s, 15m, 12h, 14d, 2w"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("12h", timedelta(hours=12)),
        ("14d", timedelta(days=14)),
        ("2w", timedelta(weeks=2)),
        (" 1.5H ", timedelta(minutes=90)),
        (timedelta(hours=1), timedelta(hours=1)),
    ],
)
def test_durations_with_a_unit(text: str | timedelta, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bare", ["14", "6", " 30 ", "1.5", 14, 6.0])
def test_a_bare_number_is_refused_showing_the_forms(bare: str | int | float) -> None:
    with pytest.raises(ValueError, match="needs a unit") as caught:
        parse_duration(bare)
    assert FORMS in str(caught.value)


def test_purge_older_than_a_bare_number_deletes_nothing(cli_env: Db) -> None:
    assert invoke("subscribers", "add", "new@example.org")[0] == 0
    code, output = invoke("subscribers", "purge", "--older-than", "14")
    assert code == 2 and "needs a unit" in output and FORMS in output, output
    with cli_env.factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 1


def test_alert_expires_as_a_bare_number_creates_nothing(cli_env: Db, tmp_path: Path) -> None:
    body = tmp_path / "body.txt"
    body.write_text("Act now.")
    code, output = invoke(
        "alert", "create", "--subject", "S", "--body-file", str(body), "--expires", "6"
    )
    assert code == 2 and "--expires" in output and FORMS in output, output
    with cli_env.factory() as session:
        assert session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_a_bare_number_in_a_setting_is_a_settings_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("R2P_POLL_EVERY", "900")
    with pytest.raises(ConfigError, match="R2P_POLL_EVERY") as caught:
        load_settings()
    assert FORMS in str(caught.value)
    monkeypatch.setenv("R2P_POLL_EVERY", "15m")
    assert load_settings().poll_every == timedelta(minutes=15)


def test_the_help_of_duration_options_names_the_forms() -> None:
    for command in (("subscribers", "purge"), ("alert", "create")):
        code, output = invoke(*command, "--help")
        assert code == 0 and "14d" in output.replace("\n", " "), command
