"""An editor's "relevant / not relevant" on an item: audited, followed by the next digest
and by the issue under review, and undone only by handing the item back to the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mailer.digest import iso_period, plan_digest
from mailer.digest_draft import latest_draft, prepare, preview_issue
from mailer.errors import ItemError
from mailer.models import AuditEntry, Item
from staff.actions import items
from staff.actions.actor import Actor
from tests.conftest import Db
from tests.support.factories import AMINA, add_admins, add_item, add_readers, add_source

EDITOR = Actor.web(AMINA, "127.0.0.1")
KEPT = "Killings reported in El Fasher"
WRONG = "Genocide film wins festival prize"
MISSED = "Militias burn villages near Tawila"


@pytest.fixture(autouse=True)
def editor_account(db: Db) -> None:
    """The admin EDITOR acts as: every item action checks the actor's role."""
    add_admins(db, AMINA)


def seed(db: Db) -> dict[str, int]:
    add_readers(db, ["everything@example.org"])
    source = add_source(db)
    now = datetime.now(UTC)
    ids = {
        KEPT: add_item(db, source, KEPT, published_at=now - timedelta(hours=3)),
        WRONG: add_item(db, source, WRONG, published_at=now - timedelta(hours=4)),
        MISSED: add_item(
            db,
            source,
            MISSED,
            published_at=now - timedelta(hours=5),
            tags={"crimes": [], "countries": ["sudan"], "r2p": False},
            relevant=False,
        ),
    }
    return ids


def mark(db: Db, item_id: int, verdict: bool | None) -> items.Marked:
    with db.session() as session:
        marked = items.mark(
            item_id,
            verdict,
            actor=EDITOR,
            settings=db.settings(),
            now=datetime.now(UTC),
            session=session,
        )
        session.commit()
        return marked


def next_digest(db: Db) -> list[int]:
    with db.session() as session:
        return plan_digest(now=datetime.now(UTC), session=session).item_ids


def test_the_next_digest_follows_an_editors_verdict_and_the_audit_log_says_it(db: Db) -> None:
    ids = seed(db)
    assert set(next_digest(db)) == {ids[KEPT], ids[WRONG]}
    marked = mark(db, ids[WRONG], False)
    assert marked.draft is None and not marked.item.relevant
    mark(db, ids[MISSED], True)
    assert set(next_digest(db)) == {ids[KEPT], ids[MISSED]}
    mark(db, ids[WRONG], None)  # back to the rules: relevant again
    mark(db, ids[MISSED], None)
    assert set(next_digest(db)) == {ids[KEPT], ids[WRONG]}
    with db.session() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(e.action, e.target, e.detail["verdict"], e.detail["rules"]) for e in entries] == [
            ("item.relevance", str(ids[WRONG]), "not relevant", "relevant"),
            ("item.relevance", str(ids[MISSED]), "relevant", "not relevant"),
            ("item.relevance", str(ids[WRONG]), "as the rules say", "relevant"),
            ("item.relevance", str(ids[MISSED]), "as the rules say", "not relevant"),
        ]
        assert {e.detail["via"] for e in entries} == {"web"} and entries[0].actor == AMINA
        wrong = session.get_one(Item, ids[WRONG])
        assert (wrong.relevance_override, wrong.rules_relevant, wrong.override_by) == (
            None,
            None,
            None,
        )


def test_the_issue_under_review_follows_an_editors_verdict(db: Db) -> None:
    ids = seed(db)
    settings = db.settings()
    with db.session() as session:
        now = datetime.now(UTC)
        period = iso_period(now + timedelta(days=7))
        prepare(settings=settings, period=period, now=now, by="test", session=session)
        session.commit()

    def preview() -> str:
        with db.session() as session:
            draft = latest_draft(session=session)
            assert draft is not None
            rendered = preview_issue(draft, [], settings=settings, session=session)
            assert rendered is not None
            return rendered.text

    assert KEPT in preview() and WRONG in preview() and MISSED not in preview()
    marked = mark(db, ids[WRONG], False)
    assert marked.draft is not None
    mark(db, ids[MISSED], True)
    text = preview()
    assert KEPT in text and MISSED in text and WRONG not in text
    with db.session() as session:
        draft = latest_draft(session=session)
        assert draft is not None and ids[MISSED] in draft.context["item_ids"]
        assert MISSED in draft.subject or KEPT in draft.subject
        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert audit is not None and audit.detail["issue"] == draft.key


def test_an_item_that_is_not_there_is_refused(db: Db) -> None:
    with pytest.raises(ItemError, match="no item 999"):
        mark(db, 999, True)
