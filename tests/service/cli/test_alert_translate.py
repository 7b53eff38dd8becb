"""``r2p-mailer alert translate`` and ``alert show``: a translation added, replaced and
removed from the command line (audited, approvals cleared), every version shown, escaped
for the terminal, and refusals with the reason."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from mailer.models import AuditEntry
from tests.conftest import Db
from tests.support.running import cli


def test_a_translation_round_trips_on_the_command_line(cli_env: Db, tmp_path: Path) -> None:
    body = tmp_path / "body.txt"
    body.write_text("Civilians are trapped.")
    french = tmp_path / "fr.txt"
    french.write_text("Des civils sont pris au piège.\n\nLe Conseil doit agir.\x1b[2J")
    created = cli("alert", "create", "--subject", "El Fasher", "--body-file", str(body))
    assert created.exit_code == 0, created.output
    alert_id = created.output.strip()

    translate = ("alert", "translate", alert_id, "--language", "fr")
    saved = cli(*translate, "--subject", "Risque à El Fasher", "--body-file", str(french))
    assert saved.exit_code == 0, saved.output
    assert f"Alert {alert_id}: the fr translation saved." in saved.output
    again = cli(*translate, "--subject", "Risque à El Fasher", "--body-file", str(french))
    assert "nothing changed" in again.output

    shown = cli("alert", "show", alert_id)
    assert shown.exit_code == 0, shown.output
    assert "[en] El Fasher" in shown.output and "Civilians are trapped." in shown.output
    assert "[fr] Risque à El Fasher" in shown.output
    assert "Des civils sont pris au piège.\n\nLe Conseil doit agir." in shown.output
    assert "\x1b" not in shown.output
    status = cli("alert", "status", alert_id)
    assert "versions: en (original), fr" in status.output

    german = cli("alert", "translate", alert_id, "--language", "de", "--subject", "S")
    assert german.exit_code == 2 and "both --subject and --body-file" in german.output
    wrong = cli(
        "alert",
        "translate",
        alert_id,
        "--language",
        "de",
        "--subject",
        "S",
        "--body-file",
        str(body),
    )
    assert wrong.exit_code == 1 and "the language must be one of" in wrong.output
    both = cli(*translate, "--remove", "--subject", "S")
    assert both.exit_code == 2

    removed = cli(*translate, "--remove")
    assert removed.exit_code == 0 and "the fr translation removed" in removed.output
    assert "[fr]" not in cli("alert", "show", alert_id).output
    with cli_env.session() as session:
        actions = [
            e.action
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.action.startswith("alert.translat")
        ]
    assert actions == ["alert.translate", "alert.translation.remove"]
