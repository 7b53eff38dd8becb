"""``r2p-mailer reports``: the figures of known campaigns and one campaign's timeline, in
each format."""

from __future__ import annotations

import csv
import io
import json

from tests.conftest import Db
from tests.staff.test_reports import known_campaign
from tests.support.factories import add_readers, alert_campaign
from tests.support.running import cli, invoke


def test_reports_list_gives_each_campaigns_figures(cli_env: Db) -> None:
    campaign, _ = known_campaign(cli_env)
    [anna] = add_readers(cli_env, ["anna@example.org"])
    alert_campaign(cli_env, [anna], key="alert:draft", approve=False)
    code, output = invoke("reports", "list", "--format", "json")
    assert code == 0, output
    [record] = json.loads(output[output.index("[") : output.rindex("]") + 1])
    assert record["campaign_id"] == campaign and record["started_at"].startswith("2026-11-30")
    figures = {k: record[k] for k in ("queued", "sent", "delivered", "retried", "failed")}
    assert figures == {"queued": 10, "sent": 7, "delivered": 6, "retried": 2, "failed": 1}
    assert (record["bounced"], record["complaints"], record["unsubscribes"]) == (2, 1, 2)
    result = cli("reports", "list", "--kind", "digest", "--format", "csv")
    assert result.exit_code == 0 and result.stdout.startswith("campaign_id,kind,key,subject")
    assert len(result.stdout.splitlines()) == 1  # no digest: the header alone
    assert invoke("reports", "list", "--kind", "newsletter")[0] != 0


def test_reports_timeline_gives_each_slot(cli_env: Db) -> None:
    campaign, _ = known_campaign(cli_env)
    result = cli("reports", "timeline", str(campaign), "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 29 and rows[0]["sent"] == "6" and rows[1]["sent"] == "1"
    assert sum(int(row["complaints"]) for row in rows) == 1
    assert "7 sent, 1 failed, 2 bounced, 1 complaint(s), 2 unsubscribed" in result.stderr
    code, output = invoke("reports", "timeline", str(campaign + 1))
    assert code == 1 and f"no alert or digest issue {campaign + 1}" in output
