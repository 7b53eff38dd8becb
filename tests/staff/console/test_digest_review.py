"""The draft digest in the console: every edit (remove, restore, move, lead, reword, note)
is one audited action that every reader's content follows; the note is Markdown without
HTML; approve waits for the slot, send now queues; a stale form changes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from mailer.digest import iso_period
from mailer.digest_draft import (
    editor_sections,
    latest_draft,
    prepare,
    preview_issue,
    review_state,
)
from mailer.digest_review import Edits
from mailer.models import Campaign, CampaignContent, Delivery
from staff.actions import digest
from staff.actions.actor import Actor
from tests.conftest import Db
from tests.support.browser import Reader, Site
from tests.support.console import admin_site, audit_actions, log_in
from tests.support.factories import AMINA, add_item, add_readers, add_source

PAGE = "/admin/digest/review"
TITLES = [
    "Killings reported in El Fasher",
    "Famine spreads in Gaza",
    "Displacement grows in eastern Chad",
    "Aid convoys blocked near Tawila",
]
COUNTRIES = ["sudan", "palestine", "chad", "sudan"]


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    add_readers(db, ["everything@example.org"])
    add_readers(db, ["sudan@example.org"], topics=["sudan"])
    source = add_source(db)
    for n, title in enumerate(TITLES):
        country = COUNTRIES[n]
        add_item(
            db,
            source,
            title,
            published_at=datetime.now(UTC) - timedelta(hours=3 + n),
            tags={"crimes": ["genocide"], "countries": [country], "r2p": True},
        )
    with admin_site(db) as site:
        with site.factory() as session:
            now = datetime.now(UTC)
            period = iso_period(now + timedelta(days=7))
            prepare(settings=site.settings, period=period, now=now, by="test", session=session)
            session.commit()
        yield site


def the_draft(site: Site) -> Campaign:
    with site.factory() as session:
        campaign = latest_draft(session=session)
        assert campaign is not None
        return campaign


def story_of(site: Site, title: str) -> int:
    with site.factory() as session:
        campaign = latest_draft(session=session)
        assert campaign is not None
        sections = editor_sections(campaign, settings=site.settings, session=session)
    [story] = [e["id"] for _, _, entries in sections for e in entries if e["title"] == title]
    return int(story)


def press(reader: Reader, path: str, **data: str) -> int:
    response = reader.post(f"{PAGE}/{the_draft_id(reader)}{path}", data, token_from=PAGE)
    assert response.status_code == 303, response.text
    return response.status_code


def the_draft_id(reader: Reader) -> int:
    page = reader.get(PAGE).text
    marker = 'action="/admin/digest/review/'
    start = page.index(marker) + len(marker)
    return int(page[start : page.index("/", start)])


def reader_text(site: Site, topics: list[str]) -> str:
    """The plain text every reader with ``topics`` gets, as the worker renders it."""
    campaign = the_draft(site)
    with site.factory() as session:
        rendered = preview_issue(campaign, topics, settings=site.settings, session=session)
    assert rendered is not None
    return rendered.text


def test_each_edit_is_audited_and_reaches_every_reader(site: Site) -> None:
    reader = log_in(site)
    fasher, gaza, chad, _tawila = (story_of(site, t) for t in TITLES)
    press(reader, f"/stories/{gaza}", action="remove")
    press(reader, f"/stories/{chad}", action="lead")
    press(reader, "/words", story=str(fasher), title="El Fasher: a new warning", summary="")
    press(reader, "/words", note="Read [our statement](https://example.org/s) <script>x</script>")

    text = reader_text(site, [])
    assert "Famine spreads in Gaza" not in text
    assert text.index("Displacement grows in eastern Chad") < text.index("El Fasher: a new")
    assert "Read [our statement](https://example.org/s)" in text
    assert reader_text(site, ["sudan"]).count("El Fasher: a new warning") == 1
    edits = Edits.of(the_draft(site).context)
    assert edits.removed == {gaza} and edits.lead == chad
    assert the_draft(site).subject == "Displacement grows in eastern Chad, and 2 more"
    actions = [a for _, a, _ in audit_actions(site) if a.startswith("digest.")]
    assert actions == ["digest.remove", "digest.lead", "digest.reword", "digest.note"]

    press(reader, f"/stories/{gaza}", action="restore")
    assert "Famine spreads in Gaza" in reader_text(site, [])


def test_the_note_is_markdown_without_html(site: Site) -> None:
    reader = log_in(site)
    press(reader, "/words", note="See **this** [report](https://example.org/r).\n\n<b>raw</b>")
    frame = reader.get(f"{PAGE}/preview.html").text
    assert "<strong>this</strong>" in frame
    assert re.search(
        r'<a href="https://example.org/r" rel="noopener noreferrer nofollow"[^>]*>report</a>', frame
    )
    assert "<b>raw</b>" not in frame and "&lt;b&gt;raw&lt;/b&gt;" in frame


def test_moving_a_story_swaps_it_with_its_neighbour_in_its_section(site: Site) -> None:
    reader = log_in(site)
    tawila = story_of(site, TITLES[3])
    before = reader_text(site, ["sudan"])
    assert before.index("El Fasher") < before.index("Tawila")  # newest first
    press(reader, f"/stories/{tawila}", action="up")
    after = reader_text(site, ["sudan"])
    assert after.index("Tawila") < after.index("El Fasher")
    press(reader, f"/stories/{tawila}", action="up")  # first in its section: no change
    assert reader_text(site, ["sudan"]) == after


def test_approve_waits_for_the_slot_and_send_now_queues(site: Site) -> None:
    reader = log_in(site)
    press(reader, "/approve")
    assert review_state(the_draft(site)) == "approved"
    with site.factory() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    press(reader, "/send")
    with site.factory() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 2
        assert session.scalar(select(Campaign.status).where(Campaign.kind == "digest")) == (
            "sending"
        )
    assert reader.get(PAGE).status_code == 200  # no draft left: a message, not an error
    actions = [a for _, a, _ in audit_actions(site) if a.startswith("digest.")]
    assert actions == ["digest.approve", "digest.send_now"]


def test_a_stale_form_changes_nothing(site: Site) -> None:
    reader = log_in(site)
    draft_id = the_draft_id(reader)
    response = reader.post(f"{PAGE}/{draft_id}/approve", {"csrf_token": "stale"})
    assert response.status_code == 400
    assert review_state(the_draft(site)) == "in review"
    assert [a for _, a, _ in audit_actions(site) if a.startswith("digest.")] == []


def test_the_dashboard_says_when_the_issue_goes_out_and_its_state(site: Site) -> None:
    reader = log_in(site)
    page = reader.get("/admin").text
    assert "Review the draft" in page and "In review" in page
    assert AMINA in page


def test_digest_send_from_the_cli_sends_the_draft_as_edited(site: Site) -> None:
    gaza = story_of(site, TITLES[1])
    reader = log_in(site)
    press(reader, f"/stories/{gaza}", action="remove")
    period = the_draft(site).context["period"]
    with site.factory() as session:
        now = datetime.now(UTC)
        issued = digest.send(
            period, actor=Actor.cli(), settings=site.settings, now=now, session=session
        )
        session.commit()
    assert issued.queued == 2 and issued.campaign is not None
    assert issued.campaign.status == "sending"
    with site.factory() as session:
        contents = session.scalars(select(CampaignContent.item_ids)).all()
    assert contents and all(gaza not in ids for ids in contents)
    assert [a for _, a, _ in audit_actions(site)][-1] == "digest.send"


def test_the_editor_previews_the_issue_as_a_chosen_reader(site: Site) -> None:
    reader = log_in(site)
    chad = reader.get(f"{PAGE}?profile=chad").text
    preview = chad[chad.index("Plain-text version") :]
    assert "Displacement grows in eastern Chad" in preview and "El Fasher" not in preview
    frame = reader.get(f"{PAGE}/preview.html?profile=chad").text
    assert "eastern Chad" in frame and "El Fasher" not in frame
    assert (
        "Nothing in this issue is for such a reader" in reader.get(f"{PAGE}?profile=myanmar").text
    )


def test_the_editor_previews_the_issue_in_a_readers_language(site: Site) -> None:
    reader = log_in(site)
    page = reader.get(f"{PAGE}?profile=chad&lang=ar").text
    assert '<option value="ar" lang="ar" selected>' in page
    assert "lang=ar" in page  # the frame shows the same language
    preview = page[page.index("Plain-text version") :]
    assert "موجز R2P الأسبوعي" in preview and "eastern Chad" in preview
    frame = reader.get(f"{PAGE}/preview.html?profile=chad&lang=ar").text
    assert 'lang="ar" dir="rtl"' in frame and "eastern Chad" in frame
    french = reader.get(f"{PAGE}/preview.html?lang=fr").text
    assert "Synthèse hebdomadaire R2P" in french and 'lang="fr"' in french
    # An unknown language previews in English.
    other = reader.get(f"{PAGE}/preview.html?lang=xx").text
    assert "R2P weekly digest" in other and 'lang="en"' in other
