"""The editor's edits of an issue: stored as JSON and read back the same, each change
kept to its story, and the note as Markdown without HTML, sanitised as feed content."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mailer.digest_review import Edits, ReviewState, note_html, store
from tests.conftest import make_settings


def test_edits_survive_the_json_column() -> None:
    edits = (
        Edits(state=ReviewState.IN_REVIEW.value)
        .removing(7, removed=True)
        .leading(3)
        .moving(3, 9, [9, 3, 12])
        .rewording(12, title="  A better\ntitle ", summary="Short.")
        .noting("Hello\r\n**there**")
    )
    context = store({"period": "2026-W50"}, edits)
    assert context["period"] == "2026-W50"
    assert Edits.of(context) == edits
    assert edits.order == (3, 9, 12)
    assert edits.titles == {12: "A better title"}
    assert edits.note == "Hello\n**there**"


def test_removing_the_lead_story_leaves_no_lead_and_restoring_keeps_others_out() -> None:
    edits = Edits().leading(5).removing(5, removed=True).removing(6, removed=True)
    assert edits.lead is None and edits.removed == {5, 6}
    assert edits.removing(5, removed=False).removed == {6}


def test_a_blank_title_or_summary_gives_the_story_its_own_back() -> None:
    edits = Edits().rewording(4, title="New", summary="Also new")
    cleared = edits.rewording(4, title=" ", summary="")
    assert cleared.titles == {} and cleared.summaries == {}


def test_stories_never_moved_rank_after_the_moved_ones() -> None:
    edits = Edits(order=(8, 2))
    assert [edits.rank(s) for s in (2, 8, 99)] == [1, 0, 2]


def test_the_note_is_markdown_with_html_off_and_sanitised() -> None:
    html = note_html(
        "See [the report](https://example.org/r) and *this*.\n\n"
        "<script>alert(1)</script> <b>bold</b> [bad](javascript:alert(1))"
    )
    assert (
        '<a href="https://example.org/r" rel="noopener noreferrer nofollow">the report</a>' in html
    )
    assert "<em>this</em>" in html
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert note_html("   ") == ""


def test_the_prepare_time_is_less_than_a_week_before_the_slot(tmp_path: Path) -> None:
    assert make_settings(tmp_path).digest_prepare_at.days == 2
    assert make_settings(tmp_path).digest_review is True
    with pytest.raises(ValidationError):
        make_settings(tmp_path, digest_prepare_at="7d")
