"""Screenshots of the console's feed and item pages at phone (375 px) and desktop (1280 px)
widths: the dashboard's failing-feeds warning, the feed list, one feed after "Poll now",
and the items browser with a corrected item.

    .venv/bin/python scripts/feeds_screenshots.py [--out screenshots]

Serves the real app on a throw-away SQLite database with the project's fixture feeds on a
loopback feed server (R2P_ALLOW_PRIVATE_FEEDS on) and one feed failing as a dead host
would, and photographs each page with Debian's Chromium (never a downloaded browser).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.poll import poll_sources  # noqa: E402
from mailer.admins import add_admin  # noqa: E402
from mailer.config import Settings  # noqa: E402
from mailer.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from mailer.feeds.registry import SourceSpec, add_source  # noqa: E402
from mailer.feeds.store import record_failure  # noqa: E402
from mailer.migrate import upgrade_to_head  # noqa: E402
from service.app import create_app  # noqa: E402
from tests.support.browser import chromium, chromium_missing, serve  # noqa: E402
from tests.support.feedserver import FeedServer  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

WIDTHS = {"phone": 375, "desktop": 1280}
ADMIN, PASSWORD = "amina@r2p.example", "screenshots only, not a real password"
FEEDS = (
    ("globalr2p", "globalr2p/feed.xml", True, "global-centre"),
    ("un-press", "un-press/rss.xml", False, "un-press"),
    ("un-news", "un-news/all.xml", False, "un-news"),
)
DEAD = "https://news.un.invalid/feed/subscribe/en/news/region/africa/rss.xml"


def seed(settings: Settings, server: FeedServer) -> None:
    engine = make_engine(settings.database, create=True)
    upgrade_to_head(engine)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        add_admin(ADMIN, PASSWORD, session=session)
        for key, name, always, section in FEEDS:
            url = server.serve_this_weeks(f"/{key}", name)
            spec = SourceSpec(key, url, always_relevant=always, section=section)
            add_source(spec, allow_private=True, session=session)
        add_source(
            SourceSpec("local-reliefweb", server.url("/reliefweb"), title="ReliefWeb (local)"),
            allow_private=True,
            session=session,
        )
    asyncio.run(poll_sources(settings, factory))
    with session_scope(factory) as session:
        # Added after the poll, its failures recorded as a dead host's: nothing is looked up.
        spec = SourceSpec("un-news-africa", DEAD, title="UN News: Africa", section="un-news")
        dead = add_source(spec, allow_private=True, session=session)
        for hours in (30, 20, 10, 2):
            record_failure(
                dead,
                at=datetime.now(UTC) - timedelta(hours=hours),
                reason="cannot connect: [Errno -2] Name or service not known",
            )
    engine.dispose()
    server.serve_file("/reliefweb", "reliefweb/updates.xml")


def log_in(page: Page) -> None:
    page.goto("/admin/login")
    page.get_by_label("Email address").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()


def save(page: Page, target: Path, written: list[Path]) -> None:
    page.screenshot(path=str(target), full_page=True)
    written.append(target)


def shoot(browser: Browser, base: str, out: Path) -> list[Path]:
    written: list[Path] = []
    for device, width in WIDTHS.items():
        context = browser.new_context(base_url=base, viewport={"width": width, "height": 900})
        page = context.new_page()
        log_in(page)
        save(page, out / f"dashboard-{device}-{width}px.png", written)
        page.goto("/admin/feeds")
        save(page, out / f"feeds-{device}-{width}px.png", written)
        page.goto("/admin/feeds/local-reliefweb")
        page.get_by_role("button", name="Poll now").click()
        page.locator(".poll-result").wait_for()
        save(page, out / f"feed-polled-{device}-{width}px.png", written)
        page.goto("/admin/feeds/un-news-africa")
        save(page, out / f"feed-failing-{device}-{width}px.png", written)
        page.goto("/admin/items?source=un-news")
        if device == "phone":  # an editor corrects two verdicts; the desktop shows them
            gaza = page.locator("li.item", has_text="Gaza and West Bank")
            gaza.locator("button[value=not-relevant]").click()
            page.get_by_text("Marked not relevant").wait_for()
            congo = page.locator("li.item", has_text="DR Congo")
            congo.locator("button[value=relevant]").click()
            page.get_by_text("Marked relevant").wait_for()
        save(page, out / f"items-{device}-{width}px.png", written)
        context.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    missing = chromium_missing()
    if missing:
        print(f"cannot take screenshots: {missing}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    server = FeedServer().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:

            def settings_for(url: str) -> Settings:
                return Settings(  # type: ignore[call-arg]
                    _env_file=None,
                    var_dir=Path(tmp),
                    allow_private_feeds=True,
                    secret_key="shots",
                    base_url=url,
                )

            seed(settings_for("http://127.0.0.1"), server)
            with serve(lambda url: create_app(settings_for(url))) as app, chromium() as browser:
                written = shoot(browser, app.url, args.out)
    finally:
        server.stop()
    print("wrote " + ", ".join(p.name for p in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
