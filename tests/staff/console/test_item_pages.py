"""/admin/items: finding items by words, source, dates, tag and verdict, the terms behind
each tag, and an editor's relevance corrections (CSRF-checked, audited, followed by the
next digest's preview)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.conftest import Db
from tests.support.browser import Reader, Site
from tests.support.console import audit_actions
from tests.support.factories import AMINA, add_item, add_source

PAGE = "/admin/items"
NOW = datetime.now(UTC)


def seed(db: Db) -> dict[str, int]:
    news = add_source(db, "un-news", title="UN News")
    press = add_source(db, "un-press", title="UN press releases")
    return {
        "fasher": add_item(
            db,
            news,
            "Killings reported in El Fasher",
            published_at=NOW - timedelta(days=1),
            tags={
                "crimes": ["genocide"],
                "countries": ["sudan"],
                "r2p": False,
                "risks": ["mass-killings"],
                "matched": {
                    "genocide": "genocidal",
                    "mass-killings": "killings",
                    "sudan": "Darfur",
                },
            },
        ),
        "film": add_item(
            db,
            press,
            "Film <b>about</b> genocide wins a prize",
            published_at=NOW - timedelta(days=3),
            tags={
                "crimes": ["genocide"],
                "countries": [],
                "r2p": False,
                "matched": {"genocide": "genocide"},
            },
        ),
        "toilets": add_item(
            db,
            news,
            "World Toilet Day",
            published_at=NOW - timedelta(days=20),
            tags={"crimes": [], "countries": [], "r2p": False, "matched": {}},
            relevant=False,
            relevance=0,
        ),
    }


def found(reader: Reader, query: str = "") -> str:
    response = reader.get(f"{PAGE}?{query}")
    assert response.status_code == 200, response.text
    return response.text


def test_items_are_found_by_words_source_dates_tag_and_verdict(db: Db, reader: Reader) -> None:
    seed(db)
    everything = found(reader)
    assert "3 items" in everything
    assert "Film &lt;b&gt;about&lt;/b&gt; genocide" in everything  # feed text is escaped
    # which terms made each item relevant, as the item wrote them
    assert re.search(r"Crime</span> Genocide <q>genocidal</q>", everything)
    assert re.search(r"Risk factor</span> Mass killings <q>killings</q>", everything)
    assert re.search(r"Country</span> Sudan <q>Darfur</q>", everything)
    assert "No term of the relevance rules in it." in everything
    assert "3 items" not in found(reader, "q=fasher") and "1 item found" in found(
        reader, "q=fasher"
    )
    assert "1 item found" in found(reader, "source=un-press")
    assert "1 item found" in found(reader, "tag=sudan")
    assert "2 items found" in found(reader, "tag=genocide")
    assert "1 item found" in found(reader, "verdict=not-relevant")
    since = (NOW - timedelta(days=2)).date().isoformat()
    assert "1 item found" in found(reader, f"since={since}")
    until = (NOW - timedelta(days=10)).date().isoformat()
    assert "1 item found" in found(reader, f"until={until}")
    # what is not on offer is ignored, not an error
    assert "3 items" in found(reader, "source=nope&tag=nope&verdict=nope&since=soon&page=x")


def test_an_editor_corrects_relevance_and_the_digest_preview_follows(
    site: Site, db: Db, reader: Reader
) -> None:
    ids = seed(db)
    assert "Film" in reader.get("/admin/digest/preview.html").text
    back = "q=genocide&tag=genocide"
    response = reader.post(
        f"{PAGE}/{ids['film']}/mark", {"verdict": "not-relevant", "back": back}, token_from=PAGE
    )
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"{PAGE}?q=genocide&tag=genocide&done=not-relevant#item-{ids['film']}"
    )
    shown = reader.get(response.headers["location"]).text
    assert "Marked not relevant: the next digest leaves it out." in shown
    assert f"marked by {AMINA}" in shown and "the rules say relevant" in shown
    assert "Film" not in reader.get("/admin/digest/preview.html").text
    assert "Killings reported in El Fasher" in reader.get("/admin/digest/preview.html").text
    assert "1 item found" in found(reader, "verdict=overridden")

    reader.post(f"{PAGE}/{ids['film']}/mark", {"verdict": "rules"}, token_from=PAGE)
    assert "Film" in reader.get("/admin/digest/preview.html").text
    assert [(a, t) for _, a, t in audit_actions(site) if a.startswith("item.")] == [
        ("item.relevance", str(ids["film"])),
        ("item.relevance", str(ids["film"])),
    ]


def test_a_stale_form_a_forged_verdict_or_a_missing_item_changes_nothing(
    site: Site, db: Db, reader: Reader
) -> None:
    ids = seed(db)
    stale = reader.post(f"{PAGE}/{ids['film']}/mark", {"verdict": "relevant", "csrf_token": "x"})
    assert stale.status_code == 400
    forged = reader.post(f"{PAGE}/{ids['film']}/mark", {"verdict": "maybe"}, token_from=PAGE)
    assert forged.status_code == 400
    missing = reader.post(f"{PAGE}/99999/mark", {"verdict": "relevant"}, token_from=PAGE)
    assert missing.status_code == 404
    assert [a for _, a, _ in audit_actions(site) if a != "login"] == []
    # the list goes back only to a list, whatever ``back`` says
    response = reader.post(
        f"{PAGE}/{ids['film']}/mark",
        {"verdict": "relevant", "back": "https://evil.example/?q=x&next=//evil"},
        token_from=PAGE,
    )
    assert response.headers["location"].startswith(f"{PAGE}?")
    assert "evil" not in response.headers["location"]
