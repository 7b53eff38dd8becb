"""items: UN News items stored under a /feed/view/ redirect URL (feeds whose guid is
itself the redirect) take their story page URL, as new items do

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 21:05:00
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same rewrite as mailer.feeds.normalise.un_news_story_url, frozen for this migration.
_FEED_VIEW = re.compile(
    r"^https?://news\.un\.org/feed/view/([a-z]{2})/story/(\d{4})/(\d{2})/(\d+)/?(?:\?.*)?$"
)


def upgrade() -> None:
    items = sa.table("items", sa.column("id", sa.Integer), sa.column("url", sa.String))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(items.c.id, items.c.url).where(items.c.url.like("%news.un.org/feed/view/%"))
    ).all()
    for item_id, url in rows:
        if match := _FEED_VIEW.match(url):
            language, year, month, story = match.groups()
            connection.execute(
                items.update()
                .where(items.c.id == item_id)
                .values(url=f"https://news.un.org/{language}/story/{year}/{month}/{story}")
            )


def downgrade() -> None:
    """The redirect URLs are not kept; the story URLs stay (both lead to the story)."""
