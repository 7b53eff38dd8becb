"""The report pages: a campaign with known deliveries, reports and unsubscribes shows the
right counts and timeline; the list, the dashboard's last issues, the CSV downloads
(formula-safe) and escaping."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from tests.conftest import Db
from tests.staff.test_reports import T0, known_campaign
from tests.support.browser import Reader
from tests.support.factories import add_readers, alert_campaign, set_campaign, set_deliveries

REPORTS = "/admin/reports"


def tiles(page: str) -> dict[str, str]:
    found = re.findall(
        r'<span class="tile-n">([^<]*)</span><span class="tile-label">([^<]*)<', page
    )
    return {label: n for n, label in found}


def stats(page: str) -> dict[str, str]:
    return dict(re.findall(r"<div><dt>([^<]*)</dt><dd>([^<]*)</dd></div>", page))


def test_a_report_shows_the_counts_of_known_deliveries(db: Db, reader: Reader) -> None:
    campaign, _ = known_campaign(db)
    response = reader.get(f"{REPORTS}/{campaign}")
    assert response.status_code == 200
    page = response.text
    assert tiles(page) == {
        "sent": "7",
        "failed": "1",
        "bounced": "2",
        "complaints": "1",
        "unsubscribed": "2",
    }
    assert stats(page) == {
        "Queued": "10",
        "Sent": "7",
        "Not bounced": "6",
        "Retried": "2",
        "Failed": "1",
        "Cancelled": "1",
        "Still waiting": "1",
    }
    assert "2 hard · 28.6 % of sent" in page and "1 needed a retry" not in page
    assert "2 needed a retry" in page
    # The timeline: six-hour slots from 09:00 on the day it began, each series its own chart.
    assert "<title>30 Nov 09:00–15:00 UTC, sent: 6</title>" in page
    assert "<title>30 Nov 15:00–21:00 UTC, sent: 1</title>" in page
    assert "<title>1 Dec 09:00–15:00 UTC, unsubscribes: 1</title>" in page
    assert page.count('<svg class="chart chart-report"') == 5
    assert "<script" not in page


def test_the_timeline_downloads_as_csv(db: Db, reader: Reader) -> None:
    campaign, _ = known_campaign(db)
    response = reader.get(f"{REPORTS}/{campaign}/timeline.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 29
    assert rows[0]["start"] == "2026-11-30T09:00:00+00:00"
    assert (rows[0]["sent"], rows[0]["failed"], rows[0]["bounced"]) == ("6", "1", "2")
    assert sum(int(row["unsubscribes"]) for row in rows) == 2


def test_the_list_and_its_csv_have_every_campaign_safely(db: Db, reader: Reader) -> None:
    campaign, _ = known_campaign(db)
    [anna] = add_readers(db, ["anna@example.org"])
    odd = alert_campaign(db, [anna], key="alert:odd", subject='=HYPERLINK("x")<b>bold</b>')
    set_deliveries(db, odd, [anna], status="sent", attempts=1, sent_at=T0 + timedelta(days=2))
    page = reader.get(REPORTS).text
    assert f'href="{REPORTS}/{campaign}"' in page and f'href="{REPORTS}/{odd}"' in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    rows = list(csv.DictReader(io.StringIO(reader.get(f"{REPORTS}.csv").text)))
    by_id = {row["campaign_id"]: row for row in rows}
    assert by_id[str(odd)]["subject"] == '\'=HYPERLINK("x")<b>bold</b>'
    known = by_id[str(campaign)]
    assert (known["sent"], known["delivered"], known["unsubscribes"]) == ("7", "6", "2")


def test_the_dashboard_shows_the_last_issues_side_by_side(db: Db, reader: Reader) -> None:
    campaign, _ = known_campaign(db)
    week = {"period": "2026-W49", "since": (T0 - timedelta(days=7)).isoformat()}
    set_campaign(db, campaign, kind="digest", context={**week, "until": T0.isoformat()})
    page = reader.get("/admin").text
    section = page[page.index('id="issues-title"') :]
    link = f'<a href="{REPORTS}/{campaign}"><span class="issue-year">2026-</span>W49</a>'
    assert link in section
    assert re.search(r'<th scope="row">Unsubscribes</th><td class="num">2</td>', section)
    assert re.search(r'<th scope="row">Bounced</th><td class="num">2</td>', section)


def test_no_report_for_a_draft_or_an_unknown_campaign(db: Db, reader: Reader) -> None:
    [anna] = add_readers(db, ["anna@example.org"])
    draft = alert_campaign(db, [anna], approve=False)
    assert reader.get(f"{REPORTS}/{draft}").status_code == 404
    assert reader.get(f"{REPORTS}/{draft + 1}/timeline.csv").status_code == 404


def test_reports_need_a_login(db: Db, reader: Reader) -> None:
    campaign, _ = known_campaign(db)
    stranger = Reader(reader.http.base_url.__str__())
    for path in (REPORTS, f"{REPORTS}.csv", f"{REPORTS}/{campaign}"):
        response = stranger.get(path)
        assert response.status_code in (303, 307) and "/admin/login" in response.headers["location"]
