"""``r2p-mailer items ...`` and ``feeds edit``: the same staff actions and audit entries
as the console's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from mailer.models import AuditEntry, Item, Source
from tests.conftest import Db
from tests.support.factories import add_item, add_source
from tests.support.running import invoke

FILM = "Genocide film wins a festival prize"


def seed(db: Db) -> int:
    source = add_source(db, "un-news", title="UN News")
    add_item(
        db,
        source,
        "Killings reported in El Fasher",
        tags={
            "crimes": ["genocide"],
            "countries": ["sudan"],
            "r2p": False,
            "matched": {"genocide": "genocidal", "sudan": "Darfur"},
        },
    )
    return add_item(
        db,
        source,
        FILM,
        published_at=datetime.now(UTC) - timedelta(days=3),
        tags={"crimes": ["genocide"], "matched": {"genocide": "Genocide"}},
    )


def test_items_list_says_why_and_filters(cli_env: Db) -> None:
    seed(cli_env)
    code, output = invoke("items", "list", "--format", "json")
    assert code == 0, output
    rows = json.loads(output)
    assert [r["title"] for r in rows] == ["Killings reported in El Fasher", FILM]
    assert rows[0]["why"] == "Genocide: genocidal; Sudan: Darfur"
    assert rows[0]["decided_by"] == "rules"
    code, output = invoke("items", "list", "--search", "film", "--format", "json")
    assert [r["title"] for r in json.loads(output)] == [FILM]
    code, output = invoke("items", "list", "--tag", "sudan", "--format", "tsv")
    assert code == 0 and "El Fasher" in output and FILM not in output
    since = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    code, output = invoke("items", "list", "--since", since, "--format", "tsv")
    assert "El Fasher" in output and FILM not in output


def test_items_mark_corrects_relevance_and_is_audited(cli_env: Db) -> None:
    film = seed(cli_env)
    code, output = invoke("items", "mark", str(film), "not-relevant")
    assert code == 0 and f"Item {film} ({FILM}) is now not relevant." in output
    code, output = invoke("items", "list", "--no-relevant", "--format", "json")
    [row] = json.loads(output)
    assert row["title"] == FILM and row["decided_by"].startswith("cli:")
    assert invoke("items", "mark", str(film), "rules")[0] == 0
    code, output = invoke("items", "mark", "424242", "relevant")
    assert code == 1 and "no item 424242" in output
    code, output = invoke("items", "mark", str(film), "maybe")
    assert code == 2
    with cli_env.session() as session:
        assert session.get_one(Item, film).relevant
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(e.action, e.detail["verdict"], e.detail["via"]) for e in entries] == [
            ("item.relevance", "not relevant", "cli"),
            ("item.relevance", "as the rules say", "cli"),
        ]


def test_feeds_edit_checks_the_new_address_and_is_audited(cli_env: Db) -> None:
    add_source(cli_env, "un-news", url="https://news.un.org/feed/rss.xml")
    code, output = invoke("feeds", "edit", "un-news", "--url", "ftp://news.un.org/rss")
    assert code == 1 and "only http:// and https:// feeds are fetched" in output
    code, output = invoke(
        "feeds",
        "edit",
        "un-news",
        "--title",
        "UN News",
        "--section",
        "un-news",
        "--always-relevant",
    )
    assert code == 0, output
    assert "title = UN News" in output and "always_relevant = True" in output
    code, output = invoke("feeds", "edit", "un-news", "--title", "UN News")
    assert code == 0 and "nothing to change" in output
    code, output = invoke("feeds", "edit", "un-news", "--language", "not a language")
    assert code == 1 and "is not a language code" in output
    with cli_env.session() as session:
        source = session.scalars(select(Source)).one()
        assert (source.title, source.section, source.always_relevant) == (
            "UN News",
            "un-news",
            True,
        )
        [entry] = session.scalars(select(AuditEntry)).all()
        assert (entry.action, entry.target, entry.detail["title"]) == (
            "feed.edit",
            "un-news",
            "UN News",
        )
