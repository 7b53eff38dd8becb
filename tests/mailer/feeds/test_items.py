"""Staff's view of items: pages in the database's order with or without a tag, the reasons
behind each tag (also for items tagged before terms were kept), and overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailer.feeds.items import ItemFilter, find_items, override, reasons, rules_verdict
from mailer.models import Item
from tests.conftest import Db
from tests.support.factories import add_item, add_source

NOW = datetime.now(UTC)


def test_pages_come_newest_first_with_and_without_a_tag(db: Db) -> None:
    source = add_source(db)
    for n in range(7):
        tags = {"crimes": ["genocide"] if n % 2 else [], "countries": [], "r2p": False}
        add_item(db, source, f"Story {n}", published_at=NOW - timedelta(hours=n), tags=tags)
    with db.session() as session:
        first = find_items(ItemFilter(), session=session, page_size=3)
        assert (first.total, first.pages) == (7, 3)
        assert [r.title for r in first.rows] == ["Story 0", "Story 1", "Story 2"]
        last = find_items(ItemFilter(), page=99, session=session, page_size=3)
        assert (last.page, [r.title for r in last.rows]) == (3, ["Story 6"])
        tagged = find_items(ItemFilter(tag="genocide"), page=2, session=session, page_size=2)
        assert (tagged.total, tagged.pages, [r.title for r in tagged.rows]) == (
            3,
            2,
            ["Story 5"],
        )


def test_reasons_name_each_tag_and_the_term_behind_it() -> None:
    tags = {
        "crimes": ["genocide"],
        "r2p": True,
        "countries": ["sudan"],
        "risks": ["mass-killings"],
        "matched": {
            "genocide": "genocidal",
            "r2p": "RtoP",
            "mass-killings": "massacre",
            "sudan": "Darfur",
        },
    }
    assert [(r.tag, r.kind, r.label, r.term) for r in reasons(tags)] == [
        ("genocide", "crime", "Genocide", "genocidal"),
        ("r2p", "r2p", "Responsibility to Protect (R2P)", "RtoP"),
        ("mass-killings", "risk", "Mass killings", "massacre"),
        ("sudan", "country", "Sudan", "Darfur"),
    ]
    older = {"crimes": ["war-crimes"], "r2p": True, "countries": ["myanmar"]}
    assert [(r.tag, r.term) for r in reasons(older)] == [
        ("war-crimes", ""),
        ("myanmar", ""),
        ("r2p", ""),
    ]


def test_an_override_keeps_the_rules_verdict_until_it_is_lifted() -> None:
    item = Item(relevant=True)
    override(item, False, by="amina@r2p.example", at=NOW)
    override(item, True, by="bruno@r2p.example", at=NOW)
    assert (item.relevant, item.relevance_override, item.rules_relevant) == (True, True, True)
    assert item.override_by == "bruno@r2p.example" and rules_verdict(item)
    override(item, False, by="amina@r2p.example", at=NOW)
    override(item, None, by="amina@r2p.example", at=NOW)
    assert (item.relevant, item.relevance_override, item.rules_relevant, item.override_at) == (
        True,
        None,
        None,
        None,
    )
